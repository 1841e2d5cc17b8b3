# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""IMPALA: actors, a trajectory queue and a learner (paper Figure 1).

    python experiment.py                          # atari/pong, this machine
    python experiment.py --level_name=catch       # a minute-long smoke run
    python experiment.py --mode=test --logdir=... # evaluate the checkpoint

Actors run the agent's policy in their environments (child processes) and
enqueue trajectories of `unroll_length` steps; they never compute gradients.
The learner dequeues `batch_size` trajectories, prefetches the next batch
with a StagingArea, unrolls the network over the batch, corrects for the lag
between the actors' policies and its own with V-trace (section 4) and
updates with RMSProp. On one machine the actors are threads of this process,
each stepping `envs_per_actor` environments with batched inference; with
`--job_name`, learner and actors are separate processes linked by
TensorFlow's gRPC runtime (distributed.py).
"""

import collections
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading

# oneDNN kernels make the learner about 3x faster on CPUs where TensorFlow
# leaves them off (benchmarks/network_benchmark.py); before TF is imported.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf
from tensorflow.python.ops import data_flow_ops

import dmlab30
import environments
import levels as levels_lib
import networks
import progress as progress_lib
import py_process
import report
import vtrace

nest = tf.nest

# ---------------------------------------------------------------------------
# Flags. `None` means: the default of the level's domain (DOMAIN_DEFAULTS).

FLAGS = flags.FLAGS

flags.DEFINE_string('logdir', '/tmp/impala/agent',
                    'Checkpoints, TensorBoard summaries, progress.csv and '
                    'test_results.json go here.')
flags.DEFINE_enum('mode', 'train', ['train', 'test'], 'Training or test.')
flags.DEFINE_integer('test_num_episodes', 10,
                     'Episodes per level in test mode.')

# Distributed (see distributed.py); -1 runs everything in this process.
flags.DEFINE_integer('task', -1, 'Task id. -1: single machine.')
flags.DEFINE_enum('job_name', 'learner', ['learner', 'actor'],
                  'Job name; ignored when task is -1.')
flags.DEFINE_string('learner_address', 'localhost:8000',
                    'host:port of the learner, the same for every process.')
flags.DEFINE_string('actor_hosts', 'localhost',
                    'Comma-separated host or host:port of each actor task '
                    '(one entry for all, or one per actor), the same for '
                    'every process. Without a port, actor N listens on '
                    '--actor_base_port + N.')
flags.DEFINE_integer('actor_base_port', 8001,
                     'Port of actor 0; actor N uses this + N.')

# Training.
flags.DEFINE_integer('total_environment_frames', None,
                     'Environment frames to train for (all levels together).')
flags.DEFINE_integer('num_actors', None, 'Number of actors.')
flags.DEFINE_integer('envs_per_actor', None,
                     'Environments each actor steps with batched inference.')
flags.DEFINE_integer('batch_size', None, 'Trajectories per learner batch.')
flags.DEFINE_integer('unroll_length', None, 'Agent steps per trajectory.')
flags.DEFINE_integer('num_action_repeats', None, 'Frames per agent step.')
flags.DEFINE_integer('seed', 1, 'Random seed.')

# Agent.
flags.DEFINE_enum('network', None, ['shallow', 'deep'], 'Torso (Figure 3).')
flags.DEFINE_enum('core', None, ['lstm', 'feedforward'], 'Core.')

# Loss settings.
flags.DEFINE_float('entropy_cost', None, 'Entropy cost/multiplier.')
flags.DEFINE_float('baseline_cost', .5, 'Baseline cost/multiplier.')
flags.DEFINE_float('discounting', .99, 'Discounting factor.')
flags.DEFINE_enum('reward_clipping', None, ['abs_one', 'soft_asymmetric'],
                  'Reward clipping.')
flags.DEFINE_float('gradient_clipping', None,
                   'Clip the global gradient norm to this; 0 for none.')

# Environment settings.
flags.DEFINE_string('dataset_path', '',
                    'Path to the DMLab-30 psychlab data set, when needed.')
flags.DEFINE_string('level_name', 'atari/pong',
                    'catch, atari/<game>, atari57, dmlab30 or a DMLab level.')
flags.DEFINE_integer('width', 96, 'DMLab frame width.')
flags.DEFINE_integer('height', 72, 'DMLab frame height.')
flags.DEFINE_bool('sticky_actions', False,
                  'Atari: repeat the last action with probability 0.25.')
flags.DEFINE_integer('noop_max', 30, 'Atari: up to this many no-ops at the '
                     'start of each game.')

# Optimizer settings.
flags.DEFINE_float('learning_rate', None, 'Learning rate.')
flags.DEFINE_float('decay', .99, 'RMSProp optimizer decay.')
flags.DEFINE_float('momentum', 0., 'RMSProp momentum.')
flags.DEFINE_float('epsilon', None, 'RMSProp epsilon.')

# Progress and checkpoints.
flags.DEFINE_float('log_interval_secs', 5., 'Seconds between progress rows.')
flags.DEFINE_integer('save_checkpoint_secs', 600,
                     'Seconds between checkpoints (one is written at exit).')

# Defaults per domain: Atari from paper Table G.1, DeepMind Lab from Table D.3
# and the release's flags, DMLab-30 from the release's README command.
DOMAIN_DEFAULTS = {
    'atari': dict(
        total_environment_frames=int(200e6), batch_size=32, unroll_length=20,
        num_action_repeats=4, network='shallow', core='feedforward',
        entropy_cost=0.01, reward_clipping='abs_one', gradient_clipping=40.,
        learning_rate=0.0006, epsilon=0.01),
    'atari57': dict(network='deep', total_environment_frames=int(57 * 200e6)),
    'dmlab': dict(
        total_environment_frames=int(1e9), batch_size=32, unroll_length=100,
        num_action_repeats=4, network='deep', core='lstm',
        entropy_cost=0.00025, reward_clipping='abs_one', gradient_clipping=0.,
        learning_rate=0.00048, epsilon=0.1),
    'dmlab30': dict(
        total_environment_frames=int(10e9), entropy_cost=0.0033391318945337044,
        learning_rate=0.00031866995608948655,
        reward_clipping='soft_asymmetric'),
    # Tuned so that the agent learns catch in about a minute on 2 cores.
    'catch': dict(
        total_environment_frames=int(150e3), batch_size=16, unroll_length=20,
        num_action_repeats=1, network='shallow', core='feedforward',
        entropy_cost=0.01, reward_clipping='abs_one', gradient_clipping=40.,
        learning_rate=0.002, epsilon=0.01, num_actors=2, envs_per_actor=8),
}

# Actors on this machine: found by benchmarks/throughput.py --sweep (README).
# On 2 cores (Pong, batch 32) 32 environments per actor gave 3-7% more
# frames per CPU-second than 16 (larger inference batches) and the same as
# 64; 2 and 4 actors of 32 were equal, and 2 use half the memory (each
# environment process is about 9 MiB). Only 2-core machines were measured.
def _machine_actor_defaults(level_set):
  """Actors for this machine; enough environments for every level."""
  cores = os.cpu_count() or 1
  num_levels = len(level_set.levels)
  if level_set.domain == 'dmlab':
    # The paper's setting: one environment per actor (the release's README
    # runs DMLab-30 with 150 actors).
    return dict(num_actors=150 if level_set.multitask else max(cores, 4),
                envs_per_actor=1)
  num_actors = max(2, cores)
  envs_per_actor = max(32, -(-num_levels // num_actors))
  return dict(num_actors=num_actors, envs_per_actor=envs_per_actor)


Config = collections.namedtuple('Config', [
    'level_set', 'num_actions', 'total_environment_frames', 'num_actors',
    'envs_per_actor', 'batch_size', 'unroll_length', 'num_action_repeats',
    'network', 'core', 'use_instruction', 'entropy_cost', 'baseline_cost',
    'discounting', 'reward_clipping', 'gradient_clipping', 'learning_rate',
    'decay', 'momentum', 'epsilon', 'full_action_space'])


def resolve_config(level_name=None):
  """The run's settings: flags, else the domain's defaults. Checks them all.

  Raises:
    ValueError: an unknown level or an impossible value, with the flag named.
    ImportError: a DMLab level without DeepMind Lab installed.
  """
  level_set = levels_lib.resolve(level_name or FLAGS.level_name)
  domain = level_set.domain
  if domain == 'dmlab':
    environments.check_dmlab_available()
  values = dict(_machine_actor_defaults(level_set))
  values.update(DOMAIN_DEFAULTS[domain])
  if level_set.name in DOMAIN_DEFAULTS:
    values.update(DOMAIN_DEFAULTS[level_set.name])
  for name in ('total_environment_frames', 'num_actors', 'envs_per_actor',
               'batch_size', 'unroll_length', 'num_action_repeats', 'network',
               'core', 'entropy_cost', 'reward_clipping', 'gradient_clipping',
               'learning_rate', 'epsilon'):
    if FLAGS[name].value is not None:
      values[name] = FLAGS[name].value
  for name in ('baseline_cost', 'discounting', 'decay', 'momentum'):
    values[name] = FLAGS[name].value

  def check(condition, message):
    if not condition:
      raise ValueError(message)

  for name in ('total_environment_frames', 'num_actors', 'envs_per_actor',
               'batch_size', 'unroll_length', 'num_action_repeats'):
    check(values[name] >= 1, '--%s must be >= 1, got %s.' % (name,
                                                              values[name]))
  for name in ('entropy_cost', 'baseline_cost', 'learning_rate',
               'gradient_clipping', 'momentum'):
    check(values[name] >= 0, '--%s must be >= 0, got %s.' % (name,
                                                              values[name]))
  check(0 <= values['discounting'] <= 1,
        '--discounting must be in [0, 1], got %s.' % values['discounting'])
  check(0 <= values['decay'] < 1, '--decay must be in [0, 1).')
  check(values['epsilon'] > 0, '--epsilon must be > 0.')
  check(FLAGS.test_num_episodes >= 1, '--test_num_episodes must be >= 1.')
  check(FLAGS.log_interval_secs > 0, '--log_interval_secs must be > 0.')
  num_envs = values['num_actors'] * values['envs_per_actor']
  # The queue fills whatever the batch size, but a batch larger than the
  # number of environments would hold consecutive unrolls of one environment
  # (correlated, and later ones older than the learner's policy).
  check(values['batch_size'] <= num_envs,
        '--batch_size=%d exceeds --num_actors x --envs_per_actor = %d '
        'environments: every batch would repeat environments. Raise '
        '--num_actors or --envs_per_actor, or lower --batch_size.' %
        (values['batch_size'], num_envs))
  if level_set.multitask:
    check(num_envs >= len(level_set.levels),
          '%s has %d levels but --num_actors x --envs_per_actor = %d: some '
          'levels would never be played.' % (level_set.name,
                                              len(level_set.levels), num_envs))
  full_action_space = level_set.multitask and domain == 'atari'
  num_actions = max(
      environments.num_actions(*levels_lib.environment_level(level),
                               full_action_space=full_action_space)
      for level in level_set.levels)
  return Config(
      level_set=level_set, num_actions=num_actions,
      use_instruction=(domain == 'dmlab'),
      full_action_space=full_action_space, **values)


# ---------------------------------------------------------------------------
# Actor.

ActorOutput = collections.namedtuple(
    'ActorOutput', 'level_name agent_state env_outputs agent_outputs')


def create_environments(config, actor_index, is_test=False):
  """The actor's environments (not started) and their level names.

  Environment `g` of all actors plays `levels[g % len(levels)]`, so levels
  are assigned round-robin as in the release.
  """
  level_names, processes = [], []
  for j in range(config.envs_per_actor):
    g = actor_index * config.envs_per_actor + j
    level = config.level_set.levels[g % len(config.level_set.levels)]
    if is_test:
      level = levels_lib.evaluation_level(level)
    domain, env_level = levels_lib.environment_level(level)
    kwargs = {}
    if domain == 'atari':
      kwargs = dict(num_action_repeats=config.num_action_repeats,
                    full_action_space=config.full_action_space,
                    sticky_actions=FLAGS.sticky_actions,
                    noop_max=FLAGS.noop_max)
    elif domain == 'dmlab':
      kwargs = dict(num_action_repeats=config.num_action_repeats,
                    width=FLAGS.width, height=FLAGS.height,
                    dataset_path=FLAGS.dataset_path or None)
    seed = FLAGS.seed * 100003 + g + (50000 if is_test else 0)
    processes.append(environments.create_environment(
        domain, env_level, seed=seed, is_test=is_test, **kwargs))
    level_names.append(level)
  return level_names, processes


def build_actor(agent, env, level_names, unroll_length):
  """One actor: unrolls the agent in its environments for `unroll_length`.

  Args:
    agent: networks.Agent.
    env: environments.FlowEnvironment over a PyProcessBatch of K envs.
    level_names: the K level names.
    unroll_length: T.

  Returns:
    ActorOutput with K trajectories, batch-major: level_name [K], agent_state
    [K, ...] (the state before the first step), env_outputs and
    agent_outputs [K, T + 1, ...], the first step being the last one of the
    previous unroll (as in the release).
  """
  num_envs = len(level_names)
  initial_env_state, initial_env_output = env.initial()
  initial_agent_state = agent.initial_state(num_envs)
  initial_action = tf.zeros([num_envs], dtype=tf.int32)
  dummy_agent_output, _ = agent((initial_action, initial_env_output),
                                initial_agent_state)
  initial_agent_output = nest.map_structure(
      lambda t: tf.zeros(t.shape, t.dtype), dummy_agent_output)

  # What persists across unrolls: the last environment output, agent state
  # and agent output. Local variables: they are never checkpointed.
  def create_state(t):
    return tf.compat.v1.get_local_variable(
        'state_%d' % create_state.count.__next__(), initializer=t,
        use_resource=True)
  create_state.count = iter(range(1 << 30))

  with tf.compat.v1.variable_scope(None, default_name='actor_state'):
    persistent_state = nest.map_structure(
        create_state, (initial_env_state, initial_env_output,
                       initial_agent_state, initial_agent_output))

  def step(input_, unused_i):
    env_state, env_output, agent_state, agent_output = input_
    agent_output, agent_state = agent((agent_output.action, env_output),
                                      agent_state)
    env_state, env_output = env.step(agent_output.action, env_state)
    return env_state, env_output, agent_state, agent_output

  first_values = nest.map_structure(lambda v: v.read_value(),
                                    persistent_state)
  _, first_env_output, first_agent_state, first_agent_output = first_values
  output = tf.scan(step, tf.range(unroll_length), first_values,
                   parallel_iterations=1)
  _, env_outputs, _, agent_outputs = output

  assign_ops = nest.map_structure(lambda v, t: v.assign(t[-1]),
                                  persistent_state, output)
  with tf.control_dependencies(nest.flatten(assign_ops)):
    def batch_major(first, rest):
      full = tf.concat([tf.expand_dims(first, 0), rest], 0)
      return tf.transpose(full, [1, 0] + list(range(2, full.shape.ndims)))

    return ActorOutput(
        level_name=tf.constant(level_names),
        agent_state=nest.map_structure(tf.identity, first_agent_state),
        env_outputs=nest.map_structure(batch_major, first_env_output,
                                       env_outputs),
        agent_outputs=nest.map_structure(batch_major, first_agent_output,
                                         agent_outputs))


# ---------------------------------------------------------------------------
# Learner.

LearnerOutputs = collections.namedtuple(
    'LearnerOutputs', 'level_name infos done num_env_frames stats')


def clip_rewards(rewards, reward_clipping):
  if reward_clipping == 'abs_one':
    return tf.clip_by_value(rewards, -1., 1.)
  if reward_clipping == 'soft_asymmetric':
    return dmlab30.soft_asymmetric_clip(rewards)
  raise ValueError('Unknown reward_clipping %r' % reward_clipping)


def compute_baseline_loss(advantages):
  """0.5 * sum (vs - V)^2 over time and batch (paper section 4.2)."""
  return .5 * tf.reduce_sum(tf.square(advantages))


def compute_entropy_loss(logits):
  """Minus the policy's entropy, summed over time and batch."""
  policy = tf.nn.softmax(logits)
  log_policy = tf.nn.log_softmax(logits)
  return tf.reduce_sum(policy * log_policy)


