# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""learner.py: the diagnostics of the update against NumPy."""

import numpy as np
import tensorflow as tf

import config as config_lib
import learner as learner_lib
import networks


def _config(gradient_clipping):
  return config_lib.Config(
      level_set=None, num_actions=4, total_environment_frames=100,
      num_actors=1, envs_per_actor=1, batch_size=2, unroll_length=3,
      num_action_repeats=4, network='shallow', core='feedforward',
      use_instruction=False, entropy_cost=0.01, baseline_cost=0.5,
      discounting=0.99, reward_clipping='abs_one',
      gradient_clipping=gradient_clipping, learning_rate=0.1, decay=.99,
      momentum=0., epsilon=.1, full_action_space=False)


def test_diagnostics_equal_numpy():
  rng = np.random.RandomState(0)
  t_len, batch, num_actions = 3, 2, 4
  logits = rng.randn(t_len, batch, num_actions)
  logits[0, 0] = 0.  # One uniform step: distance 0, entropy ln 4.
  actions = rng.randint(num_actions, size=(t_len, batch))
  pg_advantages, vs, values = rng.randn(3, t_len, batch)
  with tf.Graph().as_default():
    logits_t = tf.constant(logits, tf.float32)
    values_t = tf.constant(values, tf.float32)
    losses = dict(
        policy_gradient_loss=learner_lib.compute_policy_gradient_loss(
            logits_t, tf.constant(actions), tf.constant(pg_advantages,
                                                        tf.float32)),
        baseline_loss=0.5 * learner_lib.compute_baseline_loss(
            tf.constant(vs, tf.float32) - values_t),
        entropy_loss=0.01 * learner_lib.compute_entropy_loss(logits_t))
    diagnostics = learner_lib.compute_diagnostics(
        networks.AgentOutput(None, logits_t, values_t), losses)
    with tf.compat.v1.Session() as session:
      got = session.run(diagnostics)

  log_pi = logits - np.log(np.sum(np.exp(logits), -1, keepdims=True))
  pi = np.exp(log_pi)
  entropy = -np.sum(pi * log_pi, -1)
  one_hot = np.eye(num_actions)[actions]
  expected = dict(
      pg_logits_gradient_norm=np.linalg.norm(
          pg_advantages[..., None] * (pi - one_hot)),
      baseline_gradient_norm=np.linalg.norm(0.5 * (vs - values)),
      entropy_logits_gradient_norm=np.linalg.norm(
          0.01 * pi * (log_pi + entropy[..., None])),
      policy_entropy=entropy.mean(),
      policy_entropy_ratio=entropy.mean() / np.log(num_actions),
      policy_distance_from_uniform=np.mean(
          0.5 * np.sum(np.abs(pi - 0.25), -1)),
      mean_value=values.mean())
  assert set(got) == set(expected)
  for name, value in expected.items():
    np.testing.assert_allclose(got[name], value, rtol=1e-5, err_msg=name)


def test_uniform_policy_has_no_entropy_gradient_and_zero_distance():
  with tf.Graph().as_default(), tf.compat.v1.Session() as session:
    logits = tf.zeros([2, 3, 6])
    entropy_gradient = tf.gradients(learner_lib.compute_entropy_loss(logits),
                                    logits)[0]
    got = session.run(dict(
        gradient=entropy_gradient,
        entropy=learner_lib.policy_entropy(logits),
        distance=learner_lib.distance_from_uniform(logits),
        deterministic=learner_lib.distance_from_uniform(
            tf.constant([[[50., 0., 0., 0., 0., 0.]]]))))
  np.testing.assert_allclose(got['gradient'], 0., atol=1e-7)
  np.testing.assert_allclose(got['entropy'], np.log(6), rtol=1e-6)
  np.testing.assert_allclose(got['distance'], 0., atol=1e-7)
  np.testing.assert_allclose(got['deterministic'], 5. / 6, rtol=1e-5)


def test_apply_gradients_reports_clipping():
  """Norm 80 against a threshold of 40 is clipped (ratio 2); 20 is not."""
  results = []
  for norm in (80., 20.):
    with tf.Graph().as_default():
      variable = tf.compat.v1.get_variable('w', initializer=[0., 0.])
      _, stats = learner_lib.apply_gradients(
          [tf.constant([0.6 * norm, 0.8 * norm])], [variable], 1, _config(40.))
      with tf.compat.v1.Session() as session:
        session.run(tf.compat.v1.global_variables_initializer())
        results.append(session.run(stats))
  np.testing.assert_allclose([r['gradient_norm'] for r in results], [80, 20],
                             rtol=1e-6)
  np.testing.assert_allclose([r['gradient_clip_ratio'] for r in results],
                             [2., .5], rtol=1e-6)
  assert [r['gradient_clipped'] for r in results] == [1., 0.]
  with tf.Graph().as_default():
    variable = tf.compat.v1.get_variable('w', initializer=[0.])
    _, stats = learner_lib.apply_gradients([tf.constant([1.])], [variable], 1,
                                           _config(0.))
  assert 'gradient_clipped' not in stats  # No clipping, no clipping stats.
