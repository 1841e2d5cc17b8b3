# Copyright 2025 The impala-tf authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     https://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""V-trace off-policy actor-critic targets (IMPALA, paper section 4).

Espeholt, Soyer, Munos et al., "IMPALA: Scalable Distributed Deep-RL with
Importance Weighted Actor-Learner Architectures", ICML 2018, arXiv 1802.01561.

The public API is that of the IMPALA release (`deepmind/scalable_agent`), so
that code written against it can switch: `log_probs_from_logits_and_actions`,
`from_logits` returning `VTraceFromLogitsReturns`, `from_importance_weights`
returning `VTraceReturns`. Added: the paper's lambda (Remark 2) as the keyword
`lambda_`, float64 results for float64 inputs, the keyword `use_xla`, and the three other
corrections of the paper's ablation (section 5.2.1, Table 2) beside
`from_logits`, with its inputs and outputs: `one_step_from_logits`,
`epsilon_correction_from_logits`, `no_correction_from_logits`
(`OFF_POLICY_CORRECTIONS` maps `--off_policy_correction` to them).

Notation (time-major, as everywhere past the actor): T is the unroll length,
B the batch size, A the number of actions. Every tensor may carry the same
extra trailing batch dimensions, e.g. rewards [T, B, C], values [T, B, C],
bootstrap_value [B, C]. In `from_importance_weights`, as in the release,
log_rhos, discounts and rewards may have 1 where values has C: log_rhos
[T, B, 1] broadcasts against values [T, B, C] (bootstrap_value [B, C]).

Dtypes, compatible with the release (which converted every float argument
to float32 with `tf.convert_to_tensor(x, dtype=tf.float32)`): the float
arguments (the sequences, bootstrap_value and the logits) are computed in
one dtype, the first of these that applies:
  1. if any of them is a tensor (or variable), its dtype (float32 or
     float64; tensors are never cast, so all tensors must share it);
  2. else float64, if every NumPy float array among them is float64 (a
     caller in float64 throughout keeps float64);
  3. else float32, as the release.
NumPy arrays (of any numeric dtype), NumPy scalars, Python numbers and
lists are converted to that dtype: a NumPy float64 array beside float32
tensors is float32, as in the release. The results have that dtype.
Shapes are checked as the release checked them (log_rhos of known rank,
discounts, rewards and values of the same rank, bootstrap_value of one
less, the thresholds scalars), and more closely: a ValueError names the
argument, the expected rank or shape, and the shape it has.

The V-trace target of state x_s is, with per-step discounts gamma_i
(0 where an episode ended) and n = T - s (paper eq. (1)):

  v_s = V(x_s) + sum_{t=s}^{T-1} (prod_{i=s}^{t-1} gamma_i c_i) delta_t V,
  delta_t V = rho_t (r_t + gamma_t V(x_{t+1}) - V(x_t)),
  rho_t = min(rho_bar, pi(a_t|x_t) / mu(a_t|x_t)),
  c_i = lambda * min(c_bar, pi(a_i|x_i) / mu(a_i|x_i)),  c_bar = 1,

with V(x_T) = bootstrap_value. It is computed with the backward recursion of
Remark 1,

  v_s - V(x_s) = delta_s V + gamma_s c_s (v_{s+1} - V(x_{s+1})),

which runs as one XLA-compiled function (`tf.function(jit_compile=True)`),
both eagerly and inside a `tf.compat.v1` graph run by a Session. The policy
gradient advantage of section 4.2 is

  pg_advantage_s = min(rho_bar_pg, pi/mu) (r_s + gamma_s v_{s+1} - V(x_s)),