def compute_policy_gradient_loss(logits, actions, advantages):
  """-sum log pi(a_s|x_s) * pg_advantages over time and batch (section 4.2)."""
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=actions, logits=logits)
  return tf.reduce_sum(cross_entropy * tf.stop_gradient(advantages))


def compute_loss(learner_outputs, agent_outputs, env_outputs, bootstrap_value,
                 config):
  """The three losses of section 4.2 on aligned [T, B] inputs.

  Args:
    learner_outputs: AgentOutput of the learner's policy at x_0..x_{T-1}.
    agent_outputs: AgentOutput of the actors: the actions a_s taken at x_s
      and the behaviour logits they were sampled from.
    env_outputs: StepOutput after each action: rewards r_s, done.
    bootstrap_value: [B], the learner's V(x_T).
    config: Config.

  Returns:
    (total_loss, dict of the parts).
  """
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
  entropy_loss = config.entropy_cost * compute_entropy_loss(
      learner_outputs.policy_logits)
  total_loss = pg_loss + baseline_loss + entropy_loss
  return total_loss, dict(policy_gradient_loss=pg_loss,
                          baseline_loss=baseline_loss,
                          entropy_loss=entropy_loss, total_loss=total_loss)


def learner_loss(learner_outputs, agent_outputs, env_outputs, config):
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
                                   env_outputs, bootstrap_value, config)
  return total_loss, stats, env_outputs


