# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Population-based training (paper Appendix F): the rule and the member side.

The rule (pure Python, `random.Random` for chance):
- Initial hyperparameters sampled from Table D.1: entropy cost log-uniform in
  [5e-5, 1e-2], learning rate log-uniform in [5e-6, 5e-3], RMSProp epsilon
  from {1e-1, 1e-3, 1e-5, 1e-7}; the gradient-clipping threshold (adapted on
  Atari, Table G.1) starts at the run's value.
- Exploit: a member copies the weights and hyperparameters of a randomly
  chosen other member if that one's fitness is higher by more than the
  threshold (absolute: 5 HNS percentage points on a suite; relative to the
  own |fitness| on a single level).
- Explore: copy or not, each evolving hyperparameter is multiplied with
  probability 1/3 by 1.2 or 1/1.2 (even odds).

The member side: pbt.py writes `<member logdir>/pbt_member.json`
(`make_request`: a version, the hyperparameters, and for an exploit a
checkpoint to restore). For an exploit pbt.py first asks the source member
for a snapshot of its weights as they are now (`pbt_snapshot_request.json`,
answered in `pbt_snapshot.json`), so that a copy never takes weights older
than a learner step or two. A member started with `--pbt_member` runs
`MemberHook`, which polls that file, assigns the hyperparameter variables
(learner.hyperparameter_variables) and restores the copied weights into the
live session, so its environments keep running; after a copy it writes its
own checkpoint, then answers in `<member logdir>/pbt_applied.json` (and
beside the snapshot, `restored.json`: the SHA-256 of the weights it now
holds).
"""

import collections
import hashlib
import json
import math
import os
import shutil
import time

from absl import logging
import tensorflow as tf

import files
import learner

# Table D.1.
ENTROPY_COST_RANGE = (5e-5, 1e-2)
LEARNING_RATE_RANGE = (5e-6, 5e-3)
EPSILON_CHOICES = (1e-1, 1e-3, 1e-5, 1e-7)

REQUEST_FILE = 'pbt_member.json'
APPLIED_FILE = 'pbt_applied.json'
RESTORED_FILE = 'restored.json'
# A copy's source writes its current weights where the controller asks.
SNAPSHOT_REQUEST_FILE = 'pbt_snapshot_request.json'
SNAPSHOT_FILE = 'pbt_snapshot.json'

Decision = collections.namedtuple('Decision',
                                  'exploit hyperparameters perturbed')


def log_uniform(rng, low, high):
  return math.exp(rng.uniform(math.log(low), math.log(high)))


def sample_hyperparameters(rng, names, start):
  """Table D.1 samples for `names`; the others (and gradient clipping) keep
  their value in `start` (a dict of every hyperparameter)."""
  sampled = dict(start)
  samplers = dict(
      entropy_cost=lambda: log_uniform(rng, *ENTROPY_COST_RANGE),
      learning_rate=lambda: log_uniform(rng, *LEARNING_RATE_RANGE),
      epsilon=lambda: rng.choice(EPSILON_CHOICES))
  for name in names:
    if name in samplers:
      sampled[name] = samplers[name]()
  return sampled


def should_exploit(fitness, other_fitness, threshold, relative):
  """Whether `other_fitness` beats `fitness` by more than `threshold`
  (points of fitness, or with `relative` percent of |fitness|)."""
  margin = threshold * abs(fitness) / 100. if relative else threshold
  return other_fitness - fitness > margin


def perturb(rng, hyperparameters, names, probability, factor):
  """Explore: each of `names` (in this order) times `factor` or 1/`factor`
  with `probability`. Returns (new dict, names perturbed)."""
  new = dict(hyperparameters)
  perturbed = []
  for name in names:
    if rng.random() < probability:
      new[name] *= factor if rng.random() < .5 else 1. / factor
      perturbed.append(name)
  return new, tuple(perturbed)


def evolve(rng, pbt_config, own, fitness, other, other_fitness,
           copy_weights=lambda: True):
  """Exploit then explore for one member (Appendix F).

  Args:
    rng: random.Random.
    pbt_config: config.PbtConfig.
    own, other: dicts of the hyperparameters of this and the chosen member.
    fitness, other_fitness: their fitness.
    copy_weights: called when the other is fitter; copies its weights and
      returns whether it could (it cannot before the other's first
      checkpoint: then nothing is copied).

  Returns:
    Decision(exploit, the new hyperparameters, the names perturbed).
  """
  exploit = should_exploit(fitness, other_fitness,
                           pbt_config.fitness_threshold,
                           pbt_config.relative_threshold) and copy_weights()
  new, perturbed = perturb(rng, other if exploit else own,
                           pbt_config.hyperparameters,
                           pbt_config.perturb_probability,
                           pbt_config.perturb_factor)
  return Decision(exploit, new, perturbed)


# ---------------------------------------------------------------------------
# Files between pbt.py and a member; written atomically.


def read_json(path):
  """The file's value, or None if there is none."""
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError:
    return None


def make_request(version, hyperparameters, restore_checkpoint=None):
  """What pbt.py asks of a member: hyperparameters, and maybe weights."""
  return dict(version=version, hyperparameters=hyperparameters,
              restore_checkpoint=restore_checkpoint)


def make_snapshot_request(request_id, destination):
  """What pbt.py asks of a copy's source: its weights, now, in the new
  directory `destination` (as `<destination>/model.ckpt`)."""
  return dict(id=request_id, destination=destination)