with v_T = bootstrap_value.
"""

import collections
import math
import numbers

import numpy as np
import tensorflow as tf


VTraceReturns = collections.namedtuple('VTraceReturns', 'vs pg_advantages')

VTraceFromLogitsReturns = collections.namedtuple(
    'VTraceFromLogitsReturns',
    ['vs', 'pg_advantages', 'log_rhos', 'behaviour_action_log_probs',
     'target_action_log_probs'])

_FLOAT_DTYPES = (tf.float32, tf.float64)


# ----------------------------------------------------------------------------
# Argument checking.
# ----------------------------------------------------------------------------


def _float_tensor_dtype(x):
  """The dtype of `x` if it is a tensor (or variable), else None."""
  return tf.as_dtype(x.dtype) if tf.is_tensor(x) else None


def _result_dtype(named_args):
  """The dtype the float arguments are computed in, and where it came from.

  The rule (module docstring): a tensor's own dtype if any argument is a
  tensor; else float64 if every NumPy float argument is float64 (at least
  one); else float32, as the release (which converted everything to
  float32).

  Args:
    named_args: sequence of (name, value) pairs.

  Returns:
    (dtype, name of the argument it came from, or None).
  """
  for arg_name, x in named_args:
    dtype = _float_tensor_dtype(x)
    if dtype is not None and dtype.is_floating:
      return dtype, arg_name
  numpy_floats = [
      (arg_name, x) for arg_name, x in named_args
      if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind == 'f']
  if numpy_floats and all(x.dtype == np.float64 for _, x in numpy_floats):
    return tf.float64, numpy_floats[0][0]
  return tf.float32, None


def _to_float_tensor(x, arg_name, dtype, dtype_source=None):
  """Converts `x` to a float tensor of `dtype` (see `_result_dtype`).

  NumPy values, Python numbers and lists are converted to `dtype`, as the
  release converted them to float32. A tensor is never cast: it must have
  `dtype` already, else a ValueError names it.
  """
  if not tf.is_tensor(x):
    return tf.convert_to_tensor(np.asarray(x), dtype=dtype)
  if x.dtype not in _FLOAT_DTYPES:
    raise ValueError(f'{arg_name} must be float32 or float64 but has dtype '
                     f'{x.dtype.name}.')
  if x.dtype != dtype:
    raise ValueError(
        f'{arg_name} is a {x.dtype.name} tensor but {dtype_source} is a '
        f'{dtype.name} tensor: tensors must share one dtype (NumPy arrays and '
        'Python values are converted to it).')
  return tf.convert_to_tensor(x)


def _shape_str(shape):
  return str(tf.TensorShape(shape).as_list()
             if tf.TensorShape(shape).rank is not None else 'unknown rank')


def _check_rank(x, arg_name, rank, expected_desc):
  """The release's rank checks, naming the argument and the rank."""
  if x.shape.rank != rank:
    raise ValueError(
        f'{arg_name} must have rank {rank} ({expected_desc}) but has shape '
        f'{_shape_str(x.shape)}.')


def _check_shape(x, arg_name, full, expected_desc, broadcast=False):
  """Raises ValueError unless `x.shape` fits `full`, a static shape (ranks
  already match). With `broadcast`, each dimension after the first two may
  also be 1."""
  full = tf.TensorShape(full)
  ok = x.shape.is_compatible_with(full)
  if broadcast and not ok:
    ok = x.shape[:2].is_compatible_with(full[:2]) and all(
        d in (None, 1) or f is None or d == f
        for d, f in zip(x.shape[2:], full[2:]))
  if not ok:
    raise ValueError(
        f'{arg_name} must have shape {expected_desc}={_shape_str(full)} '
        f'but has shape {_shape_str(x.shape)}.')


def _shape_assert(x, arg_name, expected_desc, ref, broadcast=False):
  """The run-time `_check_shape` for dimensions unknown until the graph runs
  (v1 placeholders with None dims): an assert op against `ref`, the
  expected shape as a tensor."""
  shape = tf.shape(x, out_type=ref.dtype)
  same = tf.equal(shape, ref)
  if broadcast:
    same = tf.concat([same[:2], same[2:] | tf.equal(shape[2:], 1)], 0)
  return tf.debugging.Assert(
      tf.reduce_all(same),
      [f'{arg_name} must have shape {expected_desc} but has shape', shape,
       'instead of', ref])