def apply_gradients(gradients, variables, num_frames, config):
  """Clips the gradients' global norm and applies RMSProp with the learning
  rate annealed linearly to 0 over the frame budget.

  Returns:
    (the frame counter incremented by `num_frames` after the update, stats).
  """
  num_env_frames = tf.compat.v1.train.get_or_create_global_step()
  learning_rate = tf.compat.v1.train.polynomial_decay(
      config.learning_rate, num_env_frames, config.total_environment_frames,
      0.)
  optimizer = tf.compat.v1.train.RMSPropOptimizer(
      learning_rate, config.decay, config.momentum, config.epsilon)
  gradient_norm = tf.linalg.global_norm(gradients)
  if config.gradient_clipping > 0:
    gradients, _ = tf.clip_by_global_norm(gradients, config.gradient_clipping,
                                          use_norm=gradient_norm)
  train_op = optimizer.apply_gradients(zip(gradients, variables))
  with tf.control_dependencies([train_op]):
    num_env_frames_and_train = num_env_frames.assign_add(
        tf.cast(num_frames, tf.int64))
  return num_env_frames_and_train, dict(learning_rate=learning_rate,
                                        gradient_norm=gradient_norm)


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
  total_loss, stats, env_outputs = learner_loss(
      learner_outputs, data.agent_outputs, data.env_outputs, config)
  variables = agent.trainable_variables
  gradients = tf.gradients(total_loss, variables)
  num_env_frames_and_train, update_stats = apply_gradients(
      gradients, variables,
      tf.size(env_outputs.done) * config.num_action_repeats, config)
  stats.update(update_stats)
  return LearnerOutputs(data.level_name, env_outputs.info, env_outputs.done,
                        num_env_frames_and_train, stats)


