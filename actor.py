# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Actors (paper Figure 1, left): the policy unrolled in the environments.

An actor steps `envs_per_actor` environments (child processes of
`envs_per_process` environments each) with one batched inference per step,
inside one `tf.scan` per unroll, and outputs `unroll_length` steps of each
as an `ActorOutput`; it never computes
gradients. Its persistent state (last environment output, agent state and
agent output) lives in local variables, so that consecutive unrolls join up
and checkpoints never hold it; so do the seconds it has spent in inference
and in its environments (bottleneck.ActorTimes).
"""

import collections
import contextlib
import math

import tensorflow as tf

import bottleneck
import environments
import levels as levels_lib
import networks
import py_process

nest = tf.nest

ActorOutput = collections.namedtuple(
    'ActorOutput', 'level_name agent_state env_outputs agent_outputs')


def assigned_levels(config, actor_index):
  """The levels of the actor's `envs_per_actor` environments.

  Environment `g` of all actors plays `levels[g % len(levels)]`: levels are
  assigned round-robin as in the release, so each level of a suite gets the
  same number of environments when their count is a multiple of the suite's
  size (which config.resolve_config checks).
  """
  levels = config.level_set.levels
  first = actor_index * config.envs_per_actor
  return [levels[g % len(levels)]
          for g in range(first, first + config.envs_per_actor)]


def environment_specs(config, actor_index, is_test=False):
  """The level names of the actor's environments and their
  `environments.environment_spec`s (class, constructor arguments).

  With `config.null_environment`, Atari games are `environments.PyProcessNull`
  stand-ins of the same shapes (level names unchanged).
  """
  level_names, specs = [], []
  for j, level in enumerate(assigned_levels(config, actor_index)):
    g = actor_index * config.envs_per_actor + j
    if is_test:
      level = levels_lib.evaluation_level(level)
    domain, env_level = levels_lib.environment_level(level)
    kwargs = {}
    if domain == 'atari' and config.null_environment:
      domain, kwargs = 'null', dict(num_actions=config.num_actions)
    elif domain == 'atari':
      kwargs = dict(num_action_repeats=config.num_action_repeats,
                    full_action_space=config.full_action_space,
                    sticky_actions=config.sticky_actions,
                    noop_max=config.noop_max,
                    max_episode_frames=config.max_episode_frames)
    elif domain == 'dmlab':
      kwargs = dict(num_action_repeats=config.num_action_repeats,
                    width=config.width, height=config.height,
                    dataset_path=config.dataset_path)
    seed = config.seed * 100003 + g + (50000 if is_test else 0)
    specs.append(environments.environment_spec(
        domain, env_level, seed=seed, is_test=is_test, **kwargs))
    level_names.append(level)
  return level_names, specs


def group_size(config):
  """Environments per child process: `config.envs_per_process`, which
  config.resolve_config checks divides `envs_per_actor`, or less in a
  configuration derived with fewer environments per actor (test mode, A3C's
  workers): their greatest common divisor."""
  return math.gcd(config.envs_per_process, config.envs_per_actor)


def create_environments(config, actor_index, is_test=False):
  """The actor's level names and its environments' processes (not started).

  One process per environment, or with `config.envs_per_process` k > 1 one
  `environments.EnvironmentGroup` process per k consecutive environments
  (the same environments and seeds: the grouping changes only the cost).
  """
  level_names, specs = environment_specs(config, actor_index, is_test)
  k = group_size(config)
  if k == 1:
    return level_names, [py_process.PyProcess(type_, **kwargs)
                         for type_, kwargs in specs]
  return level_names, [environments.create_environment_group(specs[j:j + k])
                       for j in range(0, len(specs), k)]


def create_flow_environment(config, actor_index, is_test=False):
  """(The actor's level names, its environments as one
  `environments.FlowEnvironment` of batch `envs_per_actor`.)"""
  level_names, processes = create_environments(config, actor_index, is_test)
  k = group_size(config)
  return level_names, environments.FlowEnvironment(
      py_process.PyProcessBatch(processes), group_size=k if k > 1 else None)


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
    previous unroll (as in the release). Computing it also adds the unroll's
    inference and environment seconds to the actor's ActorTimes (in the
    graph's bottleneck.ACTOR_TIMES collection).
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
    # The step's inference and environment seconds ride along (bottleneck.py).
    (env_state, env_output, agent_state, agent_output), _ = input_
    start = bottleneck.timestamp_after([env_output, agent_output.action])
    agent_output, agent_state = agent((agent_output.action, env_output),
                                      agent_state)
    inferred = bottleneck.timestamp_after(agent_output)
    env_state, env_output = env.step(agent_output.action, env_state)
    stepped = bottleneck.timestamp_after(env_output)
    return ((env_state, env_output, agent_state, agent_output),
            (inferred - start, stepped - inferred))

  first_values = nest.map_structure(lambda v: v.read_value(),
                                    persistent_state)
  _, first_env_output, first_agent_state, first_agent_output = first_values
  no_time = tf.constant(0., tf.float64)
  output, (inference_secs, environment_secs) = tf.scan(
      step, tf.range(unroll_length), (first_values, (no_time, no_time)),
      parallel_iterations=1)
  _, env_outputs, _, agent_outputs = output

  assign_ops = nest.map_structure(lambda v, t: v.assign(t[-1]),
                                  persistent_state, output)
  add_times = bottleneck.add_actor_times(bottleneck.create_actor_times(),
                                         inference_secs, environment_secs)
  with tf.control_dependencies(nest.flatten(assign_ops) + [add_times]):
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


@contextlib.contextmanager
def local_variables():
  """Variables created inside are local: not saved, each actor's or
  worker's own (a distributed actor's policy copy, A3C's workers)."""
  keys = tf.compat.v1.GraphKeys

  def creator(next_creator, **kwargs):
    variable = next_creator(**kwargs)
    global_variables = tf.compat.v1.get_collection_ref(keys.GLOBAL_VARIABLES)
    if variable in global_variables:  # Sonnet's tf.Variable: global.
      global_variables.remove(variable)
      tf.compat.v1.add_to_collection(keys.LOCAL_VARIABLES, variable)
    return variable

  with tf.variable_creator_scope(creator):
    yield