def _scalar_hyperparameter(value, arg_name, dtype, none_value, low, high):
  """Validates a threshold or lambda; returns a Python float or a tensor."""
  if value is None:
    return none_value
  if isinstance(value, numbers.Real) and not isinstance(value, bool):
    value = float(value)
    if not low <= value <= high or math.isnan(value):
      raise ValueError(f'{arg_name} must lie in [{low}, {high}] but is '
                       f'{value}.')
    return value
  value = tf.convert_to_tensor(value)
  if value.shape.rank not in (None, 0):
    raise ValueError(f'{arg_name} must have rank 0 (a scalar) but has shape '
                     f'{_shape_str(value.shape)}.')
  return tf.stop_gradient(tf.cast(value, dtype))


# ----------------------------------------------------------------------------
# The compiled core.
# ----------------------------------------------------------------------------


def _vtrace_core(log_rhos, discounts, rewards, values, bootstrap_value,
                 clip_rho_threshold, clip_pg_rho_threshold, lambda_):
  """V-trace on checked tensors; traced once per (dtype, rank, use_xla).

  Shapes: [T, B, ...] for the first four, [B, ...] for bootstrap_value;
  scalars of the same dtype for the rest (no clipping is +inf).

  Returns:
    vs, pg_advantages, both [T, B, ...].
  """
  rhos = tf.exp(log_rhos)
  clipped_rhos = tf.minimum(clip_rho_threshold, rhos)        # rho_t, eq. (1)
  cs = lambda_ * tf.minimum(tf.ones_like(rhos), rhos)       # c_i, Remark 2
  # V(x_{t+1}) for t = 0..T-1, with V(x_T) = bootstrap_value.
  values_t_plus_1 = tf.concat([values[1:], bootstrap_value[None]], axis=0)
  deltas = clipped_rhos * (rewards + discounts * values_t_plus_1 - values)

  # Remark 1: v_s - V(x_s) = delta_s + gamma_s c_s (v_{s+1} - V(x_{s+1})),
  # run backwards from v_T - V(x_T) = 0. Under XLA this is one while loop.
  def step(vs_minus_v_next, elems):
    delta_s, discount_c_s = elems
    return delta_s + discount_c_s * vs_minus_v_next

  vs_minus_v_xs = tf.scan(
      step, (deltas, discounts * cs),
      initializer=tf.zeros_like(bootstrap_value),
      reverse=True)
  vs = values + vs_minus_v_xs

  # Section 4.2: advantage for the policy gradient, with v_T = bootstrap.
  vs_t_plus_1 = tf.concat([vs[1:], bootstrap_value[None]], axis=0)
  clipped_pg_rhos = tf.minimum(clip_pg_rho_threshold, rhos)
  pg_advantages = clipped_pg_rhos * (rewards + discounts * vs_t_plus_1 - values)
  return vs, pg_advantages


# One tf.function per (dtype, rank, use_xla), each with an input signature of
# unknown dims so that it is traced once (per graph) and never retraced for
# new T or B; XLA compiles and caches one executable per concrete shape.
_FUNCTIONS = {}
# Eagerly, calling a ConcreteFunction directly skips tf.function's argument
# matching, which is most of the call overhead.
_CONCRETE_FUNCTIONS = {}


def _core_function(dtype, rank, use_xla):
  """The compiled (or, without use_xla, plain) `_vtrace_core` to call."""
  key = (dtype, rank, bool(use_xla))
  if key not in _FUNCTIONS:
    seq = tf.TensorSpec([None] * rank, dtype)
    scalar = tf.TensorSpec([], dtype)
    signature = [seq, seq, seq, seq, tf.TensorSpec([None] * (rank - 1), dtype),
                 scalar, scalar, scalar]
    _FUNCTIONS[key] = tf.function(
        _vtrace_core, input_signature=signature, jit_compile=bool(use_xla),
        autograph=False)
  function = _FUNCTIONS[key]
  if tf.executing_eagerly():
    if key not in _CONCRETE_FUNCTIONS:
      _CONCRETE_FUNCTIONS[key] = function.get_concrete_function()
    return _CONCRETE_FUNCTIONS[key]
  return function


# ----------------------------------------------------------------------------
# Public API.
# ----------------------------------------------------------------------------