def make_time_major(actor_output):
  def transpose(t):
    return tf.transpose(t, [1, 0] + list(range(2, t.shape.ndims)))
  return actor_output._replace(
      env_outputs=nest.map_structure(transpose, actor_output.env_outputs),
      agent_outputs=nest.map_structure(transpose, actor_output.agent_outputs))


def make_agent(config):
  return networks.Agent(config.num_actions, torso=config.network,
                        core=config.core,
                        use_instruction=config.use_instruction)


def build_actors(agent, config, num_actors, first_actor=0, is_test=False):
  """Builds the actors' graphs: their ActorOutputs and level names."""
  outputs, level_names = [], []
  for i in range(first_actor, first_actor + num_actors):
    with tf.name_scope('actor_%d' % i):
      names, processes = create_environments(config, i, is_test)
      env = environments.FlowEnvironment(py_process.PyProcessBatch(processes))
      outputs.append(build_actor(agent, env, names, config.unroll_length))
      level_names.append(names)
  return outputs, level_names


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
# Training and test.


def check_logdir(logdir):
  """Creates `logdir` and checks that it can be written, before any process."""
  try:
    os.makedirs(logdir, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=logdir):
      pass
  except OSError as e:
    raise ValueError('--logdir=%s cannot be written: %s' % (logdir, e))


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


