"""Tests for actor.py's policy copy: a distributed actor's local policy mu,
set to the learner's pi at the start of each unroll (paper section 3)."""

import numpy as np
import pytest
import tensorflow as tf

import actor as actor_lib
import environments
import networks

NUM_ACTIONS = 3


def _call(agent, batch_size=2):
  """Calls `agent` once on fixed catch-shaped inputs: (logits, baseline)."""
  rng = np.random.RandomState(0)
  env_output = environments.StepOutput(
      reward=tf.constant(rng.randn(batch_size).astype(np.float32)),
      info=(), done=tf.zeros([batch_size], tf.bool),
      observation=(tf.constant(rng.randint(0, 256, (batch_size, 40, 20, 1))
                               .astype(np.uint8)),
                   tf.constant([b''] * batch_size)))
  output, _ = agent((tf.zeros([batch_size], tf.int32), env_output),
                    agent.initial_state(batch_size))
  return output.policy_logits, output.baseline


def test_copy_policy_makes_the_local_policy_act_as_the_learners():
  with tf.Graph().as_default():
    agent = networks.Agent(NUM_ACTIONS)
    with actor_lib.local_variables():
      policy = networks.Agent(NUM_ACTIONS, name='actor_policy')
      local_out = _call(policy)
    learner_out = _call(agent)
    copy = actor_lib.copy_policy(policy, agent)
    # The copy is the actor's own: local, never saved with the learner's.
    global_names = {v.name for v in tf.compat.v1.global_variables()}
    local_names = {v.name for v in tf.compat.v1.local_variables()}
    assert {v.name for v in policy.trainable_variables} <= local_names
    assert not {v.name for v in policy.trainable_variables} & global_names
    assert {v.name for v in agent.trainable_variables} <= global_names
    # The learner's weights change by an update the copy has not seen yet.
    update = tf.group([v.assign_add(tf.fill(v.shape, .01))
                       for v in agent.trainable_variables])
    with tf.compat.v1.Session() as session:
      session.run([tf.compat.v1.global_variables_initializer(),
                   tf.compat.v1.local_variables_initializer()])
      before = session.run(local_out)
      assert not np.allclose(before[0], session.run(learner_out)[0])
      session.run(copy)
      np.testing.assert_array_equal(session.run(local_out)[0],
                                    session.run(learner_out)[0])
      np.testing.assert_array_equal(session.run(local_out)[1],
                                    session.run(learner_out)[1])
      session.run(update)
      stale = session.run(local_out)
      assert not np.allclose(stale[0], session.run(learner_out)[0])
      session.run(copy)
      np.testing.assert_array_equal(session.run(local_out)[0],
                                    session.run(learner_out)[0])


def test_copy_policy_rejects_different_agents():
  with tf.Graph().as_default():
    agent = networks.Agent(NUM_ACTIONS)
    other = networks.Agent(NUM_ACTIONS + 1, name='other')
    _call(agent)
    _call(other)
    with pytest.raises(ValueError, match='differ'):
      actor_lib.copy_policy(other, agent)


def test_actors_group_their_environments_by_envs_per_process(parse):
  config = parse('--level_name=atari/pong', '--null_environment',
                 '--num_actors=1', '--envs_per_actor=4', '--batch_size=2',
                 '--envs_per_process=2')
  names, processes = actor_lib.create_environments(config, 0)
  assert names == ['atari/pong'] * 4
  assert [p.type for p in processes] == [environments.EnvironmentGroup] * 2
  # Fewer environments per actor (test mode, A3C): groups shrink to fit.
  assert actor_lib.group_size(config._replace(envs_per_actor=1)) == 1
  assert actor_lib.group_size(config._replace(envs_per_actor=6)) == 2
  alone = config._replace(envs_per_process=1)
  assert [p.type for p in actor_lib.create_environments(alone, 0)[1]] == [
      environments.PyProcessNull] * 4
