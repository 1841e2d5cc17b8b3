# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The null environment (--null_environment): an Atari game's shapes, no cost."""

import numpy as np
import pytest
import tensorflow as tf

import actor as actor_lib
import atari_environment
import environments
import py_process


def test_fixed_frames_rewards_and_episode_length():
  env = environments.PyProcessNull(num_actions=6, seed=3, episode_steps=4)
  first = env.initial()
  assert first.done and first.info.episode_step == 0
  frame, instruction = first.observation
  assert frame.shape == (84, 84, 4) and frame.dtype == np.uint8
  assert instruction == b''
  outputs = [env.step(a % 6) for a in range(9)]
  assert [o.info.episode_step for o in outputs] == [1, 2, 3, 4, 1, 2, 3, 4, 1]
  assert [bool(o.done) for o in outputs] == [False, False, False, True] * 2 + [
      False]
  assert [o.info.game_over for o in outputs] == [o.done for o in outputs]
  assert [float(o.reward) for o in outputs] == [0., 0., 0., 1.] * 2 + [0.]
  assert outputs[3].info.episode_return == environments.NULL_REWARD
  for o in outputs:
    np.testing.assert_array_equal(o.observation[0], frame)
  # The same seed, the same frame.
  np.testing.assert_array_equal(
      environments.PyProcessNull(6, seed=3).initial().observation[0], frame)


def test_bad_arguments_and_actions_are_errors():
  with pytest.raises(ValueError, match='episode_steps must be >= 1'):
    environments.PyProcessNull(num_actions=6, seed=0, episode_steps=0)
  with pytest.raises(TypeError, match='num_actions must be an integer'):
    environments.PyProcessNull(num_actions=6., seed=0)
  env = environments.PyProcessNull(num_actions=6, seed=0)
  env.initial()
  with pytest.raises(ValueError, match=r'action must be in \[0, 6\)'):
    env.step(6)
  with pytest.raises(TypeError, match='unknown keyword arguments'):
    environments.create_environment('null', 'pong', seed=0, rows=3)


def test_action_count_is_the_games():
  assert environments.num_actions('null', 'pong') == (
      atari_environment.atari_num_actions('pong'))
  assert environments.num_actions('null', 'pong', num_actions=18) == 18


def test_in_a_tf_graph_through_a_child():
  with tf.Graph().as_default():
    process = environments.create_environment('null', 'pong', seed=1,
                                              episode_steps=2)
    env = environments.FlowEnvironment(process)
    state, first = env.initial()
    outputs = []
    for action in (0, 1, 2):
      state, output = env.step(tf.constant(action), state)
      outputs.append(output)
    assert output.observation[0].shape.as_list() == [84, 84, 4]
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      first_value, values = session.run((first, outputs))
  assert first_value.done
  assert [v.info.episode_step for v in values] == [1, 2, 1]
  assert [bool(v.done) for v in values] == [False, True, False]




def test_flag_makes_actors_use_the_null_environment(parse):
  config = parse('--level_name=atari/pong', '--null_environment',
                 '--num_actors=1', '--envs_per_actor=2', '--batch_size=2')
  assert config.null_environment
  names, specs = actor_lib.environment_specs(config, 0)
  assert names == ['atari/pong'] * 2
  assert [type_ for type_, _ in specs] == [environments.PyProcessNull] * 2
  assert not parse('--level_name=atari/pong').null_environment


def test_flag_is_for_atari_only(parse):
  with pytest.raises(ValueError, match='--null_environment stands in for '
                     'Atari games only'):
    parse('--level_name=catch', '--null_environment')


def test_an_actor_unrolls_in_null_environments(parse):
  config = parse('--level_name=atari/pong', '--null_environment',
                 '--num_actors=1', '--envs_per_actor=2', '--batch_size=2',
                 '--unroll_length=3')
  with tf.Graph().as_default():
    agent = actor_lib.make_agent(config)
    (output,), _ = actor_lib.build_actors(agent, config, 1)
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      first, second = session.run(output), session.run(output)
  frames = second.env_outputs.observation[0]
  assert frames.shape == (2, 4, 84, 84, 4) and frames.dtype == np.uint8
  assert list(first.level_name) == [b'atari/pong'] * 2
  # Steps 0-3, then 3-6: consecutive unrolls join up.
  np.testing.assert_array_equal(second.env_outputs.info.episode_step,
                                [[3, 4, 5, 6]] * 2)
  assert (second.agent_outputs.action < config.num_actions).all()
