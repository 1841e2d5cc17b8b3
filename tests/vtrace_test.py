"""Tests for vtrace.py against a NumPy reference written from paper eq. (1).

The reference computes the V-trace target with the explicit double sum of
eq. (1), not with the recursion of Remark 1 that vtrace.py runs:

  v_s = V(x_s) + sum_{t=s}^{T-1} (prod_{i=s}^{t-1} gamma_i c_i) delta_t V.
"""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import pytest
import tensorflow as tf

import vtrace


# ----------------------------------------------------------------------------
# NumPy references, in float64.
# ----------------------------------------------------------------------------


def _softmax_log_probs(logits, actions):
  logits = np.asarray(logits, np.float64)
  shifted = logits - logits.max(axis=-1, keepdims=True)
  log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
  return np.take_along_axis(log_softmax, actions[..., None], axis=-1)[..., 0]


def _vtrace_eq1(log_rhos, discounts, rewards, values, bootstrap_value,
                clip_rho_threshold, clip_pg_rho_threshold, lambda_):
  """V-trace from eq. (1) (section 4.1) and the advantage of section 4.2."""
  log_rhos, discounts, rewards, values, bootstrap_value = (
      np.asarray(x, np.float64)
      for x in (log_rhos, discounts, rewards, values, bootstrap_value))
  num_steps = log_rhos.shape[0]
  rhos = np.exp(log_rhos)
  rho_bar = np.inf if clip_rho_threshold is None else clip_rho_threshold
  pg_rho_bar = np.inf if clip_pg_rho_threshold is None else (
      clip_pg_rho_threshold)
  clipped_rhos = np.minimum(rho_bar, rhos)
  cs = lambda_ * np.minimum(1.0, rhos)  # Remark 2, c_bar = 1.
  # V(x_0), ..., V(x_T) with V(x_T) the bootstrap value.
  all_values = np.concatenate([values, bootstrap_value[None]], axis=0)

  def delta(t):
    return clipped_rhos[t] * (
        rewards[t] + discounts[t] * all_values[t + 1] - all_values[t])

  vs = np.zeros_like(values)
  for s in range(num_steps):
    total = np.zeros_like(bootstrap_value)
    for t in range(s, num_steps):
      # prod_{i=s}^{t-1} gamma_i c_i; the empty product (t = s) is 1.
      weight = np.prod(discounts[s:t] * cs[s:t], axis=0)
      total = total + weight * delta(t)
    vs[s] = values[s] + total

  vs_next = np.concatenate([vs[1:], bootstrap_value[None]], axis=0)
  pg_advantages = np.minimum(pg_rho_bar, rhos) * (
      rewards + discounts * vs_next - values)
  return vs, pg_advantages


def _n_step_returns(discounts, rewards, bootstrap_value):
  """sum_{t=s}^{T-1} (prod_{i<t} gamma_i) r_t + (prod_{i<T} gamma_i) V(x_T)."""
  discounts = np.asarray(discounts, np.float64)
  rewards = np.asarray(rewards, np.float64)
  num_steps = rewards.shape[0]
  returns = np.zeros_like(rewards)
  for s in range(num_steps):
    total = np.zeros_like(rewards[0])
    weight = np.ones_like(rewards[0])
    for t in range(s, num_steps):
      total += weight * rewards[t]
      weight = weight * discounts[t]
    returns[s] = total + weight * np.asarray(bootstrap_value, np.float64)
  return returns


def _inputs(num_steps, batch_size, dtype, seed, extra_dims=()):
  rng = np.random.RandomState(seed)
  shape = (num_steps, batch_size) + tuple(extra_dims)
  # Discounts 0 mark episode ends, as in the learner.
  discounts = 0.99 * (rng.uniform(size=shape) > 0.15)
  return dict(
      log_rhos=rng.normal(0.0, 1.0, size=shape).astype(dtype),
      discounts=discounts.astype(dtype),
      rewards=rng.normal(0.0, 1.0, size=shape).astype(dtype),
      values=rng.normal(0.0, 1.0, size=shape).astype(dtype),
      bootstrap_value=rng.normal(0.0, 1.0, size=shape[1:]).astype(dtype))