def copy_policy(policy, agent):
  """The op that sets an actor's local `policy` to the learner's `agent`.

  Paper section 3: "At the beginning of each trajectory, an actor updates
  its own local policy mu to the latest learner policy pi and runs it for n
  steps in its environment." A distributed actor runs it before each unroll:
  one read of the weights from the learner per unroll instead of one per
  step; A3C's workers copy the shared agent the same way before each
  update. Both agents' variables must exist (both called once).
  """
  mine, theirs = policy.trainable_variables, agent.trainable_variables
  if [v.shape.as_list() for v in mine] != [v.shape.as_list() for v in theirs]:
    raise ValueError('copy_policy: the two agents differ: %s vs %s.' % (
        [v.name for v in mine], [v.name for v in theirs]))
  return tf.group([m.assign(t) for m, t in zip(mine, theirs)],
                  name='copy_policy')


def make_agent(config, name='agent'):
  return networks.Agent(config.num_actions, torso=config.network,
                        core=config.core,
                        use_instruction=config.use_instruction, name=name)


def build_actors(agent, config, num_actors, first_actor=0, is_test=False):
  """Builds the actors' graphs: their ActorOutputs and level names."""
  outputs, level_names = [], []
  for i in range(first_actor, first_actor + num_actors):
    with tf.name_scope('actor_%d' % i):
      names, env = create_flow_environment(config, i, is_test)
      outputs.append(build_actor(agent, env, names, config.unroll_length))
      level_names.append(names)
  return outputs, level_names
