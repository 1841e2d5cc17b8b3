# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Population-based training of IMPALA agents (paper Appendix F).

    python pbt.py --level_name=catch --population_size=4 --logdir=/tmp/pbt
    python pbt.py --level_name=dmlab30 --logdir=/data/pbt   # 24 members

Each member is an ordinary `experiment.py` training run (a process of its
own, `--logdir=<logdir>/member_<k>`, the other flags passed through), so
progress.csv, TensorBoard, test mode and report.py work on a member as on
any run. This controller never holds weights: it reads the members'
progress.csv, and when a member evolves (population.evolve) it writes the
member's new hyperparameters, and for a copy a snapshot of the other
member's weights (which that member saves on request, as they are then),
into the member's logdir; the member applies them while it runs
(population.MemberHook).

Everything the controller decides goes to `<logdir>/pbt.csv` (the lineage)
and `<logdir>/pbt_state.json`; `<logdir>/pbt.png` plots each
hyperparameter and the fitness over frames per member. Ctrl-C stops every
member with a checkpoint; the same command resumes the population. A
member that dies is restarted from its checkpoint.
"""

import contextlib
import csv
import ctypes
import glob
import math
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

import console
if __name__ == '__main__':  # Before TensorFlow is imported (console.py).
  console.filter_stderr(sys.argv)
# pylint: disable=g-import-not-at-top,wrong-import-position
import config as config_lib  # Before TensorFlow: it sets its environment.
from absl import app
from absl import logging
import tensorflow as tf

import files
import population

FLAGS = config_lib.FLAGS

EXPERIMENT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 'experiment.py')
STATE_FORMAT = 'impala-tf/pbt_state/v1'
LINEAGE_FIELDS = ('event_id', 'time', 'frames', 'member', 'event', 'source',
                  'hyperparameter', 'old', 'new', 'fitness', 'source_fitness')
# Flags the controller sets per member; every other flag set on pbt.py's
# command line passes through.
MEMBER_FLAGS = ('logdir', 'seed', 'save_checkpoint_secs'
               ) + config_lib.PBT_HYPERPARAMETERS
STOP_SECS = 120.
# How long a copy waits for the source's snapshot of its weights.
SNAPSHOT_SECS = 60.
KEEP_COPIES = 2
PLOT_SECS = 60.
STATUS_SECS = 30.


class PbtError(Exception):
  """The population cannot go on (a member keeps dying, a state mismatch)."""


def passthrough_flags():
  """The experiment flags set on the command line, as --name=value."""
  return [flag.serialize()
          for flag in FLAGS.get_flags_for_module(config_lib)
          if flag.present and flag.name not in MEMBER_FLAGS and
          not flag.name.startswith('pbt_') and flag.name != 'population_size']


def member_command(flag_args, logdir, seed, hyperparameters,
                   checkpoint_secs):
  return ([sys.executable, EXPERIMENT_SCRIPT] + list(flag_args) +
          ['--logdir=' + logdir, '--seed=%d' % seed, '--pbt_member',
           '--save_checkpoint_secs=%d' % checkpoint_secs] +
          ['--%s=%r' % item for item in sorted(hyperparameters.items())])


def _die_with_parent():
  """In the child: SIGTERM (a clean stop) when pbt.py dies (Linux)."""
  ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ProgressTail:
  """The newest row of a member's progress.csv written after `offset`."""

  def __init__(self, path, from_end):
    self._path = path
    self._offset = os.path.getsize(path) if from_end and os.path.exists(
        path) else 0
    self._fields = None
    self.last = None

  def read(self):
    """Reads new complete rows; returns the newest row (a dict) or None."""
    try:
      with open(self._path, 'rb') as f:
        if self._fields is None:
          header = f.readline().decode()
          if not header.endswith('\n'):
            return self.last
          self._fields = next(csv.reader([header]))
        start = max(self._offset, f.tell())
        f.seek(start)
        data = f.read()
    except FileNotFoundError:
      return self.last
    complete = data[:data.rfind(b'\n') + 1]
    self._offset = start + len(complete)
    rows = [r for r in csv.reader(complete.decode().splitlines()) if r]
    if rows:
      self.last = dict(zip(self._fields, rows[-1]))
    return self.last


def read_rows(path):
  try:
    with open(path, newline='') as f:
      return list(csv.DictReader(f))
  except FileNotFoundError:
    return []


