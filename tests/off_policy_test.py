# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The ablation of paper section 5.2 (Table 2): the four off-policy
corrections (vtrace.py) against NumPy references written from their
definitions, the learner's loss for each, the replay buffer (replay.py),
frames counted once with replay, and bad input."""

import csv
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import flags  # pylint: disable=g-import-not-at-top
import numpy as np
import pytest
import tensorflow as tf

import config as config_lib
import environments
import experiment_test
import learner as learner_lib
import networks
import replay
import vtrace

T, B, A = 6, 4, 5


# ---------------------------------------------------------------------------
# NumPy references, float64, from the definitions in section 5.2.1.


def _log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _taken(log_probs, actions):
  return np.take_along_axis(log_probs, actions[..., None], -1)[..., 0]


def _n_step_targets(discounts, rewards, bootstrap_value):
  """v_s = sum_{t>=s} (prod_{s<=i<t} gamma_i) r_t + (prod gamma) V(x_T)."""
  vs = np.zeros_like(rewards)
  for s in range(len(rewards)):
    weight, total = np.ones_like(bootstrap_value), np.zeros_like(
        bootstrap_value)
    for t in range(s, len(rewards)):
      total = total + weight * rewards[t]
      weight = weight * discounts[t]
    vs[s] = total + weight * bootstrap_value
  return vs


def _reference(correction, inputs, epsilon=1e-6):
  """(vs, pg_advantages, log-probability the gradient follows) by definition.

  V-trace comes from its own test (tests/vtrace_test.py); here it is only
  compared with the others where they must agree.
  """
  log_pi = _taken(_log_softmax(inputs['target_policy_logits']),
                  inputs['actions'])
  log_mu = _taken(_log_softmax(inputs['behaviour_policy_logits']),
                  inputs['actions'])
  discounts, rewards, values = (inputs['discounts'], inputs['rewards'],
                                inputs['values'])
  bootstrap_value = inputs['bootstrap_value']
  vs = _n_step_targets(discounts, rewards, bootstrap_value)
  vs_next = np.concatenate([vs[1:], bootstrap_value[None]])
  advantages = rewards + discounts * vs_next - values
  if correction == 'one_step':  # rho_s = min(1, pi / mu) on the advantage.
    return vs, np.minimum(1., np.exp(log_pi - log_mu)) * advantages, log_pi
  if correction == 'epsilon':  # log(pi + epsilon), no weights.
    return vs, advantages, np.log(np.exp(log_pi) + epsilon)
  assert correction == 'none'
  return vs, advantages, log_pi


def _inputs(seed, same_policy=False):
  rng = np.random.RandomState(seed)
  target = rng.normal(0., 2., (T, B, A))
  return dict(
      behaviour_policy_logits=(target if same_policy
                               else rng.normal(0., 2., (T, B, A))),
      target_policy_logits=target,
      actions=rng.randint(A, size=(T, B)),
      discounts=0.9 * (rng.uniform(size=(T, B)) > 0.2),
      rewards=rng.normal(size=(T, B)),
      values=rng.normal(size=(T, B)),
      bootstrap_value=rng.normal(size=B))


def _run(function, inputs, **kwargs):
  with tf.Graph().as_default(), tf.compat.v1.Session() as session:
    return session.run(function(**inputs, **kwargs))


@pytest.mark.parametrize('correction', ['one_step', 'epsilon', 'none'])
def test_corrections_match_their_definitions(correction):
  inputs = _inputs(0)
  got = _run(vtrace.OFF_POLICY_CORRECTIONS[correction], inputs)
  vs, pg_advantages, log_probs = _reference(correction, inputs)
  np.testing.assert_allclose(got.vs, vs, rtol=1e-10, atol=1e-10)
  np.testing.assert_allclose(got.pg_advantages, pg_advantages, rtol=1e-10,
                             atol=1e-10)
  np.testing.assert_allclose(got.target_action_log_probs, log_probs,
                             rtol=1e-10, atol=1e-12)
  # log_rhos is the true log-ratio in every correction.
  log_mu = _taken(_log_softmax(inputs['behaviour_policy_logits']),
                  inputs['actions'])
  log_pi = _reference('none', inputs)[2]
  np.testing.assert_allclose(got.log_rhos, log_pi - log_mu, rtol=1e-10,
                             atol=1e-10)


def test_corrections_differ_off_policy_and_agree_on_policy():
  off = _inputs(1)
  results = {name: _run(function, off)
             for name, function in vtrace.OFF_POLICY_CORRECTIONS.items()}
  # Off-policy, V-trace's traces change vs; 1-step weights the advantages.
  assert np.abs(results['vtrace'].vs - results['none'].vs).max() > 1e-3
  assert np.abs(results['one_step'].pg_advantages -
                results['none'].pg_advantages).max() > 1e-3
  on = _inputs(1, same_policy=True)
  on_results = {name: _run(function, on) for name, function in
                vtrace.OFF_POLICY_CORRECTIONS.items()}
  for name in ('one_step', 'epsilon', 'none'):
    np.testing.assert_allclose(on_results[name].vs, on_results['vtrace'].vs,
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(on_results[name].pg_advantages,
                               on_results['vtrace'].pg_advantages,
                               rtol=1e-10, atol=1e-10)


def test_epsilon_keeps_log_pi_of_an_unlikely_action_bounded():
  inputs = _inputs(2)
  inputs['target_policy_logits'][..., 0] = -40.  # pi(a=0) ~ 1e-18.
  inputs['actions'][:] = 0
  got = _run(vtrace.epsilon_correction_from_logits, inputs)
  plain = _run(vtrace.no_correction_from_logits, inputs)
  assert plain.target_action_log_probs.max() < -35
  np.testing.assert_allclose(got.target_action_log_probs, np.log(1e-6),
                             rtol=1e-6)
  # Its gradient is pi / (pi + epsilon) times that of log pi: ~1e-12 here.
  with tf.Graph().as_default(), tf.compat.v1.Session() as session:
    logits = tf.constant(inputs['target_policy_logits'])
    tensors = dict(inputs, target_policy_logits=logits)
    grads = [tf.gradients(tf.reduce_sum(function(
        **tensors).target_action_log_probs), logits)[0]
             for function in (vtrace.epsilon_correction_from_logits,
                              vtrace.no_correction_from_logits)]
    eps_grad, plain_grad = session.run(grads)
  assert np.abs(plain_grad).max() > 0.9
  assert np.abs(eps_grad).max() < 1e-9


def test_bad_correction_hyperparameters_raise():
  with pytest.raises(ValueError, match='epsilon must lie in'):
    _run(vtrace.epsilon_correction_from_logits, _inputs(0), epsilon=-1.)
  with pytest.raises(ValueError, match='clip_pg_rho_threshold must lie in'):
    _run(vtrace.one_step_from_logits, _inputs(0), clip_pg_rho_threshold=-1.)


# ---------------------------------------------------------------------------
# The learner's loss dispatches on config.off_policy_correction.


def _config(**kwargs):
  values = dict(
      level_set=None, num_actions=A, total_environment_frames=1,
      num_actors=1, envs_per_actor=1, batch_size=B, unroll_length=T,
      num_action_repeats=1, network='shallow', core='feedforward',
      use_instruction=False, entropy_cost=0., baseline_cost=0.5,
      discounting=0.9, reward_clipping='abs_one', gradient_clipping=0.,
      learning_rate=0., decay=.99, momentum=0., epsilon=.1,
      full_action_space=False)
  values.update(kwargs)
  return config_lib.Config(**values)


@pytest.mark.parametrize('correction', ['one_step', 'epsilon', 'none'])
def test_compute_loss_uses_the_correction(correction):
  inputs = _inputs(3)
  inputs['rewards'] = np.clip(inputs['rewards'], -1, 1)
  done = inputs['discounts'] == 0
  with tf.Graph().as_default(), tf.compat.v1.Session() as session:
    learner = networks.AgentOutput(
        action=None,
        policy_logits=tf.constant(inputs['target_policy_logits'],
                                  tf.float32),
        baseline=tf.constant(inputs['values'], tf.float32))
    behaviour = networks.AgentOutput(
        action=tf.constant(inputs['actions'], tf.int32),
        policy_logits=tf.constant(inputs['behaviour_policy_logits'],
                                  tf.float32), baseline=None)
    env = environments.StepOutput(
        reward=tf.constant(inputs['rewards'], tf.float32), info=None,
        done=tf.constant(done), observation=None)
    _, parts = learner_lib.compute_loss(
        learner, behaviour, env,
        tf.constant(inputs['bootstrap_value'], tf.float32),
        _config(off_policy_correction=correction))
    got = session.run(parts)
  vs, pg_advantages, log_probs = _reference(correction, inputs)
  np.testing.assert_allclose(got['policy_gradient_loss'],
                             -np.sum(log_probs * pg_advantages), rtol=1e-4)
  np.testing.assert_allclose(got['baseline_loss'],
                             0.5 * 0.5 * np.sum((vs - inputs['values'])**2),
                             rtol=1e-4)


# ---------------------------------------------------------------------------
# The replay buffer.


def test_replay_buffer_is_fifo_and_samples_uniformly():
  specs = (tf.TensorSpec([2], tf.int32), tf.TensorSpec([], tf.string))
  with tf.Graph().as_default():
    buffer = replay.ReplayBuffer(specs, capacity=4)
    batch = (tf.compat.v1.placeholder(tf.int32, [None, 2]),
             tf.compat.v1.placeholder(tf.string, [None]))
    add = buffer.add(batch)
    sample = buffer.sample(2000)
    assert not tf.compat.v1.global_variables()  # Never checkpointed.
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.local_variables_initializer())

      def put(ids):
        session.run(add, {batch[0]: [[i, -i] for i in ids],
                          batch[1]: [b'traj%d' % i for i in ids]})

      put([0, 1, 2])
      assert session.run(buffer.size()) == 3
      numbers, names = session.run(sample)
      assert set(numbers[:, 0]) == {0, 1, 2}  # Never an empty slot.
      np.testing.assert_array_equal(numbers[:, 1], -numbers[:, 0])
      assert all(n == b'traj%d' % i for n, i in zip(names, numbers[:, 0]))
      put([3, 4, 5])  # 0 and 1 are the oldest: overwritten first.
      assert session.run(buffer.size()) == 4
      numbers, _ = session.run(sample)
  counts = np.bincount(numbers[:, 0], minlength=6)
  assert counts[0] == counts[1] == 0
  # Uniform over the 4 held: each about 500 of 2000 (4 sigma: +-78).
  assert all(abs(c - 500) < 80 for c in counts[2:]), counts


def test_add_replayed_puts_fresh_first_then_replayed():
  with tf.Graph().as_default():
    fresh = tf.compat.v1.placeholder(tf.float32, [3, 2])
    mixed = replay.add_replayed(fresh, 2, buffer_size=3)
    assert mixed.shape.as_list() == [5, 2]
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.local_variables_initializer())
      first = session.run(mixed, {fresh: np.full([3, 2], 1.)})
      second = session.run(mixed, {fresh: np.full([3, 2], 2.)})
  np.testing.assert_array_equal(first, 1.)  # Only batch 1 in the buffer.
  np.testing.assert_array_equal(second[:3], 2.)
  assert set(second[3:, 0]) <= {2.}  # Batch 1 evicted by batch 2 (FIFO).


def test_buffer_size_from_shapes():
  # Atari (Table G.1): 84x84x4 uint8 frames over T + 1 = 21 steps.
  atari = (tf.TensorSpec([21, 84, 84, 4], tf.uint8),
           tf.TensorSpec([21], tf.string))
  assert replay.size_in_bytes(atari, 10000) == 10000 * 21 * 84 * 84 * 4


# ---------------------------------------------------------------------------
# Flags.


parsed_flags = experiment_test.parsed_flags  # The flags, restored after.


def test_flags_reach_the_config(parsed_flags):
  parsed_flags.off_policy_correction = 'epsilon'
  parsed_flags.replay_proportion = 0.5
  parsed_flags.replay_buffer_size = 100
  config = config_lib.resolve_config('catch')
  assert (config.off_policy_correction, config.replay_proportion,
          config.replay_buffer_size) == ('epsilon', 0.5, 100)
  assert replay.num_replayed(config.batch_size, 0.5) == config.batch_size // 2


@pytest.mark.parametrize('values,message', [
    (dict(replay_proportion=1.), r'--replay_proportion must be in \[0, 1\)'),
    (dict(replay_proportion=-.1), r'--replay_proportion must be in'),
    (dict(replay_proportion=.01), 'rounds to no replayed trajectory'),
    (dict(replay_proportion=.99), 'leaves no fresh trajectory'),
    (dict(replay_proportion=.5, replay_buffer_size=3),
     '--replay_buffer_size=3 is smaller than the 8 fresh'),
])
def test_bad_replay_flags_raise(parsed_flags, values, message):
  for name, value in values.items():
    setattr(parsed_flags, name, value)
  with pytest.raises(ValueError, match=message):
    config_lib.resolve_config('catch')  # Batch 16.


def test_unknown_correction_is_rejected(parsed_flags):
  with pytest.raises(flags.IllegalFlagValueError, match='vtrace'):
    parsed_flags['off_policy_correction'].parse('retrace')


# ---------------------------------------------------------------------------
# End to end: replayed frames are not counted again.


def test_training_with_replay_counts_fresh_frames_only(tmp_path):
  logdir = str(tmp_path / 'run')
  result = experiment_test.run_experiment(
      '--level_name=catch', '--logdir=' + logdir,
      '--num_actors=1', '--envs_per_actor=2', '--batch_size=2',
      '--unroll_length=5', '--total_environment_frames=30',
      '--log_interval_secs=0.5', '--replay_proportion=0.5',
      '--off_policy_correction=one_step')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Replay buffer of 10000 trajectories' in result.stderr
  with open(os.path.join(logdir, 'progress.csv')) as f:
    last = list(csv.DictReader(f))[-1]
  # One fresh trajectory of 5 frames per step of a batch of 2.
  assert int(last['frames']) == 30 == 5 * int(last['learner_steps'])
  names = [name for name, _ in tf.train.list_variables(logdir)]
  assert 'global_step' in names and not any('replay' in n for n in names)