def train(config, logdir):
  """Single-machine training: actor threads, the queue and the learner."""
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(FLAGS.seed)
    agent = make_agent(config)
    actor_outputs, _ = build_actors(agent, config, config.num_actors)
    queue = make_queue(actor_outputs[0])
    enqueue_ops = [queue.enqueue_many(nest.flatten(output))
                   for output in actor_outputs]
    tf.compat.v1.train.add_queue_runner(
        tf.compat.v1.train.QueueRunner(queue, enqueue_ops))
    structure = nest.map_structure(lambda t: None, actor_outputs[0])
    stage_op, outputs = build_learner_from_queue(agent, queue, structure,
                                                 config)
    run_learner(config, logdir, stage_op, outputs,
                hooks=[py_process.PyProcessHook()],
                session_config=session_config(config.num_actors))


def run_learner(config, logdir, stage_op, outputs, hooks, session_config,
                master=''):
  """The learner's loop: train until the frame budget, report progress."""
  num_env_frames = tf.compat.v1.train.get_or_create_global_step()
  with stop_on_signals() as stop, \
      tf.compat.v1.train.MonitoredTrainingSession(
          master=master, is_chief=True, checkpoint_dir=logdir,
          save_checkpoint_secs=FLAGS.save_checkpoint_secs,
          save_summaries_steps=None, save_summaries_secs=None,
          log_step_count_steps=None, hooks=hooks,
          config=session_config) as session:
    frames = int(session.run(num_env_frames))
    logging.info('Training %s from frame %d to %d on %d actors x %d envs.',
                 config.level_set.name, frames,
                 config.total_environment_frames, config.num_actors,
                 config.envs_per_actor)
    progress = progress_lib.Progress(logdir, config, frames,
                                     FLAGS.log_interval_secs)
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