def log_probs_from_logits_and_actions(policy_logits, actions):
  """Log-probability of each taken action under a softmax policy.

  Args:
    policy_logits: float32 or float64 tensor of shape [T, B, A] (or
      [T, B, ..., A]) with un-normalised log-probabilities.
    actions: int32 or int64 tensor of shape [T, B] (or [T, B, ...]) with the
      actions taken, in [0, A).

  Returns:
    Tensor of shape [T, B] (or [T, B, ...]): log pi(a_t|x_t), in the dtype
    of `policy_logits` if a tensor or a float64 NumPy array, else float32 (as
    the release). It carries gradients to `policy_logits`.

  Raises:
    ValueError: on a rank or shape mismatch, or a non-float / non-integer
      dtype, naming the argument.
  """
  dtype, _ = _result_dtype([('policy_logits', policy_logits)])
  policy_logits = _to_float_tensor(policy_logits, 'policy_logits', dtype)
  if not tf.is_tensor(actions):
    actions = np.asarray(actions)
    if actions.dtype.kind in 'iu':
      actions = actions.astype(np.int64 if actions.dtype.itemsize > 4
                               else np.int32)
  actions = tf.convert_to_tensor(actions)
  if actions.dtype not in (tf.int32, tf.int64):
    raise ValueError(f'actions must be int32 or int64 but has dtype '
                     f'{actions.dtype.name}.')
  if actions.shape.rank is None or actions.shape.rank < 2:
    raise ValueError('actions must have shape [T, B] (or [T, B, ...]) but '
                     f'has shape {_shape_str(actions.shape)}.')
  if policy_logits.shape.rank != actions.shape.rank + 1:
    raise ValueError(
        'policy_logits must have shape [T, B, A] (one more dimension than '
        f'actions, {_shape_str(actions.shape)}) but has shape '
        f'{_shape_str(policy_logits.shape)}.')
  if not policy_logits.shape[:-1].is_compatible_with(actions.shape):
    raise ValueError(
        f'policy_logits must have shape [T, B, A] with [T, B]='
        f'{_shape_str(actions.shape)} as in actions but has shape '
        f'{_shape_str(policy_logits.shape)}.')
  return -tf.nn.sparse_softmax_cross_entropy_with_logits(
      logits=policy_logits, labels=actions)



def _action_log_probs(behaviour_policy_logits, target_policy_logits, actions,
                      discounts, rewards, values, bootstrap_value):
  """(log mu(a_t|x_t), log pi(a_t|x_t)), each [T, B], after the checks.

  The float arguments must share one dtype; the logits [T, B, A] alike.
  """
  dtype, source = _result_dtype([
      ('target_policy_logits', target_policy_logits),
      ('behaviour_policy_logits', behaviour_policy_logits),
      ('values', values), ('rewards', rewards), ('discounts', discounts),
      ('bootstrap_value', bootstrap_value)])
  target_policy_logits = _to_float_tensor(
      target_policy_logits, 'target_policy_logits', dtype, source)
  behaviour_policy_logits = _to_float_tensor(
      behaviour_policy_logits, 'behaviour_policy_logits', dtype, source)
  if target_policy_logits.shape.rank is None:
    raise ValueError('target_policy_logits must have a known rank '
                     '([T, B, A]).')
  if target_policy_logits.shape.rank < 3:
    raise ValueError(
        'target_policy_logits must have shape [T, B, A] but has shape '
        f'{_shape_str(target_policy_logits.shape)}.')
  _check_shape(behaviour_policy_logits, 'behaviour_policy_logits',
               target_policy_logits.shape,
               '[T, B, A] like target_policy_logits')
  return (log_probs_from_logits_and_actions(behaviour_policy_logits, actions),
          log_probs_from_logits_and_actions(target_policy_logits, actions))