def row_fitness(row, multitask):
  """Fitness of a progress row: mean capped HNS of a suite, else the mean
  return (of the last 100 episodes per level); None before any episode."""
  value = row.get('mean_capped_hns' if multitask else 'mean_episode_return')
  if not value:
    return None
  value = float(value)
  return None if math.isnan(value) else value


class Member:
  """One member's process and what the controller last saw of it."""

  def __init__(self, index, logdir):
    self.index = index
    self.logdir = logdir
    self.process = None
    self.tail = None
    self.restarts = 0
    self.finished = False
    self.frames = 0
    self.episodes = 0  # Of the current process.
    self.fitness = None

  @property
  def progress_path(self):
    return os.path.join(self.logdir, 'progress.csv')

  def observe(self, multitask):
    """Reads the newest progress row; returns the new episodes."""
    row = self.tail.read() if self.tail else None
    if row is None:
      return 0
    self.frames = int(row['frames'])
    self.fitness = row_fitness(row, multitask)
    episodes = int(row['episodes'])
    new, self.episodes = max(episodes - self.episodes, 0), episodes
    return new

  def applied_version(self):
    applied = population.read_json(
        os.path.join(self.logdir, population.APPLIED_FILE))
    return -1 if applied is None else applied['version']


def snapshot_checkpoint(source_logdir, destination):
  """Copies the source's latest checkpoint files into `destination` (a new
  directory, renamed into place when complete). Returns the checkpoint
  prefix there, or None if the source has no checkpoint yet."""
  for _ in range(5):  # The source may delete an old checkpoint meanwhile.
    prefix = tf.train.latest_checkpoint(source_logdir)
    if prefix is None:
      return None
    temporary = destination + '.tmp'
    shutil.rmtree(temporary, ignore_errors=True)
    os.makedirs(temporary)
    try:
      for path in glob.glob(glob.escape(prefix) + '.*'):
        shutil.copy(path, temporary)
    except FileNotFoundError:
      continue
    shutil.rmtree(destination, ignore_errors=True)  # A crashed attempt's.
    os.replace(temporary, destination)
    return os.path.join(destination, os.path.basename(prefix))
  return None


def request_snapshot(source_logdir, destination, alive, timeout):
  """Asks a running member for its weights as they are now (population.py's
  snapshot request) and waits for them.

  Args:
    source_logdir: the member's logdir.
    destination: a new directory for the snapshot.
    alive: returns whether the member's process still runs.
    timeout: seconds to wait.

  Returns:
    The snapshot's checkpoint prefix, or None if the member did not answer.
  """
  request_id = '%s@%.6f' % (destination, time.time())
  files.write_json(
      os.path.join(source_logdir, population.SNAPSHOT_REQUEST_FILE),
      population.make_snapshot_request(request_id, destination))
  answer_path = os.path.join(source_logdir, population.SNAPSHOT_FILE)
  deadline = time.time() + timeout
  while time.time() < deadline and alive():
    answer = population.read_json(answer_path)
    if answer is not None and answer['id'] == request_id:
      return answer['checkpoint']
    time.sleep(.05)
  return None


def _copy_version(name):
  match = re.match(r'v(\d+)', name)
  return int(match.group(1)) if match else None


def remove_old_copies(copies_dir, keep):
  """Keeps the snapshots (v<version>[.latest] directories) of the `keep`
  newest versions."""
  names = [n for n in os.listdir(copies_dir)
           if _copy_version(n) is not None and not n.endswith('.tmp')]
  kept = sorted({_copy_version(n) for n in names})[-keep:]
  for name in names:
    if _copy_version(name) not in kept:
      shutil.rmtree(os.path.join(copies_dir, name), ignore_errors=True)


