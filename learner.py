# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The learner (paper Figure 1, right): queue, StagingArea, V-trace, RMSProp.

The learner dequeues `batch_size` trajectories from the actors' queue,
stages the next batch while it computes on this one (StagingArea, section
3.1), unrolls the agent over the batch, corrects for the policy lag with
V-trace (section 4, vtrace.py), computes the three losses of section 4.2
summed over time and batch, and applies RMSProp with the learning rate
annealed linearly to 0 over the frame budget. `learner_loss` and
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

from absl import logging
import tensorflow as tf
from tensorflow.python.ops import data_flow_ops

import dmlab30
import progress as progress_lib
import vtrace

nest = tf.nest

LearnerOutputs = collections.namedtuple(
    'LearnerOutputs', 'level_name infos done num_env_frames stats')

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


def compute_policy_gradient_loss(logits, actions, advantages):
  """-sum log pi(a_s|x_s) * pg_advantages over time and batch (section 4.2)."""
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=actions, logits=logits)
  return tf.reduce_sum(cross_entropy * tf.stop_gradient(advantages))


def compute_loss(learner_outputs, agent_outputs, env_outputs, bootstrap_value,
                 config, hyperparameters=None):
  """The three losses of section 4.2 on aligned [T, B] inputs.

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
  vtrace_returns = vtrace.from_logits(
      behaviour_policy_logits=agent_outputs.policy_logits,
      target_policy_logits=learner_outputs.policy_logits,
      actions=agent_outputs.action,
      discounts=discounts,
      rewards=rewards,
      values=learner_outputs.baseline,
      bootstrap_value=bootstrap_value)
  pg_loss = compute_policy_gradient_loss(
      learner_outputs.policy_logits, agent_outputs.action,
      vtrace_returns.pg_advantages)
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


def apply_gradients(gradients, variables, num_frames, config,
                    hyperparameters=None):
  """Clips the gradients' global norm and applies RMSProp with the learning
  rate annealed linearly to 0 over the frame budget.

  The annealing factor is (1 - frames / total_environment_frames) of this
  learner's own frame counter, times the current base learning rate (a
  variable under population-based training).

  Returns:
    (the frame counter incremented by `num_frames` after the update, stats).
  """
  hyperparameters = hyperparameters or constant_hyperparameters(config)
  num_env_frames = tf.compat.v1.train.get_or_create_global_step()
  learning_rate = tf.compat.v1.train.polynomial_decay(
      hyperparameters.learning_rate, num_env_frames,
      config.total_environment_frames, 0.)
  optimizer = tf.compat.v1.train.RMSPropOptimizer(
      learning_rate, config.decay, config.momentum, hyperparameters.epsilon)
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


def build_learner(agent, data, config):
  """Unrolls the agent over the batch, computes V-trace and updates.

  Args:
    agent: networks.Agent.
    data: ActorOutput, time-major: env_outputs and agent_outputs [T+1, B].
    config: Config.

  Returns:
    LearnerOutputs; running `num_env_frames` trains one step.
  """
  learner_outputs, _ = agent.unroll(data.agent_outputs.action,
                                    data.env_outputs, data.agent_state)
  hyperparameters = hyperparameter_variables(config)
  total_loss, stats, env_outputs = learner_loss(
      learner_outputs, data.agent_outputs, data.env_outputs, config,
      hyperparameters)
  variables = agent.trainable_variables
  gradients = tf.gradients(total_loss, variables)
  num_env_frames_and_train, update_stats = apply_gradients(
      gradients, variables,
      tf.size(env_outputs.done) * config.num_action_repeats, config,
      hyperparameters)
  stats.update(update_stats)
  return LearnerOutputs(data.level_name, env_outputs.info, env_outputs.done,
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
  return tf.queue.FIFOQueue(
      1, [t.dtype for t in flat], [t.shape[1:] for t in flat],
      shared_name=shared_name, name='trajectory_queue')


def build_learner_from_queue(agent, queue, structure, config):
  """Dequeues a batch, stages it, builds the learner. (stage_op, outputs)."""
  dequeued = nest.pack_sequence_as(structure,
                                   queue.dequeue_many(config.batch_size))
  dequeued = make_time_major(dequeued)
  # The StagingArea prepares the next batch while the learner computes on
  # this one (paper section 3.1); it adds up to one step of policy lag.
  flat = nest.flatten(dequeued)
  area = data_flow_ops.StagingArea([t.dtype for t in flat],
                                   [t.shape for t in flat])
  stage_op = area.put(flat)
  data = nest.pack_sequence_as(structure, area.get())
  return stage_op, build_learner(agent, data, config)


# ---------------------------------------------------------------------------
# The learner's loop.


def session_config(num_actors):
  # Actors block in their environment ops: give them threads of their own.
  return tf.compat.v1.ConfigProto(
      inter_op_parallelism_threads=num_actors + 4,
      intra_op_parallelism_threads=os.cpu_count() or 1,
      allow_soft_placement=True)


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
                master=''):
  """The learner's loop: train until the frame budget, report progress."""
  num_env_frames = tf.compat.v1.train.get_or_create_global_step()
  with stop_on_signals() as stop, \
      tf.compat.v1.train.MonitoredTrainingSession(
          master=master, is_chief=True, checkpoint_dir=logdir,
          save_checkpoint_secs=config.save_checkpoint_secs,
          save_summaries_steps=None, save_summaries_secs=None,
          log_step_count_steps=None, hooks=hooks,
          config=session_config) as session:
    frames = int(session.run(num_env_frames))
    logging.info('Training %s from frame %d to %d on %d actors x %d envs.',
                 config.level_set.name, frames,
                 config.total_environment_frames, config.num_actors,
                 config.envs_per_actor)
    progress = progress_lib.Progress(logdir, config, frames,
                                     config.log_interval_secs)
    try:
      session.run(stage_op)  # Fill the StagingArea.
      while frames < config.total_environment_frames and not stop.is_set():
        learner_outputs, _ = session.run((outputs, stage_op))
        frames = int(learner_outputs.num_env_frames)
        progress.add(learner_outputs, frames)
      progress.report(frames)
    finally:
      progress.close()
  logging.info('Stopped at frame %d; checkpoint in %s.', frames, logdir)
  return progress