def from_logits(behaviour_policy_logits,
                target_policy_logits,
                actions,
                discounts,
                rewards,
                values,
                bootstrap_value,
                clip_rho_threshold=1.0,
                clip_pg_rho_threshold=1.0,
                lambda_=1.0,
                name='vtrace_from_logits',
                use_xla=True):
  r"""V-trace for softmax policies (paper section 4.1 and 4.2).

  Computes log rho_t = log pi(a_t|x_t) - log mu(a_t|x_t) from the two
  policies' logits and calls `from_importance_weights`.

  Args:
    behaviour_policy_logits: [T, B, A] float tensor, logits of the behaviour
      policy mu the actors sampled from.
    target_policy_logits: [T, B, A] float tensor, logits of the target
      policy pi (the learner's current policy).
    actions: [T, B] int32/int64 tensor of the actions sampled from mu.
    discounts: [T, B] float tensor, gamma_t (0 where an episode ended).
    rewards: [T, B] float tensor, r_t.
    values: [T, B] float tensor, V(x_t) under the target policy's baseline.
    bootstrap_value: [B] float tensor, V(x_T).
    clip_rho_threshold: rho_bar of eq. (1), a scalar; None: no clipping.
    clip_pg_rho_threshold: rho_bar of the policy-gradient advantage
      (section 4.2), a scalar; None: no clipping.
    lambda_: the lambda of Remark 2, c_i = lambda_ * min(1, rho_i).
    name: name scope of the ops.
    use_xla: whether the recursion runs XLA-compiled (default) or as plain
      TensorFlow ops (a tf.function without jit_compile).

  The float arguments are computed in one dtype, float32 or float64: that of
  the tensors among them, else float64 if all NumPy float arrays are, else
  float32 (module docstring). Every tensor may carry the same extra trailing
  batch dimensions (logits then [T, B, ..., A], actions [T, B, ...],
  bootstrap_value [B, ...]).

  Returns:
    VTraceFromLogitsReturns(vs, pg_advantages, log_rhos,
    behaviour_action_log_probs, target_action_log_probs), each [T, B].
    `vs` and `pg_advantages` carry no gradient; the three log-probability
    tensors do (to their logits).

  Raises:
    ValueError: on a shape or dtype error, naming the argument.
  """
  with tf.name_scope(name):
    behaviour_action_log_probs, target_action_log_probs = _action_log_probs(
        behaviour_policy_logits, target_policy_logits, actions, discounts,
        rewards, values, bootstrap_value)
    log_rhos = target_action_log_probs - behaviour_action_log_probs
    vtrace_returns = from_importance_weights(
        log_rhos=log_rhos,
        discounts=discounts,
        rewards=rewards,
        values=values,
        bootstrap_value=bootstrap_value,
        clip_rho_threshold=clip_rho_threshold,
        clip_pg_rho_threshold=clip_pg_rho_threshold,
        lambda_=lambda_,
        use_xla=use_xla)
    return VTraceFromLogitsReturns(
        vs=vtrace_returns.vs,
        pg_advantages=vtrace_returns.pg_advantages,
        log_rhos=log_rhos,
        behaviour_action_log_probs=behaviour_action_log_probs,
        target_action_log_probs=target_action_log_probs)