def test(config, logdir):
  """Evaluates the latest checkpoint; writes <logdir>/test_results.json."""
  checkpoint = tf.train.latest_checkpoint(logdir)
  if checkpoint is None:
    raise ValueError('--mode=test: no checkpoint in --logdir=%s.' % logdir)
  level_set = config.level_set
  # One single-environment actor per level, so that each level's episodes
  # are consecutive games of one environment (no bias to short episodes).
  config = config._replace(envs_per_actor=1, unroll_length=100)
  test_levels = [levels_lib.evaluation_level(l) for l in level_set.levels]
  with tf.Graph().as_default():
    agent = make_agent(config)
    actor_outputs, level_names = build_actors(agent, config,
                                              len(level_set.levels),
                                              is_test=True)
    num_env_frames = tf.compat.v1.train.get_or_create_global_step()
    saver = tf.compat.v1.train.Saver(
        agent.variables + (num_env_frames,))
    returns = {level: [] for level in test_levels}
    lock = threading.Lock()
    with tf.compat.v1.train.MonitoredSession(
        session_creator=tf.compat.v1.train.ChiefSessionCreator(
            scaffold=tf.compat.v1.train.Scaffold(saver=saver),
            checkpoint_filename_with_path=checkpoint,
            config=session_config(len(actor_outputs))),
        hooks=[py_process.PyProcessHook()]) as session:
      frames = int(session.run(num_env_frames))
      logging.info('Testing the checkpoint at frame %d: %d episodes on %d '
                   'levels.', frames, FLAGS.test_num_episodes,
                   len(test_levels))

      def run_level(actor_output, level):
        raw = session._tf_sess()  # pylint: disable=protected-access
        while len(returns[level]) < FLAGS.test_num_episodes:
          output = raw.run(actor_output)
          info = output.env_outputs.info
          for t in np.nonzero(info.game_over[0, 1:])[0]:
            with lock:
              if len(returns[level]) < FLAGS.test_num_episodes:
                returns[level].append(
                    float(info.episode_return[0, t + 1]))
                logging.info('%s: episode %d return %.1f', level,
                             len(returns[level]),
                             info.episode_return[0, t + 1])

      threads = [threading.Thread(target=run_level, args=(o, names[0]))
                 for o, names in zip(actor_outputs, level_names)]
      for thread in threads:
        thread.start()
      for thread in threads:
        thread.join()

  results = report.make_test_results(
      level_set.name, level_set.domain,
      dict(network=config.network, core=config.core,
           multitask=level_set.multitask),
      frames, returns)
  path = os.path.join(logdir, 'test_results.json')
  write_atomically(path, json.dumps(results, indent=2) + '\n')
  print_test_table(results)
  logging.info('Wrote %s', path)
  return results