def weights_digest(named_arrays):
  """SHA-256 over the names and bytes of {name: numpy array}, sorted."""
  digest = hashlib.sha256()
  for name in sorted(named_arrays):
    digest.update(name.encode() + b'\0')
    digest.update(named_arrays[name].tobytes())
  return digest.hexdigest()


def _copied_variables():
  """What a copy restores: every checkpointed variable but the frame
  counter (the copier keeps its own frames and annealing schedule)."""
  step = tf.compat.v1.train.get_global_step()
  return [v for v in tf.compat.v1.global_variables()
          if step is None or v.op.name != step.op.name]


class MemberHook(tf.compat.v1.train.SessionRunHook):
  """SessionRunHook of a PBT member: applies pbt_member.json while training.

  A restore goes into the live session (no environment restarts); the
  checkpoint written right after it makes the copy survive a crash, and
  only then is the request answered, so that a member killed in between
  applies it again when restarted.
  """

  def __init__(self, config, logdir, poll_secs=.25):
    self._config = config
    self._logdir = logdir
    self._poll_secs = poll_secs
    self._last_poll = 0.
    # (mtime, size) of each file last read.
    self._seen = {REQUEST_FILE: None, SNAPSHOT_REQUEST_FILE: None}

  def begin(self):
    variables = learner.hyperparameter_variables(self._config)
    self._placeholders = {name: tf.compat.v1.placeholder(tf.float32, [])
                          for name in variables._fields}
    self._assign = tf.group(*[
        getattr(variables, name).assign(p)
        for name, p in self._placeholders.items()])
    self._copied = _copied_variables()
    self._restorer = tf.compat.v1.train.Saver(self._copied)
    self._global_step = tf.compat.v1.train.get_global_step()

  def after_create_session(self, session, coord):
    del coord
    self._poll(session, force=True)

  def after_run(self, run_context, run_values):
    del run_values
    self._poll(run_context.session)

  def _poll(self, session, force=False):
    now = time.time()
    if not force and now - self._last_poll < self._poll_secs:
      return
    self._last_poll = now
    request = self._read_if_changed(REQUEST_FILE, force)
    if request is not None:
      self._apply(session, request)
    snapshot = self._read_if_changed(SNAPSHOT_REQUEST_FILE, force)
    if snapshot is not None:
      self._snapshot(session, snapshot)

  def _read_if_changed(self, name, force):
    """The file's value if it changed since the last read (or `force`)."""
    path = os.path.join(self._logdir, name)
    try:
      stat = os.stat(path)
    except FileNotFoundError:
      return None
    if not force and (stat.st_mtime_ns, stat.st_size) == self._seen[name]:
      return None
    self._seen[name] = (stat.st_mtime_ns, stat.st_size)
    return read_json(path)

  def _snapshot(self, session, request):
    """Saves the weights a copy takes into request['destination'] (renamed
    into place when complete), then answers in pbt_snapshot.json."""
    answer_path = os.path.join(self._logdir, SNAPSHOT_FILE)
    answered = read_json(answer_path)
    if answered is not None and answered['id'] == request['id']:
      return
    destination = request['destination']
    temporary = destination + '.tmp'
    shutil.rmtree(temporary, ignore_errors=True)
    os.makedirs(temporary)
    prefix = self._restorer.save(
        session, os.path.join(temporary, 'model.ckpt'),
        write_meta_graph=False, write_state=False)
    shutil.rmtree(destination, ignore_errors=True)  # A crashed attempt's.
    os.replace(temporary, destination)
    frames = int(session.run(self._global_step))
    files.write_json(answer_path, dict(
        id=request['id'], frames=frames,
        checkpoint=os.path.join(destination, os.path.basename(prefix))))
    logging.info('PBT: snapshot of the weights at frame %d in %s.', frames,
                 destination)

  def _apply(self, session, request):
    """Hyperparameters always (they are not checkpointed); weights once."""
    session.run(self._assign, {self._placeholders[name]: value for name, value
                               in request['hyperparameters'].items()})
    applied_path = os.path.join(self._logdir, APPLIED_FILE)
    applied = read_json(applied_path) or dict(version=-1)
    if applied['version'] >= request['version']:
      return
    frames = int(session.run(self._global_step))
    answer = dict(version=request['version'], frames=frames)
    checkpoint = request.get('restore_checkpoint')
    if checkpoint:
      self._restorer.restore(session, checkpoint)
      values = session.run({v.op.name: v for v in self._copied})
      saver = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.SAVERS)[0]
      saver.save(session, os.path.join(self._logdir, 'model.ckpt'),
                 global_step=frames)
      answer.update(restored_checkpoint=checkpoint,
                    weights_sha256=weights_digest(values))
      # Beside the snapshot, for whoever checks the copy later.
      files.write_json(os.path.join(os.path.dirname(checkpoint), RESTORED_FILE),
                 answer)
      logging.info('PBT: copied the weights of %s at frame %d.', checkpoint,
                   frames)
    logging.info('PBT: hyperparameters %s (version %d).',
                 request['hyperparameters'], request['version'])
    files.write_json(applied_path, answer)


def member_hooks(config, logdir):
  """The learner's hooks for a run started with --pbt_member (else none)."""
  return [MemberHook(config, logdir)] if config.pbt_member else []