def from_importance_weights(log_rhos,
                            discounts,
                            rewards,
                            values,
                            bootstrap_value,
                            clip_rho_threshold=1.0,
                            clip_pg_rho_threshold=1.0,
                            lambda_=1.0,
                            name='vtrace_from_importance_weights',
                            use_xla=True):
  r"""V-trace targets and policy-gradient advantages from log-ratios.

  vs[s] is the V-trace target v_s of paper eq. (1) with n = T - s, computed
  by the backward recursion of Remark 1,

    v_s - V(x_s) = delta_s V + gamma_s c_s (v_{s+1} - V(x_{s+1})),
    delta_s V = rho_s (r_s + gamma_s V(x_{s+1}) - V(x_s)),

  with rho_s = min(clip_rho_threshold, exp(log_rhos[s])),
  c_s = lambda_ * min(1, exp(log_rhos[s])) (Remark 2; c_bar = 1 as in the
  release) and V(x_T) = bootstrap_value. pg_advantages[s] is the advantage
  of the policy gradient in section 4.2,

    min(clip_pg_rho_threshold, exp(log_rhos[s])) (r_s + gamma_s v_{s+1}
    - V(x_s)),  with v_T = bootstrap_value.

  Args:
    log_rhos: [T, B] float tensor, log pi(a_t|x_t) - log mu(a_t|x_t).
    discounts: [T, B] float tensor, gamma_t (0 where an episode ended).
    rewards: [T, B] float tensor, r_t.
    values: [T, B] float tensor, V(x_t).
    bootstrap_value: [B] float tensor, V(x_T).
    clip_rho_threshold: rho_bar of eq. (1), a scalar; None: no clipping.
    clip_pg_rho_threshold: rho_bar of the policy-gradient advantage, a
      scalar; None: no clipping.
    lambda_: the lambda of Remark 2, a scalar in [0, 1].
    name: name scope of the ops.
    use_xla: whether the recursion runs XLA-compiled (default) or as plain
      TensorFlow ops (a tf.function without jit_compile).

  The five are computed in one dtype, float32 or float64: that of the
  tensors among them (all tensors must share it), else float64 if every
  NumPy float array among them is float64, else float32 as in the release;
  NumPy values, Python numbers and lists are converted to it (module
  docstring). They may carry extra trailing batch dimensions: values
  [T, B, ...] and bootstrap_value [B, ...], log_rhos, discounts and rewards
  the same or 1 in any of them (broadcast, as in the release: log_rhos
  [T, B, 1] with values [T, B, C]). Dimensions may be unknown when a v1
  graph is built (placeholders); they are then checked when the graph runs.

  Returns:
    VTraceReturns(vs, pg_advantages), both [T, B] (or [T, B, ...], the shape
    of values), in the computed dtype. They carry no gradient
    (tf.stop_gradient), as in the release.

  Raises:
    ValueError: on a rank, shape or dtype error, naming the argument: as the
      release, a rank other than log_rhos' ("must have rank N"), a
      bootstrap_value not of rank N - 1, non-scalar thresholds.
  """
  with tf.name_scope(name):
    named = [('log_rhos', log_rhos), ('discounts', discounts),
             ('rewards', rewards), ('values', values),
             ('bootstrap_value', bootstrap_value)]
    dtype, source = _result_dtype(named)
    (log_rhos, discounts, rewards, values, bootstrap_value) = [
        _to_float_tensor(x, arg_name, dtype, source) for arg_name, x in named]

    # The release's rank checks: every sequence has the rank of log_rhos,
    # bootstrap_value one less (the thresholds are checked below).
    rank = log_rhos.shape.rank
    if rank is None or rank < 2:
      raise ValueError('log_rhos must have rank 2 or more ([T, B] or '
                       f'[T, B, ...]) but has shape '
                       f'{_shape_str(log_rhos.shape)}.')
    for x, arg_name in ((discounts, 'discounts'), (rewards, 'rewards'),
                        (values, 'values')):
      _check_rank(x, arg_name, rank, 'that of log_rhos, [T, B, ...]')
    _check_rank(bootstrap_value, 'bootstrap_value', rank - 1,
                'one less than log_rhos, [B, ...]')
    if log_rhos.shape[0] == 0:
      raise ValueError('log_rhos must have at least one time step (T >= 1).')
    # The shapes: [T, B] of log_rhos, then values' trailing dimensions, in
    # which log_rhos, discounts and rewards may have 1s (they broadcast, as
    # in the release). Where a dimension is unknown until the graph runs
    # (placeholders), the shapes are also compared at run time, so that
    # nothing broadcasts further.
    full = log_rhos.shape[:2].concatenate(values.shape[2:])
    ref = None
    if not all(x.shape.is_fully_defined()
               for x in (log_rhos, discounts, rewards, values,
                         bootstrap_value)):
      ref = tf.concat([tf.shape(log_rhos)[:2], tf.shape(values)[2:]], 0)
    sequence_desc = ('[T, B] like log_rhos' if rank == 2 else
                     '[T, B, ...] (log_rhos\' [T, B], then values\' '
                     'dimensions or 1)')
    checks = [(log_rhos, 'log_rhos', sequence_desc, True),
              (discounts, 'discounts', sequence_desc, True),
              (rewards, 'rewards', sequence_desc, True),
              (values, 'values', sequence_desc, False)]
    for x, arg_name, desc, broadcast in checks:
      _check_shape(x, arg_name, full, desc, broadcast)
      full = full[:2].merge_with(x.shape[:2]).concatenate(full[2:])
    bootstrap_desc = '[B, ...] (values.shape[1:])'
    _check_shape(bootstrap_value, 'bootstrap_value', full[1:], bootstrap_desc)
    asserts = []
    if ref is not None:
      asserts = [_shape_assert(x, arg_name, desc, ref, broadcast)
                 for x, arg_name, desc, broadcast in checks]
      asserts.append(_shape_assert(bootstrap_value, 'bootstrap_value',
                                   bootstrap_desc, ref[1:]))

    clip_rho_threshold = _scalar_hyperparameter(
        clip_rho_threshold, 'clip_rho_threshold', dtype, math.inf, 0.0,
        math.inf)
    clip_pg_rho_threshold = _scalar_hyperparameter(
        clip_pg_rho_threshold, 'clip_pg_rho_threshold', dtype, math.inf, 0.0,
        math.inf)
    lambda_ = _scalar_hyperparameter(lambda_, 'lambda_', dtype, 1.0, 0.0, 1.0)

    inputs = [log_rhos, discounts, rewards, values, bootstrap_value]
    if asserts:
      with tf.control_dependencies(asserts):
        inputs = [tf.identity(x) for x in inputs]
    # vs and pg_advantages are constants for the optimiser, as in the
    # release. Stopping the gradient at the inputs also keeps a GradientTape
    # from recording the compiled call (whose while loop cannot leave XLA).
    inputs = [tf.stop_gradient(x) for x in inputs]
    function = _core_function(dtype, rank, use_xla)
    vs, pg_advantages = function(*inputs, clip_rho_threshold,
                                 clip_pg_rho_threshold, lambda_)
    # Stopping at the outputs too keeps graph-mode tf.gradients (the
    # learner's) from asking for the compiled call's own gradient function.
    return VTraceReturns(vs=tf.stop_gradient(vs),
                         pg_advantages=tf.stop_gradient(pg_advantages))