def _tolerances(dtype):
  return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(
      rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------
# Correctness against eq. (1).
# ----------------------------------------------------------------------------

SHAPES = [(1, 1), (1, 4), (2, 3), (7, 5), (33, 6)]
CLIPS = [(1.0, 1.0), (None, None), (3.7, 1.3), (0.5, None)]


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('lambda_', [1.0, 0.5])
@pytest.mark.parametrize('clips', CLIPS)
@pytest.mark.parametrize('shape', SHAPES)
def test_from_importance_weights_matches_eq1(shape, clips, lambda_, dtype):
  num_steps, batch_size = shape
  clip_rho, clip_pg_rho = clips
  inputs = _inputs(num_steps, batch_size, dtype, seed=num_steps * 100 +
                   batch_size)
  output = vtrace.from_importance_weights(
      **inputs, clip_rho_threshold=clip_rho,
      clip_pg_rho_threshold=clip_pg_rho, lambda_=lambda_)
  vs, pg_advantages = _vtrace_eq1(**inputs, clip_rho_threshold=clip_rho,
                                  clip_pg_rho_threshold=clip_pg_rho,
                                  lambda_=lambda_)
  assert output.vs.dtype == dtype and output.pg_advantages.dtype == dtype
  assert output.vs.shape == (num_steps, batch_size)
  np.testing.assert_allclose(output.vs.numpy(), vs, **_tolerances(dtype))
  np.testing.assert_allclose(output.pg_advantages.numpy(), pg_advantages,
                             **_tolerances(dtype))


def test_clipping_and_lambda_change_the_result():
  """The inputs above exercise clipping and lambda (the test could fail)."""
  inputs = _inputs(20, 4, np.float64, seed=1)
  base = vtrace.from_importance_weights(**inputs).vs.numpy()
  for kwargs in (dict(clip_rho_threshold=None), dict(lambda_=0.5),
                 dict(clip_rho_threshold=2.0)):
    assert np.abs(vtrace.from_importance_weights(
        **inputs, **kwargs).vs.numpy() - base).max() > 1e-3
  unclipped_pg = vtrace.from_importance_weights(
      **inputs, clip_pg_rho_threshold=None).pg_advantages.numpy()
  clipped_pg = vtrace.from_importance_weights(**inputs).pg_advantages.numpy()
  assert np.abs(unclipped_pg - clipped_pg).max() > 1e-3


def test_tensor_hyperparameters_equal_python_ones():
  inputs = _inputs(9, 3, np.float32, seed=2)
  expected = vtrace.from_importance_weights(
      **inputs, clip_rho_threshold=1.5, clip_pg_rho_threshold=0.7,
      lambda_=0.9)
  output = vtrace.from_importance_weights(
      **inputs, clip_rho_threshold=tf.constant(1.5),
      clip_pg_rho_threshold=tf.constant(0.7, tf.float64),
      lambda_=tf.constant(0.9))
  np.testing.assert_allclose(output.vs, expected.vs, rtol=1e-6)
  np.testing.assert_allclose(output.pg_advantages, expected.pg_advantages,
                             rtol=1e-6)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_from_logits_equals_from_importance_weights(dtype):
  num_steps, batch_size, num_actions = 11, 4, 5
  rng = np.random.RandomState(3)
  behaviour_logits = rng.normal(size=(num_steps, batch_size, num_actions))
  target_logits = rng.normal(size=(num_steps, batch_size, num_actions))
  actions = rng.randint(0, num_actions, size=(num_steps, batch_size))
  inputs = _inputs(num_steps, batch_size, dtype, seed=4)
  del inputs['log_rhos']
  output = vtrace.from_logits(
      behaviour_policy_logits=behaviour_logits.astype(dtype),
      target_policy_logits=target_logits.astype(dtype),
      actions=actions.astype(np.int32),
      clip_rho_threshold=2.0, clip_pg_rho_threshold=1.5, lambda_=0.8,
      **inputs)
  assert isinstance(output, vtrace.VTraceFromLogitsReturns)
  tol = _tolerances(dtype)
  expected_behaviour = _softmax_log_probs(behaviour_logits, actions)
  expected_target = _softmax_log_probs(target_logits, actions)
  np.testing.assert_allclose(output.behaviour_action_log_probs,
                             expected_behaviour, **tol)
  np.testing.assert_allclose(output.target_action_log_probs, expected_target,
                             **tol)
  np.testing.assert_allclose(output.log_rhos,
                             expected_target - expected_behaviour, **tol)
  from_weights = vtrace.from_importance_weights(
      log_rhos=output.log_rhos, clip_rho_threshold=2.0,
      clip_pg_rho_threshold=1.5, lambda_=0.8, **inputs)
  np.testing.assert_array_equal(output.vs, from_weights.vs)
  np.testing.assert_array_equal(output.pg_advantages,
                                from_weights.pg_advantages)
  vs, pg_advantages = _vtrace_eq1(
      expected_target - expected_behaviour, clip_rho_threshold=2.0,
      clip_pg_rho_threshold=1.5, lambda_=0.8, **inputs)
  np.testing.assert_allclose(output.vs, vs, **tol)
  np.testing.assert_allclose(output.pg_advantages, pg_advantages, **tol)


@pytest.mark.parametrize('clip_rho_threshold', [1.0, 5.0, None])
@pytest.mark.parametrize('shape', [(1, 3), (25, 4)])
def test_on_policy_equals_n_step_bootstrapped_returns(shape,
                                                      clip_rho_threshold):
  inputs = _inputs(*shape, np.float64, seed=5)
  inputs['log_rhos'] = np.zeros(shape)  # pi = mu: rho_t = c_t = 1.
  output = vtrace.from_importance_weights(
      **inputs, clip_rho_threshold=clip_rho_threshold,
      clip_pg_rho_threshold=clip_rho_threshold)
  returns = _n_step_returns(inputs['discounts'], inputs['rewards'],
                            inputs['bootstrap_value'])
  np.testing.assert_allclose(output.vs, returns, rtol=1e-12, atol=1e-12)
  returns_next = np.concatenate([returns[1:], inputs['bootstrap_value'][None]])
  np.testing.assert_allclose(
      output.pg_advantages,
      inputs['rewards'] + inputs['discounts'] * returns_next -
      inputs['values'], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('shape', [(1, 2), (40, 7)])
def test_xla_and_uncompiled_agree(shape, dtype):
  inputs = _inputs(*shape, dtype, seed=6)
  kwargs = dict(clip_rho_threshold=1.2, clip_pg_rho_threshold=0.9,
                lambda_=0.7)
  compiled = vtrace.from_importance_weights(**inputs, **kwargs, use_xla=True)
  plain = vtrace.from_importance_weights(**inputs, **kwargs, use_xla=False)
  tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(
      rtol=1e-13, atol=1e-13)
  np.testing.assert_allclose(compiled.vs, plain.vs, **tol)
  np.testing.assert_allclose(compiled.pg_advantages, plain.pg_advantages,
                             **tol)


def test_compiled_function_is_xla_and_not_retraced():
  """One trace serves every T and B; the XLA path lowers to HLO."""
  vtrace.from_importance_weights(**_inputs(2, 2, np.float32, seed=7))
  function = vtrace._FUNCTIONS[(tf.float32, 2, True)]  # pylint: disable=protected-access
  traces = function.experimental_get_tracing_count()
  for shape in [(3, 2), (17, 5), (1, 9)]:
    vtrace.from_importance_weights(**_inputs(*shape, np.float32, seed=7))
    with tf.Graph().as_default():  # A new graph traces once more, not per T.
      for shape_in_graph in [(3, 2), (None, None)]:
        vtrace.from_importance_weights(*[
            tf.compat.v1.placeholder(tf.float32, shape_in_graph)] * 4,
                                       tf.compat.v1.placeholder(
                                           tf.float32, shape_in_graph[1:]))
  assert function.experimental_get_tracing_count() == traces + 3
  hlo = function.experimental_get_compiler_ir(
      *[tf.zeros([4, 3])] * 4, tf.zeros([3]), 1.0, 1.0, 1.0)(stage='hlo')
  assert 'while' in hlo


# ----------------------------------------------------------------------------
# Gradients.
# ----------------------------------------------------------------------------


def test_gradients_are_stopped_eagerly():
  num_steps, batch_size, num_actions = 6, 3, 4
  rng = np.random.RandomState(8)
  inputs = _inputs(num_steps, batch_size, np.float32, seed=9)
  del inputs['log_rhos']
  values = tf.Variable(inputs.pop('values'))
  bootstrap_value = tf.Variable(inputs.pop('bootstrap_value'))
  target_logits = tf.Variable(
      rng.normal(size=(num_steps, batch_size, num_actions)).astype(np.float32))
  behaviour_logits = rng.normal(
      size=(num_steps, batch_size, num_actions)).astype(np.float32)
  actions = rng.randint(0, num_actions, size=(num_steps, batch_size))
  with tf.GradientTape(persistent=True) as tape:
    output = vtrace.from_logits(behaviour_logits, target_logits, actions,
                                values=values,
                                bootstrap_value=bootstrap_value, **inputs)
    vs_sum = tf.reduce_sum(output.vs)
    pg_sum = tf.reduce_sum(output.pg_advantages)
    pg_loss = -tf.reduce_sum(output.target_action_log_probs *
                             output.pg_advantages)
  for grad in tape.gradient(vs_sum, [values, bootstrap_value, target_logits]):
    assert grad is None or not np.any(grad.numpy())
  for grad in tape.gradient(pg_sum, [values, bootstrap_value, target_logits]):
    assert grad is None or not np.any(grad.numpy())
  logits_grad = tape.gradient(pg_loss, target_logits)
  assert logits_grad is not None and np.abs(logits_grad.numpy()).max() > 0
  assert tape.gradient(output.log_rhos, target_logits) is not None


def test_gradients_are_stopped_in_graph():
  with tf.Graph().as_default():
    values = tf.compat.v1.placeholder(tf.float32, [None, None])
    bootstrap_value = tf.compat.v1.placeholder(tf.float32, [None])
    logits = tf.compat.v1.placeholder(tf.float32, [None, None, 3])
    actions = tf.compat.v1.placeholder(tf.int32, [None, None])
    output = vtrace.from_logits(logits + 1.0, logits, actions,
                                discounts=tf.ones_like(values) * 0.9,
                                rewards=tf.ones_like(values), values=values,
                                bootstrap_value=bootstrap_value)
    assert tf.compat.v1.gradients(output.vs, [values, bootstrap_value]) == [
        None, None]
    assert tf.compat.v1.gradients(output.pg_advantages, [values, logits]) == [
        None, None]
    assert tf.compat.v1.gradients(output.target_action_log_probs,
                                  logits)[0] is not None


def test_learner_loss_gradient_runs_in_session():
  # The learner differentiates 0.5 * sum((vs - V)^2) with tf.gradients in a
  # v1 graph; vs is a constant for it, so the gradient is -(vs - V).
  rng = np.random.RandomState(0)
  with tf.Graph().as_default():
    values = tf.Variable(rng.randn(5, 3).astype(np.float32))
    output = vtrace.from_importance_weights(
        log_rhos=tf.constant(rng.randn(5, 3).astype(np.float32)),
        discounts=tf.fill([5, 3], 0.9), rewards=tf.ones([5, 3]),
        values=values, bootstrap_value=tf.zeros([3]))
    loss = 0.5 * tf.reduce_sum(tf.square(output.vs - values))
    (gradient,) = tf.compat.v1.gradients(loss, [values])
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      vs, v, g = session.run([output.vs, values, gradient])
  np.testing.assert_allclose(g, -(vs - v), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------
# tf.compat.v1 graphs run by a Session.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize('use_xla', [True, False])
def test_session_graph_with_unknown_time_and_batch(use_xla):
  with tf.Graph().as_default() as graph:
    placeholders = dict(
        log_rhos=tf.compat.v1.placeholder(tf.float32, [None, None]),
        discounts=tf.compat.v1.placeholder(tf.float32, [None, None]),
        rewards=tf.compat.v1.placeholder(tf.float32, [None, None]),
        values=tf.compat.v1.placeholder(tf.float32, [None, None]),
        bootstrap_value=tf.compat.v1.placeholder(tf.float32, [None]))
    output = vtrace.from_importance_weights(
        **placeholders, clip_rho_threshold=1.0, clip_pg_rho_threshold=None,
        lambda_=0.5, use_xla=use_xla)
    assert output.vs.shape.as_list() == [None, None]
    calls = [node for node in graph.as_graph_def().node
             if node.op in ('PartitionedCall', 'StatefulPartitionedCall')]
    assert len(calls) == 1
    assert calls[0].attr['_XlaMustCompile'].b == use_xla
    with tf.compat.v1.Session(graph=graph) as session:
      for shape in [(5, 3), (1, 7), (30, 2)]:
        inputs = _inputs(*shape, np.float32, seed=shape[0])
        result = session.run(
            output, {placeholders[k]: v for k, v in inputs.items()})
        vs, pg_advantages = _vtrace_eq1(**inputs, clip_rho_threshold=1.0,
                                        clip_pg_rho_threshold=None,
                                        lambda_=0.5)
        np.testing.assert_allclose(result.vs, vs, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(result.pg_advantages, pg_advantages,
                                   rtol=1e-5, atol=1e-5)
      inputs = _inputs(5, 3, np.float32, seed=10)
      inputs['values'] = inputs['values'][:, :1]  # Would broadcast silently.
      with pytest.raises(tf.errors.InvalidArgumentError, match='values'):
        session.run(output, {placeholders[k]: v for k, v in inputs.items()})


def test_session_graph_static_shapes_are_kept():
  with tf.Graph().as_default() as graph:
    inputs = _inputs(8, 4, np.float64, seed=11)
    variables = {k: tf.compat.v1.Variable(v, use_resource=True)
                 for k, v in inputs.items()}
    output = vtrace.from_importance_weights(
        **{k: v.read_value() for k, v in variables.items()})
    assert output.vs.shape.as_list() == [8, 4]
    assert output.pg_advantages.shape.as_list() == [8, 4]
    with tf.compat.v1.Session(graph=graph) as session:
      session.run(tf.compat.v1.global_variables_initializer())
      result = session.run(output)
  vs, pg_advantages = _vtrace_eq1(**inputs, clip_rho_threshold=1.0,
                                  clip_pg_rho_threshold=1.0, lambda_=1.0)
  np.testing.assert_allclose(result.vs, vs, rtol=1e-12, atol=1e-12)
  np.testing.assert_allclose(result.pg_advantages, pg_advantages, rtol=1e-12,
                             atol=1e-12)


def test_inside_an_outer_compiled_function():
  inputs = {k: tf.constant(v) for k, v in
            _inputs(12, 3, np.float32, seed=12).items()}

  @tf.function(jit_compile=True)
  def learner_step(log_rhos, discounts, rewards, values, bootstrap_value):
    output = vtrace.from_importance_weights(log_rhos, discounts, rewards,
                                            values, bootstrap_value)
    return output.vs, output.pg_advantages

  vs, pg_advantages = learner_step(**inputs)
  expected = vtrace.from_importance_weights(**inputs)
  np.testing.assert_allclose(vs, expected.vs, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(pg_advantages, expected.pg_advantages,
                             rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------
# Extra trailing batch dimensions.
# ----------------------------------------------------------------------------


def test_extra_trailing_batch_dimensions():
  inputs = _inputs(9, 3, np.float64, seed=13, extra_dims=(2, 4))
  output = vtrace.from_importance_weights(**inputs, lambda_=0.5)
  assert output.vs.shape == (9, 3, 2, 4)
  for i in range(2):
    for j in range(4):
      sliced = {k: v[..., i, j] for k, v in inputs.items()}
      vs, pg_advantages = _vtrace_eq1(**sliced, clip_rho_threshold=1.0,
                                      clip_pg_rho_threshold=1.0, lambda_=0.5)
      np.testing.assert_allclose(output.vs[..., i, j], vs, rtol=1e-12,
                                 atol=1e-12)
      np.testing.assert_allclose(output.pg_advantages[..., i, j],
                                 pg_advantages, rtol=1e-12, atol=1e-12)


def test_from_logits_with_extra_dimension():
  num_steps, batch_size, extra, num_actions = 5, 2, 3, 4
  rng = np.random.RandomState(14)
  shape = (num_steps, batch_size, extra)
  behaviour_logits = rng.normal(size=shape + (num_actions,)).astype(np.float32)
  target_logits = rng.normal(size=shape + (num_actions,)).astype(np.float32)
  actions = rng.randint(0, num_actions, size=shape)
  inputs = _inputs(num_steps, batch_size, np.float32, seed=15,
                   extra_dims=(extra,))
  del inputs['log_rhos']
  output = vtrace.from_logits(behaviour_logits, target_logits, actions,
                              **inputs)
  log_rhos = (_softmax_log_probs(target_logits, actions) -
              _softmax_log_probs(behaviour_logits, actions))
  np.testing.assert_allclose(output.log_rhos, log_rhos, rtol=1e-5, atol=1e-5)
  vs, _ = _vtrace_eq1(log_rhos, clip_rho_threshold=1.0,
                      clip_pg_rho_threshold=1.0, lambda_=1.0, **inputs)
  np.testing.assert_allclose(output.vs, vs, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------
# Bad input.
# ----------------------------------------------------------------------------


def _bad(name, value):
  inputs = _inputs(6, 4, np.float32, seed=16)
  inputs[name] = value
  return inputs


@pytest.mark.parametrize('name,value,message', [
    ('bootstrap_value', np.zeros((6, 4), np.float32),
     r'bootstrap_value must have rank 1 .*\[6, 4\]'),
    ('bootstrap_value', np.zeros((5,), np.float32),
     r'bootstrap_value must have shape \[B, ...\].*\[4\].*\[5\]'),
    ('values', np.zeros((5, 4), np.float32),
     r'values must have shape \[T, B\] like log_rhos=\[6, 4\]'),
    ('rewards', np.zeros((6, 4, 1), np.float32), 'rewards must have rank 2'),
    ('discounts', np.zeros((6,), np.float32), 'discounts must have rank 2'),
    ('log_rhos', np.zeros((6,), np.float32), 'log_rhos must have rank 2 or'),
    ('log_rhos', np.zeros((0, 4), np.float32), 'log_rhos must have at least'),
])
def test_bad_shapes_raise_naming_the_argument(name, value, message):
  with pytest.raises(ValueError, match=message):
    vtrace.from_importance_weights(**_bad(name, value))


@pytest.mark.parametrize('name,value,message', [
    ('values', tf.zeros([6, 4], tf.float64),
     'values is a float64 tensor but log_rhos is a float32 tensor'),
    ('bootstrap_value', tf.zeros([4], tf.float64),
     'bootstrap_value is a float64 tensor'),
    ('rewards', tf.zeros([6, 4], tf.int32), 'rewards must be float32 or'),
    ('log_rhos', tf.zeros([6, 4], tf.float16), 'log_rhos must be float32 or'),
])
def test_bad_dtypes_raise_naming_the_argument(name, value, message):
  # Tensors, which are never cast (NumPy arrays are converted).
  inputs = {k: tf.constant(v) for k, v in _bad(name, value).items()}
  with pytest.raises(ValueError, match=message):
    vtrace.from_importance_weights(**inputs)


def test_python_lists_take_the_common_dtype():
  inputs = _inputs(3, 2, np.float64, seed=17)
  inputs['rewards'] = inputs['rewards'].tolist()
  inputs['bootstrap_value'] = [0.5, -0.5]
  output = vtrace.from_importance_weights(**inputs)
  assert output.vs.dtype == tf.float64


@pytest.mark.parametrize('kwargs,message', [
    (dict(clip_rho_threshold=-1.0), 'clip_rho_threshold'),
    (dict(clip_pg_rho_threshold=float('nan')), 'clip_pg_rho_threshold'),
    (dict(lambda_=1.5), 'lambda_'),
    (dict(lambda_=tf.zeros([2])), r'lambda_ must have rank 0 \(a scalar\)'),
    (dict(clip_rho_threshold=tf.ones([1])), 'clip_rho_threshold must have rank 0'),
])
def test_bad_hyperparameters_raise(kwargs, message):
  with pytest.raises(ValueError, match=message):
    vtrace.from_importance_weights(**_inputs(3, 2, np.float32, seed=18),
                                   **kwargs)


def test_from_logits_bad_input_raises_naming_the_argument():
  rng = np.random.RandomState(19)
  logits = rng.normal(size=(6, 4, 3)).astype(np.float32)
  actions = rng.randint(0, 3, size=(6, 4))
  inputs = _inputs(6, 4, np.float32, seed=20)
  del inputs['log_rhos']
  with pytest.raises(ValueError, match='behaviour_policy_logits'):
    vtrace.from_logits(logits[..., :2], logits, actions, **inputs)
  with pytest.raises(ValueError, match='policy_logits must have shape'):
    vtrace.from_logits(logits, logits, actions[:5], **inputs)
  with pytest.raises(ValueError, match='actions must be int32 or int64'):
    vtrace.from_logits(logits, logits, actions.astype(np.float32), **inputs)
  with pytest.raises(ValueError, match='target_policy_logits must have shape'):
    vtrace.from_logits(logits[0], logits[0], actions[0], **inputs)
  with pytest.raises(ValueError,
                     match='behaviour_policy_logits is a float64 tensor'):
    vtrace.from_logits(tf.constant(logits, tf.float64), tf.constant(logits),
                       actions, **inputs)


def test_log_probs_from_logits_and_actions():
  rng = np.random.RandomState(21)
  logits = rng.normal(size=(7, 3, 5))
  actions = rng.randint(0, 5, size=(7, 3))
  log_probs = vtrace.log_probs_from_logits_and_actions(logits, actions)
  assert log_probs.dtype == tf.float64 and log_probs.shape == (7, 3)
  np.testing.assert_allclose(log_probs, _softmax_log_probs(logits, actions),
                             rtol=1e-12, atol=1e-12)
  with pytest.raises(ValueError, match='actions must have shape'):
    vtrace.log_probs_from_logits_and_actions(logits[0, 0], actions[0, :1])


# ----------------------------------------------------------------------------
# Compatibility with the release: its dtypes, broadcasting and rank errors.
# ----------------------------------------------------------------------------


def _release_style_inputs(seq_len=5, batch_size=3):
  """The release's test inputs: float32 arrays, discounts a float64 one."""
  def shaped_arange(*shape):
    return np.arange(np.prod(shape), dtype=np.float32).reshape(*shape)
  return dict(
      log_rhos=shaped_arange(seq_len, batch_size) / (batch_size * seq_len),
      discounts=np.array([[0.9 / (b + 1) for b in range(batch_size)]
                          for _ in range(seq_len)]),  # float64
      rewards=shaped_arange(seq_len, batch_size),
      values=shaped_arange(seq_len, batch_size) / batch_size,
      bootstrap_value=shaped_arange(batch_size) + 1.0)


@pytest.mark.parametrize('as_tensors', [False, True])
def test_numpy_float64_beside_float32_is_float32_as_the_release(as_tensors):
  inputs = _release_style_inputs()
  assert inputs['discounts'].dtype == np.float64
  if as_tensors:  # float32 tensors, the float64 discounts a NumPy array.
    inputs = {k: v if v.dtype == np.float64 else tf.constant(v)
              for k, v in inputs.items()}
  output = vtrace.from_importance_weights(
      **inputs, clip_rho_threshold=3.7, clip_pg_rho_threshold=2.2)
  assert output.vs.dtype == tf.float32
  assert output.pg_advantages.dtype == tf.float32
  vs, pg_advantages = _vtrace_eq1(
      **{k: np.float32(v) for k, v in _release_style_inputs().items()},
      clip_rho_threshold=3.7, clip_pg_rho_threshold=2.2, lambda_=1.0)
  np.testing.assert_allclose(output.vs, vs, rtol=1e-5)
  np.testing.assert_allclose(output.pg_advantages, pg_advantages, rtol=1e-5)


def test_from_logits_numpy_float64_beside_float32_is_float32():
  rng = np.random.RandomState(22)
  seq_len, batch_size, num_actions = 5, 3, 4
  behaviour = rng.normal(size=(seq_len, batch_size, num_actions))  # float64
  target = tf.constant(rng.normal(size=behaviour.shape), tf.float32)
  actions = rng.randint(0, num_actions, size=(seq_len, batch_size)).astype(
      np.int32)
  inputs = _release_style_inputs(seq_len, batch_size)
  del inputs['log_rhos']
  output = vtrace.from_logits(behaviour, target, actions, **inputs)
  for value in output:
    assert value.dtype == tf.float32
  log_rhos = (_softmax_log_probs(target.numpy(), actions) -
              _softmax_log_probs(np.float32(behaviour), actions))
  np.testing.assert_allclose(output.log_rhos, log_rhos, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('as_tensors', [False, True])
def test_float64_throughout_stays_float64(as_tensors):
  inputs = _inputs(6, 4, np.float64, seed=23)
  if as_tensors:
    inputs = {k: tf.constant(v) for k, v in inputs.items()}
  inputs['bootstrap_value'] = np.asarray(inputs['bootstrap_value']).tolist()
  output = vtrace.from_importance_weights(**inputs, lambda_=0.5)
  assert output.vs.dtype == tf.float64
  vs, pg_advantages = _vtrace_eq1(
      **_inputs(6, 4, np.float64, seed=23), clip_rho_threshold=1.0,
      clip_pg_rho_threshold=1.0, lambda_=0.5)
  np.testing.assert_allclose(output.vs, vs, rtol=1e-12, atol=1e-12)
  np.testing.assert_allclose(output.pg_advantages, pg_advantages, rtol=1e-12,
                             atol=1e-12)


def test_float32_arrays_beside_float64_tensors_are_float64():
  """A float64 tensor decides; float32 arrays convert without loss."""
  inputs = _inputs(4, 2, np.float32, seed=24)
  inputs['values'] = tf.constant(inputs['values'], tf.float64)
  assert vtrace.from_importance_weights(**inputs).vs.dtype == tf.float64


def _broadcast_inputs(seed, extra=5, unit=('log_rhos', 'discounts')):
  """log_rhos and discounts [T, B, 1]; rewards, values [T, B, K]."""
  inputs = _inputs(7, 3, np.float32, seed=seed, extra_dims=(extra,))
  for name in unit:
    inputs[name] = inputs[name][..., :1]
  return inputs


@pytest.mark.parametrize('use_xla', [True, False])
@pytest.mark.parametrize('unit', [('log_rhos', 'discounts'), ('log_rhos',),
                                  ('discounts', 'rewards')])
def test_size_one_trailing_dimensions_broadcast_as_the_release(use_xla, unit):
  inputs = _broadcast_inputs(seed=25, unit=unit)
  output = vtrace.from_importance_weights(
      **inputs, clip_rho_threshold=1.5, clip_pg_rho_threshold=None,
      use_xla=use_xla)
  assert output.vs.shape == (7, 3, 5)
  broadcast = {k: np.broadcast_to(v, (7, 3, 5)) if v.ndim == 3 else v
               for k, v in inputs.items()}
  vs, pg_advantages = _vtrace_eq1(**broadcast, clip_rho_threshold=1.5,
                                  clip_pg_rho_threshold=None, lambda_=1.0)
  np.testing.assert_allclose(output.vs, vs, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(output.pg_advantages, pg_advantages, rtol=1e-5,
                             atol=1e-5)


@pytest.mark.parametrize('use_xla', [True, False])
def test_broadcasting_in_a_session_graph_with_unknown_dimensions(use_xla):
  """The release's test_higher_rank_inputs_for_importance_weights, run."""
  with tf.Graph().as_default() as graph:
    placeholders = dict(
        log_rhos=tf.compat.v1.placeholder(tf.float32, [None, None, 1]),
        discounts=tf.compat.v1.placeholder(tf.float32, [None, None, 1]),
        rewards=tf.compat.v1.placeholder(tf.float32, [None, None, 42]),
        values=tf.compat.v1.placeholder(tf.float32, [None, None, 42]),
        bootstrap_value=tf.compat.v1.placeholder(tf.float32, [None, 42]))
    output = vtrace.from_importance_weights(**placeholders, use_xla=use_xla)
    assert output.vs.shape.as_list()[-1] == 42
    with tf.compat.v1.Session(graph=graph) as session:
      inputs = _broadcast_inputs(seed=26, extra=42)
      result = session.run(
          output, {placeholders[k]: v for k, v in inputs.items()})
      vs, _ = _vtrace_eq1(
          **{k: np.broadcast_to(v, (7, 3, 42)) if v.ndim == 3 else v
             for k, v in inputs.items()},
          clip_rho_threshold=1.0, clip_pg_rho_threshold=1.0, lambda_=1.0)
      np.testing.assert_allclose(result.vs, vs, rtol=1e-5, atol=1e-5)
      inputs['bootstrap_value'] = inputs['bootstrap_value'][:2]
      with pytest.raises(tf.errors.InvalidArgumentError,
                         match='bootstrap_value must have shape'):
        session.run(output, {placeholders[k]: v for k, v in inputs.items()})


@pytest.mark.parametrize('changes,message', [
    # The release's test_inconsistent_rank_inputs_for_importance_weights.
    (dict(bootstrap_value=[None]), 'bootstrap_value must have rank 2'),
    (dict(values=[None, None]), 'values must have rank 3'),
    (dict(rewards=[None, None, 42, 1]), 'rewards must have rank 3'),
    (dict(discounts=[None, None]), 'discounts must have rank 3'),
    (dict(log_rhos=[None]), 'log_rhos must have rank 2 or more'),
    (dict(log_rhos=None), 'log_rhos must have rank 2 or more'),
    (dict(log_rhos=[None, None, 3]), r'log_rhos must have shape .*\[None, None, 3\]'),
    (dict(bootstrap_value=[None, 41]), 'bootstrap_value must have shape'),
])
def test_inconsistent_ranks_raise_naming_the_argument(changes, message):
  shapes = dict(log_rhos=[None, None, 1], discounts=[None, None, 1],
                rewards=[None, None, 42], values=[None, None, 42],
                bootstrap_value=[None, 42])
  shapes.update(changes)
  with tf.Graph().as_default():
    placeholders = {k: tf.compat.v1.placeholder(tf.float32, shape)
                    for k, shape in shapes.items()}
    with pytest.raises(ValueError, match=message):
      vtrace.from_importance_weights(**placeholders)