class Controller:
  """Starts the members, evolves them, restarts the dead, keeps the state."""

  def __init__(self, config, pbt_config, logdir, flag_args):
    self._config = config
    self._pbt = pbt_config
    self._logdir = logdir
    self._flag_args = flag_args
    self._multitask = config.level_set.multitask
    self._state_path = os.path.join(logdir, 'pbt_state.json')
    self._lineage_path = os.path.join(logdir, 'pbt.csv')
    self._members = [
        Member(k, os.path.join(logdir, 'member_%02d' % k))
        for k in range(pbt_config.population_size)]
    self._state = self._load_or_create_state()
    self._last_plot = self._last_status = 0.

  # The state and the lineage. -------------------------------------------

  def _load_or_create_state(self):
    state = population.read_json(self._state_path)
    if state is not None:
      if (state['population_size'] != self._pbt.population_size or
          state['level_name'] != self._config.level_set.name):
        raise PbtError(
            '%s holds a population of %d on %s; resume it with the same '
            '--population_size and --level_name, or use a new --logdir.' % (
                self._logdir, state['population_size'], state['level_name']))
      self._truncate_lineage(state['events'])
      return state
    start = {name: float(getattr(self._config, name))
             for name in config_lib.PBT_HYPERPARAMETERS}
    rng = random.Random(self._pbt.seed)
    self._state = state = dict(
        format=STATE_FORMAT, population_size=self._pbt.population_size,
        level_name=self._config.level_set.name, events=0, members=[])
    for member in self._members:
      hyperparameters = population.sample_hyperparameters(
          rng, self._pbt.hyperparameters, start)
      state['members'].append(dict(hyperparameters=hyperparameters,
                                   version=0, restore_checkpoint=None,
                                   episodes_since_evolution=0))
      self._record(member, 'init', [
          dict(hyperparameter=name, new=hyperparameters[name])
          for name in self._pbt.hyperparameters])
    return state

  def _truncate_lineage(self, events):
    """Drops rows of decisions that the state never recorded (a crash
    between the two writes)."""
    rows = read_rows(self._lineage_path)
    kept = [r for r in rows if int(r['event_id']) <= events]
    if len(kept) < len(rows):
      self._write_lineage(kept, 'w')

  def _write_lineage(self, rows, mode):
    new_file = mode == 'w' or not os.path.exists(self._lineage_path)
    temporary = self._lineage_path + '.tmp' if mode == 'w' else None
    with open(temporary or self._lineage_path, mode, newline='') as f:
      writer = csv.DictWriter(f, LINEAGE_FIELDS)
      if new_file:
        writer.writeheader()
      writer.writerows(rows)
      f.flush()
      os.fsync(f.fileno())
    if temporary:
      os.replace(temporary, self._lineage_path)

  def _record(self, member, event, changes, source=None, source_fitness=None):
    """One decision: lineage rows first, then the state (atomically)."""
    self._state['events'] += 1
    base = dict(event_id=self._state['events'], time='%.1f' % time.time(),
                frames=member.frames, member=member.index, event=event,
                source='' if source is None else source.index,
                fitness=_format(member.fitness),
                source_fitness=_format(source_fitness))
    self._write_lineage([dict(base, **change) for change in changes or [{}]],
                        'a')
    files.write_json(self._state_path, self._state)

  # Members. ---------------------------------------------------------------

  def _request(self, member):
    """Writes the member's entry of the state where the member reads it."""
    entry = self._state['members'][member.index]
    files.write_json(
        os.path.join(member.logdir, population.REQUEST_FILE),
        population.make_request(entry['version'], entry['hyperparameters'],
                                entry['restore_checkpoint']))

  def _start(self, member):
    os.makedirs(member.logdir, exist_ok=True)
    self._request(member)
    entry = self._state['members'][member.index]
    command = member_command(self._flag_args, member.logdir,
                             self._pbt.seed + member.index,
                             entry['hyperparameters'],
                             self._pbt.member_checkpoint_secs)
    member.tail = ProgressTail(member.progress_path, from_end=True)
    member.episodes = 0
    if not self._pbt.start_members:
      with open(os.path.join(member.logdir, 'command.txt'), 'w') as f:
        f.write(shlex.join(command) + '\n')
      logging.info('PBT: start member %d (add cluster flags as needed): %s',
                   member.index, shlex.join(command))
      return
    with open(os.path.join(member.logdir, 'member.log'), 'ab') as log:
      # Its own process group: a terminal's Ctrl-C reaches only pbt.py,
      # which stops each member once.
      member.process = subprocess.Popen(
          command, stdout=log, stderr=subprocess.STDOUT, process_group=0,
          preexec_fn=_die_with_parent)
    logging.info('PBT: member %d started (pid %d), log in %s.', member.index,
                 member.process.pid, os.path.join(member.logdir, 'member.log'))

  def _resume_status(self, member):
    """Frames and fitness from an earlier run's progress.csv."""
    rows = read_rows(member.progress_path)
    if rows:
      member.frames = int(rows[-1]['frames'])
      member.fitness = row_fitness(rows[-1], self._multitask)
    member.finished = (member.frames >=
                       self._config.stop_frames)

  def _check_exit(self, member):
    """After a member's process exited (its rows are read): it finished, or
    it is restarted from its checkpoint."""
    if not self._pbt.start_members:  # Started elsewhere.
      member.finished = (member.frames >=
                         self._config.stop_frames)
      return
    code = member.process.returncode
    member.process = None
    if member.frames >= self._config.stop_frames:
      member.finished = True
      logging.info('PBT: member %d finished at frame %d.', member.index,
                   member.frames)
      return
    if member.restarts >= self._pbt.max_restarts:
      raise PbtError('member %d exited with status %d %d times; see %s.' % (
          member.index, code, member.restarts + 1,
          os.path.join(member.logdir, 'member.log')))
    member.restarts += 1
    logging.warning('PBT: member %d exited with status %d at frame %d; '
                    'restarting it from its checkpoint.', member.index, code,
                    member.frames)
    self._record(member, 'restart', [])
    self._start(member)

  # Evolution. -------------------------------------------------------------

  def _ready(self, member):
    entry = self._state['members'][member.index]
    running = member.process is not None or not self._pbt.start_members
    return (running and member.fitness is not None and
            self._pbt.burn_in_frames <= member.frames <
            self._config.stop_frames and
            entry['episodes_since_evolution'] >= self._pbt.interval_episodes
            and member.applied_version() == entry['version'])

  def _copy_weights(self, source, destination):
    """The source's weights as they are now (a snapshot it writes on
    request) or, if it does not answer, its latest checkpoint. Returns the
    checkpoint prefix, or None if there is none yet."""
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    if self._pbt.start_members:
      alive = lambda: (source.process is not None and
                       source.process.poll() is None)
    else:  # Started elsewhere: it answers if it runs.
      alive = lambda: True
    checkpoint = request_snapshot(source.logdir, destination, alive,
                                  SNAPSHOT_SECS) if alive() else None
    if checkpoint is None:
      logging.warning('PBT: member %d wrote no snapshot; copying its latest '
                      'checkpoint.', source.index)
      # Another directory: a late snapshot must not replace this one.
      checkpoint = snapshot_checkpoint(source.logdir,
                                       destination + '.latest')
    return checkpoint

  def _evolve(self, member, rng):
    """Exploit (through a checkpoint snapshot) and explore; tells the
    member."""
    others = [m for m in self._members
              if m is not member and m.fitness is not None]
    if not others:
      return
    other = rng.choice(others)
    entry = self._state['members'][member.index]
    own = entry['hyperparameters']
    exploited = self._state['members'][other.index]['hyperparameters']
    version = entry['version'] + 1
    copies = os.path.join(member.logdir, 'pbt_copies')
    checkpoint = None

    def copy():
      nonlocal checkpoint
      checkpoint = self._copy_weights(other, os.path.join(copies,
                                                         'v%d' % version))
      return checkpoint is not None

    decision = population.evolve(rng, self._pbt, own, member.fitness,
                                 exploited, other.fitness, copy)
    start = exploited if decision.exploit else own
    changes = [dict(event='exploit', hyperparameter=name, old=own[name],
                    new=exploited[name])
               for name in self._pbt.hyperparameters if decision.exploit]
    changes += [dict(event='explore', hyperparameter=name, old=start[name],
                     new=decision.hyperparameters[name])
                for name in decision.perturbed]
    entry.update(hyperparameters=decision.hyperparameters, version=version,
                 restore_checkpoint=checkpoint, episodes_since_evolution=0)
    self._record(member, 'keep', changes, source=other,
                 source_fitness=other.fitness)
    self._request(member)
    if checkpoint:
      remove_old_copies(copies, KEEP_COPIES)
    logging.info('PBT: member %d (fitness %s) vs %d (%s): %s', member.index,
                 _format(member.fitness), other.index,
                 _format(other.fitness),
                 ', '.join('%s %s %s -> %s' % (c['event'], c['hyperparameter'],
                                               _format(c['old']),
                                               _format(c['new']))
                           for c in changes) or 'no change')

  # The loop. --------------------------------------------------------------

  def run(self, stop):
    """Runs until every member has finished or `stop` is set."""
    for member in self._members:
      self._resume_status(member)
      if not member.finished:
        self._start(member)
    try:
      while not stop.wait(self._pbt.poll_secs):
        self._step()
        if all(m.finished for m in self._members):
          logging.info('PBT: every member has finished.')
          break
    finally:
      self._stop_members()
      self.plot()

  def _step(self):
    rng = random.Random('%d/%d' % (self._pbt.seed, self._state['events']))
    for member in self._members:
      exited = member.process is not None and member.process.poll() is not None
      self._state['members'][member.index]['episodes_since_evolution'] += (
          member.observe(self._multitask))
      if exited or not self._pbt.start_members:
        self._check_exit(member)
    for member in self._members:
      if self._ready(member):
        self._evolve(member, rng)
    now = time.time()
    if now - self._last_status >= STATUS_SECS:
      self._last_status = now
      logging.info('PBT: frames/fitness %s', '  '.join(
          '%d:%d/%s' % (m.index, m.frames, _format(m.fitness))
          for m in self._members))
    if now - self._last_plot >= PLOT_SECS:
      self._last_plot = now
      self.plot()

  def _stop_members(self):
    running = [m for m in self._members if m.process is not None]
    for member in running:
      if member.process.poll() is None:
        member.process.send_signal(signal.SIGTERM)
    deadline = time.time() + STOP_SECS
    for member in running:
      try:
        member.process.wait(max(deadline - time.time(), 1.))
      except subprocess.TimeoutExpired:
        logging.warning('PBT: member %d ignored SIGTERM; killing it.',
                        member.index)
        with contextlib.suppress(ProcessLookupError, PermissionError):
          os.killpg(member.process.pid, signal.SIGKILL)
        member.process.wait()
    files.write_json(self._state_path, self._state)

  def plot(self):
    plot_population(os.path.join(self._logdir, 'pbt.png'),
                    read_rows(self._lineage_path),
                    [read_rows(m.progress_path) for m in self._members],
                    self._pbt.hyperparameters, self._multitask)