# ----------------------------------------------------------------------------
# The other corrections of the ablation (paper section 5.2.1, Table 2).
# ----------------------------------------------------------------------------
#
# Same inputs and outputs as `from_logits`. In all three the value target
# `vs` is the on-policy n-step return (eq. (2)), V-trace with rho = c = 1:
#
#   v_s = sum_{t=s}^{T-1} (prod_{i=s}^{t-1} gamma_i) r_t
#         + (prod_{i=s}^{T-1} gamma_i) V(x_T),
#
# and the policy gradient's advantage is r_s + gamma_s v_{s+1} - V(x_s)
# (v_T = bootstrap_value), times rho_s for 1-step importance sampling. The
# learner's policy-gradient loss is -sum target_action_log_probs *
# pg_advantages, so that a correction of log pi (epsilon) goes through it.


def _on_policy_from_logits(behaviour_policy_logits, target_policy_logits,
                           actions, discounts, rewards, values,
                           bootstrap_value, use_xla):
  """The returns of a trajectory taken as on-policy (log_rhos kept as is)."""
  behaviour_action_log_probs, target_action_log_probs = _action_log_probs(
      behaviour_policy_logits, target_policy_logits, actions, discounts,
      rewards, values, bootstrap_value)
  log_rhos = target_action_log_probs - behaviour_action_log_probs
  on_policy = from_importance_weights(
      tf.zeros_like(log_rhos), discounts, rewards, values, bootstrap_value,
      use_xla=use_xla)
  return VTraceFromLogitsReturns(
      vs=on_policy.vs, pg_advantages=on_policy.pg_advantages,
      log_rhos=log_rhos,
      behaviour_action_log_probs=behaviour_action_log_probs,
      target_action_log_probs=target_action_log_probs)