def write_atomically(path, text):
  directory = os.path.dirname(path) or '.'
  with tempfile.NamedTemporaryFile('w', dir=directory, delete=False) as f:
    f.write(text)
  os.replace(f.name, path)


def print_test_table(results):
  lines = ['%-45s %8s %10s %10s' % ('level', 'episodes', 'mean', 'HNS %')]
  for level, entry in results['levels'].items():
    hns = entry.get('human_normalized_score')
    lines.append('%-45s %8d %10s %10s' % (
        level, len(entry['episode_returns']),
        '-' if entry['mean'] is None else '%.2f' % entry['mean'],
        '-' if hns is None else '%.1f' % hns))
  if results.get('suite'):
    suite = results['suite']
    lines.append('%s: %s over %d levels' % (
        suite['metric'], 'n/a' if suite['value'] is None else
        '%.1f' % suite['value'], suite['num_levels']))
  print('\n'.join(lines))


def main(argv):
  del argv
  try:
    config = resolve_config()
    check_logdir(FLAGS.logdir)
  except (ValueError, ImportError) as e:
    sys.exit('experiment.py: error: %s' % e)
  if FLAGS.task >= 0:
    # distributed.py imports this module by name: let it find this one
    # rather than import the script a second time (flags defined twice).
    sys.modules.setdefault('experiment', sys.modules[__name__])
    import distributed  # pylint: disable=g-import-not-at-top
    distributed.run(config, FLAGS.logdir)
  elif FLAGS.mode == 'train':
    train(config, FLAGS.logdir)
  else:
    test(config, FLAGS.logdir)


if __name__ == '__main__':
  app.run(main)