def plot_population(path, lineage, progress, hyperparameters, multitask):
  """Writes `path` (PNG) atomically: one panel per evolving hyperparameter
  (its value over frames per member, from the lineage) and one of fitness
  (from each member's progress.csv)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  names = list(hyperparameters) + ['fitness']
  figure, axes = pyplot.subplots(len(names), 1, sharex=True, squeeze=False,
                                 figsize=(8, 2.2 * len(names)))
  colors = pyplot.get_cmap('tab10' if len(progress) <= 10 else 'tab20')
  for k, rows in enumerate(progress):
    color = colors(k % 20)
    for ax, name in zip(axes[:, 0], hyperparameters):
      points = [(int(r['frames']), float(r['new'])) for r in lineage
                if r['member'] == str(k) and r['hyperparameter'] == name]
      if points:
        frames, values = zip(*points + [(max(
            [points[-1][0]] + [int(r['frames']) for r in rows[-1:]]),
                                          points[-1][1])])
        ax.step(frames, values, where='post', color=color, lw=1)
    fitness = [(int(r['frames']), row_fitness(r, multitask)) for r in rows]
    fitness = [(f, v) for f, v in fitness if v is not None]
    if fitness:
      axes[-1, 0].plot(*zip(*fitness), color=color, lw=1, label='%d' % k)
  for ax, name in zip(axes[:, 0], names):
    ax.set_ylabel(name)
    if name != 'fitness':
      ax.set_yscale('log')
  axes[-1, 0].set_xlabel('frames (per member)')
  if len(progress) <= 24 and axes[-1, 0].lines:
    axes[-1, 0].legend(fontsize=6, ncol=6, title='member', title_fontsize=6)
  figure.tight_layout()
  files.write_atomically(path, lambda f: figure.savefig(f, format='png',
                                                        dpi=80))
  pyplot.close(figure)


def _format(value):
  if value is None or value == '':
    return ''
  return '%.6g' % float(value)


def main(argv):
  if len(argv) > 1:
    sys.exit('pbt.py: unexpected arguments %s' % argv[1:])
  console.quiet_tensorflow_logger(FLAGS.verbosity)
  try:
    config = config_lib.resolve_config()
    config_lib.check_impala_only(config, 'pbt.py')
    pbt_config = config_lib.resolve_pbt_config(config)
    config_lib.check_logdir(FLAGS.logdir)
    # Absolute: members and their copies' paths do not depend on a cwd.
    controller = Controller(config, pbt_config, os.path.abspath(FLAGS.logdir),
                            passthrough_flags())
  except (ValueError, ImportError, PbtError) as e:
    sys.exit('pbt.py: error: %s' % e)
  stop = threading.Event()

  def handler(signum, unused_frame):
    logging.info('PBT: stopping every member (%s).',
                 signal.Signals(signum).name)
    stop.set()

  for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, handler)
  try:
    controller.run(stop)
  except PbtError as e:
    sys.exit('pbt.py: error: %s' % e)


if __name__ == '__main__':
  app.run(main, flags_parser=console.parse_flags)