def one_step_from_logits(behaviour_policy_logits, target_policy_logits,
                         actions, discounts, rewards, values, bootstrap_value,
                         clip_pg_rho_threshold=1.0,
                         name='one_step_from_logits', use_xla=True):
  """1-step importance sampling (section 5.2.1, Table 2 "1-Step").

  "No off-policy correction when optimising V(x). For the policy gradient,
  multiply the advantage at each time step by the corresponding importance
  weight": V-trace without the traces. With rho_s = min(rho_bar,
  pi(a_s|x_s) / mu(a_s|x_s)) (rho_bar = 1 as in the paper's runs),

    vs[s] = the on-policy n-step return v_s (eq. (2)),
    pg_advantages[s] = rho_s (r_s + gamma_s v_{s+1} - V(x_s)).

  Args: those of `from_logits`; clip_pg_rho_threshold is rho_bar (None: no
    clipping).

  Returns:
    VTraceFromLogitsReturns, each [T, B], as `from_logits`.
  """
  with tf.name_scope(name):
    returns = _on_policy_from_logits(
        behaviour_policy_logits, target_policy_logits, actions, discounts,
        rewards, values, bootstrap_value, use_xla)
    rho_bar = _scalar_hyperparameter(
        clip_pg_rho_threshold, 'clip_pg_rho_threshold', returns.vs.dtype,
        math.inf, 0.0, math.inf)
    rhos = tf.minimum(tf.exp(tf.stop_gradient(returns.log_rhos)), rho_bar)
    return returns._replace(pg_advantages=rhos * returns.pg_advantages)


def epsilon_correction_from_logits(behaviour_policy_logits,
                                   target_policy_logits, actions, discounts,
                                   rewards, values, bootstrap_value,
                                   epsilon=1e-6,
                                   name='epsilon_correction_from_logits',
                                   use_xla=True):
  """The epsilon-correction (section 5.2.1, Table 2 "epsilon-correction").

  "Add a small value (epsilon = 1e-6) during gradient calculation to prevent
  log pi(a) from becoming very small and leading to numerical
  instabilities" (as Babaeizadeh et al., 2016). No importance weights:

    vs[s] = the on-policy n-step return v_s (eq. (2)),
    pg_advantages[s] = r_s + gamma_s v_{s+1} - V(x_s),
    target_action_log_probs[s] = log(pi(a_s|x_s) + epsilon),

  the last one the log-probability that the policy gradient follows.

  Args: those of `from_logits`; epsilon >= 0.

  Returns:
    VTraceFromLogitsReturns, each [T, B], as `from_logits`; log_rhos is
    still log pi - log mu (without epsilon).
  """
  with tf.name_scope(name):
    returns = _on_policy_from_logits(
        behaviour_policy_logits, target_policy_logits, actions, discounts,
        rewards, values, bootstrap_value, use_xla)
    log_pi = returns.target_action_log_probs
    epsilon = _scalar_hyperparameter(epsilon, 'epsilon', log_pi.dtype, 0.0,
                                     0.0, math.inf)
    return returns._replace(
        target_action_log_probs=tf.math.log(tf.exp(log_pi) + epsilon))


def no_correction_from_logits(behaviour_policy_logits, target_policy_logits,
                              actions, discounts, rewards, values,
                              bootstrap_value, name='no_correction_from_logits',
                              use_xla=True):
  """No correction (section 5.2.1, Table 2 "No-correction").

  "No off-policy correction, e.g. as if the data were on-policy":

    vs[s] = the on-policy n-step return v_s (eq. (2)),
    pg_advantages[s] = r_s + gamma_s v_{s+1} - V(x_s).

  Returns:
    VTraceFromLogitsReturns, each [T, B], as `from_logits`.
  """
  with tf.name_scope(name):
    return _on_policy_from_logits(
        behaviour_policy_logits, target_policy_logits, actions, discounts,
        rewards, values, bootstrap_value, use_xla)


# `--off_policy_correction`: the four rows of Table 2, same inputs and outputs.
OFF_POLICY_CORRECTIONS = {
    'vtrace': from_logits,
    'one_step': one_step_from_logits,
    'epsilon': epsilon_correction_from_logits,
    'none': no_correction_from_logits,
}
