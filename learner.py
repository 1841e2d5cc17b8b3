# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The learner (paper Figure 1, right): queue, StagingArea, V-trace, RMSProp.

The learner dequeues `batch_size` trajectories from the actors' queue,
stages the next batch while it computes on this one (StagingArea, section
3.1), unrolls the agent over the batch, corrects for the policy lag with
V-trace (section 4, vtrace.py), computes the three losses of section 4.2
summed over time and batch, and applies RMSProp with the learning rate
annealed linearly to 0 over the frame budget. `--off_policy_correction`
swaps V-trace for another correction of Table 2 (compute_loss), and
`--replay_proportion` completes each batch from a replay buffer before it is
staged (replay.py, build_learner_from_queue). `learner_loss` and
`apply_gradients` are the one update path shared by experiment.py,
distributed.py and the throughput benchmark; they also return diagnostics of
the update (gradient norms and clipping, the policy's entropy, values) that
progress.py reports. The learning rate, entropy cost, RMSProp epsilon and
clipping threshold are variables (`Hyperparameters`), which population-based
training reassigns while the learner runs (pbt.py, population.py).
"""

import collections
import contextlib
import os
import signal
import threading
import time

from absl import logging
import tensorflow as tf
from tensorflow.python.ops import data_flow_ops

import bottleneck
import checkpoints
import dmlab30
import progress as progress_lib
import replay
import vtrace

nest = tf.nest

LearnerOutputs = collections.namedtuple(
    'LearnerOutputs', 'level_name infos done num_env_frames stats')

# The learner host's CPU: the variables, the queue and the frame counter
# (under a distributed learner's job scope: that task's CPU).
HOST_DEVICE = '/cpu:0'

# The hyperparameters that population-based training changes during a run
# (paper Appendix F): floats, or scalar variables that a running learner
# reassigns without restarting its environments (population.MemberHook).
Hyperparameters = collections.namedtuple(
    'Hyperparameters', 'learning_rate entropy_cost epsilon gradient_clipping')


def constant_hyperparameters(config):
  return Hyperparameters(*(getattr(config, name)
                           for name in Hyperparameters._fields))


def hyperparameter_variables(config):
  """The hyperparameters as float32 local variables (not checkpointed),
  initialised from `config`. Called again in the same graph, it returns the
  same variables."""
  with tf.compat.v1.variable_scope('hyperparameters',
                                   reuse=tf.compat.v1.AUTO_REUSE):
    return Hyperparameters(*(
        tf.compat.v1.get_local_variable(
            name, initializer=tf.constant(float(value), tf.float32),
            use_resource=True)
        for name, value in constant_hyperparameters(config)._asdict().items()))


def clip_rewards(rewards, reward_clipping):
  if reward_clipping == 'abs_one':
    return tf.clip_by_value(rewards, -1., 1.)
  if reward_clipping == 'soft_asymmetric':
    return dmlab30.soft_asymmetric_clip(rewards)
  raise ValueError('Unknown reward_clipping %r' % reward_clipping)


def compute_baseline_loss(advantages):
  """0.5 * sum (vs - V)^2 over time and batch (paper section 4.2)."""
  return .5 * tf.reduce_sum(tf.square(advantages))


def policy_entropy(logits):
  """[T, B] entropy of the policy at each step, in nats."""
  return -tf.reduce_sum(tf.nn.softmax(logits) * tf.nn.log_softmax(logits), -1)


def compute_entropy_loss(logits):
  """Minus the policy's entropy, summed over time and batch."""
  return -tf.reduce_sum(policy_entropy(logits))


def compute_policy_gradient_loss(action_log_probs, advantages):
  """-sum log pi(a_s|x_s) * pg_advantages over time and batch (section 4.2).

  `action_log_probs` are the correction's `target_action_log_probs` (for the
  epsilon-correction log(pi(a_s|x_s) + epsilon)).
  """
  return -tf.reduce_sum(action_log_probs * tf.stop_gradient(advantages))


def compute_loss(learner_outputs, agent_outputs, env_outputs, bootstrap_value,
                 config, hyperparameters=None):
  """The three losses of section 4.2 on aligned [T, B] inputs.

  The targets come from `config.off_policy_correction` (vtrace.py): V-trace,
  or one of the other corrections of Table 2.

  Args:
    learner_outputs: AgentOutput of the learner's policy at x_0..x_{T-1}.
    agent_outputs: AgentOutput of the actors: the actions a_s taken at x_s
      and the behaviour logits they were sampled from.
    env_outputs: StepOutput after each action: rewards r_s, done.
    bootstrap_value: [B], the learner's V(x_T).
    config: Config.
    hyperparameters: Hyperparameters (floats or variables); None: config's.

  Returns:
    (total_loss, dict of the parts).
  """
  hyperparameters = hyperparameters or constant_hyperparameters(config)
  rewards = clip_rewards(env_outputs.reward, config.reward_clipping)
  discounts = tf.cast(~env_outputs.done, tf.float32) * config.discounting
  correction = vtrace.OFF_POLICY_CORRECTIONS[config.off_policy_correction]
  vtrace_returns = correction(
      behaviour_policy_logits=agent_outputs.policy_logits,
      target_policy_logits=learner_outputs.policy_logits,
      actions=agent_outputs.action,
      discounts=discounts,
      rewards=rewards,
      values=learner_outputs.baseline,
      bootstrap_value=bootstrap_value)
  pg_loss = compute_policy_gradient_loss(
      vtrace_returns.target_action_log_probs, vtrace_returns.pg_advantages)
  baseline_loss = config.baseline_cost * compute_baseline_loss(
      vtrace_returns.vs - learner_outputs.baseline)
  entropy_loss = hyperparameters.entropy_cost * compute_entropy_loss(
      learner_outputs.policy_logits)
  total_loss = pg_loss + baseline_loss + entropy_loss
  return total_loss, dict(policy_gradient_loss=pg_loss,
                          baseline_loss=baseline_loss,
                          entropy_loss=entropy_loss, total_loss=total_loss)


def learner_loss(learner_outputs, agent_outputs, env_outputs, config,
                 hyperparameters=None):
  """Aligns the learner's unroll over T+1 steps with the actors' and computes
  the loss.

  Outputs at t lead to environment outputs at t + 1 (as in the release); the
  learner's baseline at the last step bootstraps the return.

  Returns:
    (total_loss, stats, env_outputs[1:]).
  """
  bootstrap_value = learner_outputs.baseline[-1]
  # None leaves (fields a caller leaves out) stay None.
  agent_outputs = nest.map_structure(lambda t: t if t is None else t[1:],
                                     agent_outputs)
  env_outputs = nest.map_structure(lambda t: t if t is None else t[1:],
                                   env_outputs)
  learner_outputs = nest.map_structure(lambda t: t[:-1], learner_outputs)
  total_loss, stats = compute_loss(learner_outputs, agent_outputs,
                                   env_outputs, bootstrap_value, config,
                                   hyperparameters)
  stats.update(compute_diagnostics(learner_outputs, stats))
  return total_loss, stats, env_outputs


def distance_from_uniform(logits):
  """[T, B] total variation distance between the policy and the uniform one.

  0.5 * sum_a |pi(a) - 1/|A||: the probability mass the policy has moved
  away from uniform, from 0 (uniform) to 1 - 1/|A| (deterministic).
  """
  policy = tf.nn.softmax(logits)
  num_actions = tf.cast(tf.shape(logits)[-1], policy.dtype)
  return .5 * tf.reduce_sum(tf.abs(policy - 1. / num_actions), -1)


def compute_diagnostics(learner_outputs, losses):
  """What one update does, cheaply: each loss's gradient and the policy.

  The gradient of each loss term (section 4.2) is taken with respect to the
  network's outputs (logits [T, B, A], baseline [T, B]), not the weights: one
  softmax-sized backward pass each. Their norms compare the terms' pull on
  one step; a small term that always pulls one way (entropy, towards
  uniform) can still outweigh a large noisy one over many steps.

  Args:
    learner_outputs: AgentOutput of the learner at x_0..x_{T-1}, [T, B, ...].
    losses: the parts from `compute_loss`.

  Returns:
    dict of scalars: the three gradient norms, the mean entropy per step (in
    nats and relative to ln |A|), the mean distance from the uniform policy
    and the mean value estimate V(x_s).
  """
  logits, baseline = learner_outputs.policy_logits, learner_outputs.baseline

  def gradient_norm(loss, output):
    return tf.norm(tf.gradients(loss, output)[0])

  entropy = tf.reduce_mean(policy_entropy(logits))
  max_entropy = tf.math.log(tf.cast(tf.shape(logits)[-1], entropy.dtype))
  return dict(
      pg_logits_gradient_norm=gradient_norm(losses['policy_gradient_loss'],
                                            logits),
      baseline_gradient_norm=gradient_norm(losses['baseline_loss'], baseline),
      entropy_logits_gradient_norm=gradient_norm(losses['entropy_loss'],
                                                 logits),
      policy_entropy=entropy,
      policy_entropy_ratio=entropy / tf.maximum(max_entropy, 1e-8),
      policy_distance_from_uniform=tf.reduce_mean(
          distance_from_uniform(logits)),
      mean_value=tf.reduce_mean(baseline))


def make_optimizer(config, hyperparameters=None):
  """RMSProp with the learning rate annealed linearly to 0 over the frame
  budget: (optimizer, learning_rate).

  The annealing factor is (1 - frames / total_environment_frames) of this
  learner's own frame counter, times the current base learning rate (a
  variable under population-based training). A3C's workers share one, and so
  its slots (a3c.py).
  """
  hyperparameters = hyperparameters or constant_hyperparameters(config)
  num_env_frames = tf.compat.v1.train.get_or_create_global_step()
  learning_rate = tf.compat.v1.train.polynomial_decay(
      hyperparameters.learning_rate, num_env_frames,
      config.total_environment_frames, 0.)
  return tf.compat.v1.train.RMSPropOptimizer(
      learning_rate, config.decay, config.momentum,
      hyperparameters.epsilon), learning_rate


def apply_gradients(gradients, variables, num_frames, config,
                    hyperparameters=None, optimizer=None):
  """Clips the gradients' global norm and applies RMSProp (make_optimizer's,
  or `optimizer`, a pair from it).

  Returns:
    (the frame counter incremented by `num_frames` after the update, stats).
  """
  hyperparameters = hyperparameters or constant_hyperparameters(config)
  num_env_frames = tf.compat.v1.train.get_or_create_global_step()
  optimizer, learning_rate = optimizer or make_optimizer(config,
                                                         hyperparameters)
  gradient_norm = tf.linalg.global_norm(gradients)
  stats = dict(learning_rate=learning_rate, gradient_norm=gradient_norm)
  if config.gradient_clipping > 0:
    gradients, _ = tf.clip_by_global_norm(
        gradients, hyperparameters.gradient_clipping, use_norm=gradient_norm)
    # Averaged over steps: the fraction of steps clipped, and by how much.
    stats['gradient_clip_ratio'] = (gradient_norm /
                                    hyperparameters.gradient_clipping)
    stats['gradient_clipped'] = tf.cast(
        gradient_norm > hyperparameters.gradient_clipping, tf.float32)
  train_op = optimizer.apply_gradients(zip(gradients, variables))
  with tf.control_dependencies([train_op]):
    num_env_frames_and_train = num_env_frames.assign_add(
        tf.cast(num_frames, tf.int64))
  return num_env_frames_and_train, stats


def learner_devices(config):
  """The devices of the `num_learners` replicas: the first K GPUs, or K
  logical CPU devices (session_config creates them)."""
  return ['/%s:%d' % (config.learner_device, i)
          for i in range(config.num_learners)]


def describe_devices(config):
  """Where the learner runs, in words, for the console and TensorBoard."""
  devices = learner_devices(config)
  return '%d learner%s on %s%s; variables on %s' % (
      len(devices), 's' if len(devices) > 1 else '', ', '.join(devices),
      ' (logical devices)' if config.learner_device == 'cpu' and
      len(devices) > 1 else '', HOST_DEVICE)


def check_devices(session_devices, config):
  """Raises ValueError unless the session has every learner device (soft
  placement would silently put a missing one's work elsewhere)."""
  have = set()
  for device in session_devices:
    spec = tf.DeviceSpec.from_string(device.name)
    have.add((spec.device_type.lower(), spec.device_index))
  for device in learner_devices(config):
    spec = tf.DeviceSpec.from_string(device)
    if (spec.device_type.lower(), spec.device_index) not in have:
      raise ValueError('The learner device %s is not in the session (%s).' %
                       (device, ', '.join(d.name for d in session_devices)))


def split_batch(data, num_parts):
  """Splits a time-major ActorOutput into `num_parts` along the batch.

  Args:
    data: ActorOutput: level_name [B], agent_state [B, ...], env_outputs and
      agent_outputs [T+1, B, ...].
    num_parts: K, dividing B.

  Returns:
    K ActorOutputs of B/K trajectories each, in order.
  """
  if num_parts == 1:
    return [data]

  def parts_of(structure, axis):
    flat = [[None] * num_parts if t is None else
            tf.split(t, num_parts, axis=axis) for t in nest.flatten(structure)]
    return [nest.pack_sequence_as(structure, [f[i] for f in flat])
            for i in range(num_parts)]

  return [data._replace(level_name=l, agent_state=s, env_outputs=e,
                        agent_outputs=a)
          for l, s, e, a in zip(parts_of(data.level_name, 0),
                                parts_of(data.agent_state, 0),
                                parts_of(data.env_outputs, 1),
                                parts_of(data.agent_outputs, 1))]


def replica_gradients(agent, data, config):
  """One learner replica: unrolls the agent on its part of the batch.

  Returns:
    (gradients of its summed loss w.r.t. agent.trainable_variables, stats,
    env_outputs[1:]).
  """
  learner_outputs, _ = agent.unroll(data.agent_outputs.action,
                                    data.env_outputs, data.agent_state)
  hyperparameters = hyperparameter_variables(config)
  total_loss, stats, env_outputs = learner_loss(
      learner_outputs, data.agent_outputs, data.env_outputs, config,
      hyperparameters)
  return (tf.gradients(total_loss, agent.trainable_variables), stats,
          env_outputs)


def sum_replicas(gradients, stats):
  """Combines the replicas' gradients and stats.

  The loss is a sum over the batch (paper Appendix D), so the whole batch's
  loss is the sum of the parts' losses and its gradient the sum of their
  gradients: summed, this is exactly the one-learner update. Stats named
  `*_loss` are summed, `*_norm` (norms of per-step quantities) combined as
  the root of their summed squares; others are means over the (equal)
  parts.

  Args:
    gradients: K lists of gradients (None where a variable has none).
    stats: K dicts of scalars.

  Returns:
    (gradients, stats).
  """
  if len(gradients) == 1:
    return gradients[0], stats[0]
  summed = [None if all(g is None for g in per_variable) else
            tf.add_n([g for g in per_variable if g is not None])
            for per_variable in zip(*gradients)]
  combined = {}
  for key in stats[0]:
    values = [s[key] for s in stats]
    if key.endswith('_loss'):
      combined[key] = tf.add_n(values)
    elif key.endswith('_norm'):  # Over disjoint parts of the batch.
      combined[key] = tf.sqrt(tf.add_n([tf.square(v) for v in values]))
    else:
      combined[key] = tf.add_n(values) / len(values)
  return summed, combined


def concat_parts(level_names, env_outputs):
  """The parts' level names [B/K] and env_outputs [T, B/K] joined on B."""
  if len(level_names) == 1:
    return level_names[0], env_outputs[0]
  return tf.concat(level_names, 0), nest.map_structure(
      lambda *t: None if t[0] is None else tf.concat(t, 1), *env_outputs)


def build_replicas(agent, parts, config, replica_fn=replica_gradients):
  """Each part of the batch on its learner device; gradients summed.

  Args:
    agent: networks.Agent.
    parts: K time-major ActorOutputs, one per learner device.
    config: Config.
    replica_fn: (agent, part, config) -> (gradients, stats, env_outputs) on
      one replica's device: replica_gradients, or a variant (the benchmark's
      XLA-compiled one).

  Returns:
    (gradients summed over the replicas, stats (sum_replicas), level names
    [B] and env_outputs [T, B], the parts joined again).
  """
  devices = learner_devices(config)
  replicas = []
  for i, (device, part) in enumerate(zip(devices, parts)):
    with tf.device(device), tf.name_scope('learner_%d' % i):
      replicas.append(replica_fn(agent, part, config))
  gradients, stats, env_outputs = zip(*replicas)
  with tf.device(HOST_DEVICE):
    level_name, env_outputs = concat_parts([p.level_name for p in parts],
                                           env_outputs)
  with tf.device(devices[0]):
    gradients, stats = sum_replicas(gradients, stats)
  return gradients, stats, level_name, env_outputs


def build_learner(agent, data, config, replica_fn=replica_gradients,
                  optimizer=None, variables=None):
  """Unrolls the agent over the batch, computes V-trace and updates.

  With `num_learners` K > 1, in-graph data parallelism: each of K replicas
  unrolls and differentiates B/K trajectories on its own device, their
  gradients are summed and one RMSProp update follows (build_replicas).

  Args:
    agent: networks.Agent.
    data: ActorOutput, time-major: env_outputs and agent_outputs [T+1, B];
      or the list of its K parts from stage().
    config: Config.
    replica_fn: as in build_replicas.
    optimizer: (optimizer, learning_rate) from make_optimizer; None: a new
      one. A3C's workers share one (a3c.py).
    variables: the variables updated with the gradients of
      agent.trainable_variables; None: those. An A3C worker's gradients of
      its local copy update the shared parameters.

  Returns:
    LearnerOutputs; running `num_env_frames` trains one step. With replay
    (the batch's last trajectories replayed), frames and episodes are those
    of the fresh trajectories only: frames count once, when produced.
  """
  parts = data if isinstance(data, list) else split_batch(
      data, config.num_learners)
  with tf.device(HOST_DEVICE):  # The replicas share them.
    hyperparameters = hyperparameter_variables(config)
  with variables_on(HOST_DEVICE):  # Optimizer slots, the frame counter.
    gradients, stats, level_name, env_outputs = build_replicas(
        agent, parts, config, replica_fn)
    num_replayed = replay.num_replayed(config.batch_size,
                                       config.replay_proportion)
    if num_replayed:  # Replayed trajectories come last: not counted again.
      level_name = level_name[:-num_replayed]
      env_outputs = nest.map_structure(
          lambda t: t if t is None else t[:, :-num_replayed], env_outputs)
    with tf.device(learner_devices(config)[0]):
      num_env_frames_and_train, update_stats = apply_gradients(
          gradients, variables or agent.trainable_variables,
          tf.size(env_outputs.done) * config.num_action_repeats, config,
          hyperparameters, optimizer)
  stats.update(update_stats)
  return LearnerOutputs(level_name, env_outputs.info, env_outputs.done,
                        num_env_frames_and_train, stats)


def make_time_major(actor_output):
  def transpose(t):
    return tf.transpose(t, [1, 0] + list(range(2, t.shape.ndims)))
  return actor_output._replace(
      env_outputs=nest.map_structure(transpose, actor_output.env_outputs),
      agent_outputs=nest.map_structure(transpose, actor_output.agent_outputs))


def make_queue(actor_output, shared_name=None):
  """The trajectory queue; its elements are single trajectories."""
  flat = nest.flatten(actor_output)
  capacity = 1
  queue = tf.queue.FIFOQueue(
      capacity, [t.dtype for t in flat], [t.shape[1:] for t in flat],
      shared_name=shared_name, name='trajectory_queue')
  bottleneck.watch_queue(queue, capacity)
  return queue


def stage(data, config):
  """Splits the batch, one part per replica, and stages each on its device.

  The StagingArea prepares the next batch while the learner computes on
  this one (paper section 3.1), and copies it to the learner's device while
  it does (the host-to-device copy is hidden); it adds up to one step of
  policy lag.

  Returns:
    (stage_op, the K staged parts).
  """
  stage_ops, parts = [], []
  for device, part in zip(learner_devices(config),
                          split_batch(data, config.num_learners)):
    flat = nest.flatten(part)
    with tf.device(device):
      area = data_flow_ops.StagingArea([t.dtype for t in flat],
                                       [t.shape for t in flat])
      stage_ops.append(area.put(flat))
      parts.append(nest.pack_sequence_as(part, area.get()))
  return tf.group(stage_ops), parts


def build_learner_from_queue(agent, queue, structure, config):
  """Dequeues a batch, stages it, builds the learner. (stage_op, outputs).

  With `config.replay_proportion` > 0 the batch is completed from a replay
  buffer on the learner's CPU (replay.py) before it is staged.
  """
  num_replayed = replay.num_replayed(config.batch_size,
                                     config.replay_proportion)
  with tf.device(HOST_DEVICE):
    dequeued = nest.pack_sequence_as(
        structure, queue.dequeue_many(config.batch_size - num_replayed))
    if num_replayed:
      dequeued = replay.add_replayed(dequeued, num_replayed,
                                     config.replay_buffer_size)
    dequeued = make_time_major(dequeued)
  stage_op, parts = stage(dequeued, config)
  return stage_op, build_learner(agent, parts, config)


@contextlib.contextmanager
def variables_on(device):
  """Places every variable created inside on `device`, local ones excepted.

  The agent's variables, the optimizer's slots and the frame counter go to
  the learner host's CPU (HOST_DEVICE), as the release's distributed mode
  does: actors read the variables at every step, from host memory, and the
  learner's replicas once a step. An actor's own state (local variables,
  actor.build_actor) stays with the actor.
  """
  def creator(next_creator, **kwargs):
    if tf.compat.v1.GraphKeys.LOCAL_VARIABLES in (kwargs.get('collections')
                                                  or ()):
      return next_creator(**kwargs)
    with tf.device(device):
      return next_creator(**kwargs)

  with tf.variable_creator_scope(creator):
    yield


# ---------------------------------------------------------------------------
# The learner's loop.


def session_config(num_actors, config=None):
  """The sessions' settings; given the run's `config`, the learner's
  logical CPU devices."""
  # Actors block in their environment ops: give them threads of their own.
  proto = tf.compat.v1.ConfigProto(
      inter_op_parallelism_threads=num_actors + 4,
      intra_op_parallelism_threads=os.cpu_count() or 1,
      allow_soft_placement=True)
  if config is not None and config.learner_device == 'cpu':
    # K learners on a CPU-only machine: K logical CPU devices. A session
    # given a ConfigProto does not see tf.config's logical devices.
    proto.device_count['CPU'] = config.num_learners
  return proto


@contextlib.contextmanager
def stop_on_signals():
  """SIGTERM and SIGINT set the returned event: the loop stops cleanly."""
  stop = threading.Event()
  if threading.current_thread() is not threading.main_thread():
    yield stop
    return
  previous = {}

  def handler(signum, unused_frame):
    if stop.is_set():  # A second Ctrl-C: give up on the clean stop.
      signal.signal(signum, previous[signum])
      raise KeyboardInterrupt
    logging.info('Stopping: writing a final checkpoint (Ctrl-C again to '
                 'abort).')
    stop.set()

  for signum in (signal.SIGINT, signal.SIGTERM):
    previous[signum] = signal.signal(signum, handler)
  try:
    yield stop
  finally:
    for signum, h in previous.items():
      signal.signal(signum, h)


def run_learner(config, logdir, stage_op, outputs, hooks, session_config,
                master='', run_steps=None):
  """The learner's loop: train until the frame budget, report progress and
  where the time goes (bottleneck.py).

  `run_steps(session, progress, stop, frames) -> frames`, if given, runs the
  steps instead (A3C's workers, a3c.py); `outputs` is then its business.
  """
  num_env_frames = tf.compat.v1.train.get_or_create_global_step()
  probes = None if run_steps else bottleneck.learner_probes(
      stage_op, outputs.num_env_frames)
  checkpoints.prepare_resume(logdir)
  with checkpoints.write_failures_end_the_run(logdir), \
      stop_on_signals() as stop, \
      tf.compat.v1.train.MonitoredTrainingSession(
          master=master, is_chief=True, checkpoint_dir=logdir,
          save_checkpoint_secs=config.save_checkpoint_secs,
          save_summaries_steps=None, save_summaries_secs=None,
          log_step_count_steps=None, hooks=hooks,
          config=session_config) as session:
    frames = int(session.run(num_env_frames))
    check_devices(session._tf_sess().list_devices(), config)  # pylint: disable=protected-access
    logging.info('%s', progress_lib.describe_run(
        config, logdir, frames, describe_devices(config), master))
    progress = progress_lib.Progress(logdir, config, frames,
                                     config.log_interval_secs)
    progress.write_text('learner/devices', describe_devices(config), frames)
    try:
      if run_steps:
        frames = run_steps(session, progress, stop, frames)
      else:
        session.run(stage_op)  # Fill the StagingArea.
      while (not run_steps and frames < config.stop_frames and
             not stop.is_set()):
        start = time.time()
        learner_outputs, step_probes = session.run((outputs, probes))
        times = bottleneck.StepTimes(start, time.time(), step_probes)
        frames = int(learner_outputs.num_env_frames)
        progress.add(learner_outputs, frames, times)
      if progress.steps_since_report:  # The last steps' row.
        progress.report(frames)
    finally:
      progress.close()
  logging.info('Stopped at frame %d; checkpoint in %s.', frames, logdir)
  return progress
