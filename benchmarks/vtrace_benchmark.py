r"""Times one V-trace call: XLA vs uncompiled TensorFlow vs a NumPy loop.

Usage:
  python benchmarks/vtrace_benchmark.py [--shapes=100x32,20x256]
      [--repeats=300] [--chain=11] [--dtype=float32]

For each (T, B) it prints the median time of one call of
`vtrace.from_importance_weights`, in one run:

  - numpy: the recursion of Remark 1 as a Python loop over T on NumPy arrays
    (the baseline all ratios refer to);
  - eager: the public function called eagerly (tf.function call overhead
    included), XLA (`use_xla=True`) and uncompiled (`use_xla=False`), and
    the compiled function alone, without the argument checks around it;
  - session, fed: a tf.compat.v1 graph with placeholders, one Session.run
    feeding NumPy arrays and fetching vs and pg_advantages;
  - session, variables: the inputs are variables and only a scalar is
    fetched, so that feeding and fetching costs are left out;
  - session floor: the same Session.run without V-trace (the cost of a run);
  - session, per call: CHAIN calls chained in one graph, (t_CHAIN - t_1) /
    (CHAIN - 1): the cost V-trace adds to a learner graph that is not
    compiled as a whole (with a little glue between the calls, see
    `_chained`, so an upper bound);
  - inside outer XLA fn, per call: the same chain inside one
    `tf.function(jit_compile=True)`: the cost V-trace adds to a learner step
    compiled as a whole.

Ratios are speed-ups over the NumPy loop (> 1: faster than NumPy).
"""

import os
import platform
import sys
import time

from absl import app
from absl import flags

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf

import vtrace

ARG_NAMES = ('log_rhos', 'discounts', 'rewards', 'values', 'bootstrap_value')


def numpy_vtrace(log_rhos, discounts, rewards, values, bootstrap_value,
                 clip_rho_threshold=1.0, clip_pg_rho_threshold=1.0,
                 lambda_=1.0):
  """V-trace with a Python loop over time on NumPy arrays (the baseline)."""
  rhos = np.exp(log_rhos)
  clipped_rhos = np.minimum(clip_rho_threshold, rhos)
  cs = lambda_ * np.minimum(1.0, rhos)
  values_t_plus_1 = np.concatenate([values[1:], bootstrap_value[None]], 0)
  deltas = clipped_rhos * (rewards + discounts * values_t_plus_1 - values)
  discount_cs = discounts * cs
  vs_minus_v_xs = np.empty_like(values)
  acc = np.zeros_like(bootstrap_value)
  for t in range(values.shape[0] - 1, -1, -1):
    acc = deltas[t] + discount_cs[t] * acc
    vs_minus_v_xs[t] = acc
  vs = values + vs_minus_v_xs
  vs_t_plus_1 = np.concatenate([vs[1:], bootstrap_value[None]], 0)
  pg_advantages = np.minimum(clip_pg_rho_threshold, rhos) * (
      rewards + discounts * vs_t_plus_1 - values)
  return vs, pg_advantages


def make_inputs(num_steps, batch_size, dtype, seed=0):
  rng = np.random.RandomState(seed)
  shape = (num_steps, batch_size)
  return dict(
      log_rhos=rng.normal(0.0, 1.0, shape).astype(dtype),
      discounts=(0.99 * (rng.uniform(size=shape) > 0.01)).astype(dtype),
      rewards=rng.normal(0.0, 1.0, shape).astype(dtype),
      values=rng.normal(0.0, 1.0, shape).astype(dtype),
      bootstrap_value=rng.normal(0.0, 1.0, shape[1:]).astype(dtype))


def median_us(fn, repeats, warmup=20):
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return 1e6 * float(np.median(times))


def _chained(args, num_calls, use_xla):
  """num_calls V-trace calls, each depending on the previous; a scalar.

  Every element of vs and pg_advantages feeds the next call's
  bootstrap_value (scaled by 1e-30), so that neither XLA nor Grappler can
  drop work, and the calls run one after another. The glue (two reductions,
  a multiply and an add per call) is counted in the per-call figure.
  """
  log_rhos, discounts, rewards, values, bootstrap_value = args
  for _ in range(num_calls):
    output = vtrace.from_importance_weights(
        log_rhos, discounts, rewards, values, bootstrap_value,
        use_xla=use_xla)
    bootstrap_value = bootstrap_value + 1e-30 * tf.reduce_sum(
        output.vs + output.pg_advantages, axis=0)
  return tf.reduce_sum(bootstrap_value)


def time_session(inputs, use_xla, repeats, chain):
  """Session timings: fed, variables, floor and per chained call."""
  results = {}
  dtype = inputs['values'].dtype
  with tf.Graph().as_default() as graph:
    placeholders = [tf.compat.v1.placeholder(dtype, [None] * inputs[k].ndim)
                    for k in ARG_NAMES]
    fed_output = vtrace.from_importance_weights(*placeholders,
                                                use_xla=use_xla)
    variables = [tf.compat.v1.Variable(inputs[k], use_resource=True)
                 for k in ARG_NAMES]
    reads = [v.read_value() for v in variables]
    one = _chained(reads, 1, use_xla)
    many = _chained(reads, chain, use_xla)
    floor = tf.add_n([tf.reduce_sum(r[0]) for r in reads])
    session = tf.compat.v1.Session(graph=graph)
    session.run(tf.compat.v1.global_variables_initializer())
  feed = dict(zip(placeholders, [inputs[k] for k in ARG_NAMES]))
  results['fed'] = median_us(lambda: session.run(fed_output, feed), repeats)
  results['variables'] = median_us(lambda: session.run(one), repeats)
  results['floor'] = median_us(lambda: session.run(floor), repeats)
  chain_us = median_us(lambda: session.run(many), repeats)
  results['per_call'] = (chain_us - results['variables']) / (chain - 1)
  check = session.run(fed_output, feed)
  session.close()
  return results, check


def time_outer_xla(inputs, repeats, chain):
  """Per-call cost of V-trace inlined in an outer XLA-compiled function."""
  args = [tf.constant(inputs[k]) for k in ARG_NAMES]
  outer_one = tf.function(lambda *a: _chained(a, 1, True), jit_compile=True)
  outer_many = tf.function(lambda *a: _chained(a, chain, True),
                           jit_compile=True)
  one = median_us(lambda: outer_one(*args).numpy(), repeats)
  many = median_us(lambda: outer_many(*args).numpy(), repeats)
  return (many - one) / (chain - 1)


def benchmark_shape(num_steps, batch_size, dtype, repeats, chain):
  inputs = make_inputs(num_steps, batch_size, dtype)
  expected = numpy_vtrace(**inputs)
  tol = 1e-4 if dtype == np.float32 else 1e-10
  row = {}
  row['numpy loop'] = median_us(lambda: numpy_vtrace(**inputs), repeats)
  tensors = {k: tf.constant(v) for k, v in inputs.items()}
  for use_xla, label in ((True, 'XLA'), (False, 'uncompiled TF')):
    output = vtrace.from_importance_weights(**tensors, use_xla=use_xla)
    np.testing.assert_allclose(output.vs, expected[0], rtol=tol, atol=tol)
    row[f'eager, {label}'] = median_us(
        lambda: vtrace.from_importance_weights(**tensors, use_xla=use_xla),
        repeats)
  # The compiled function alone, without the checks and stop_gradients
  # around it: what tf.function's own call overhead costs eagerly.
  bare = vtrace._core_function(  # pylint: disable=protected-access
      tf.as_dtype(dtype), 2, True)
  bare_args = [tensors[k] for k in ARG_NAMES] + [1.0, 1.0, 1.0]
  row['eager, XLA, bare compiled call'] = median_us(lambda: bare(*bare_args),
                                                    repeats)
  for use_xla, label in ((True, 'XLA'), (False, 'uncompiled TF')):
    results, check = time_session(inputs, use_xla, repeats, chain)
    np.testing.assert_allclose(check.vs, expected[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(check.pg_advantages, expected[1], rtol=tol,
                               atol=tol)
    row[f'session, fed, {label}'] = results['fed']
    row[f'session, variables, {label}'] = results['variables']
    row[f'session, per call in graph, {label}'] = results['per_call']
    row.setdefault('session floor (run without V-trace)', results['floor'])
  row['inside outer XLA fn, per call'] = time_outer_xla(inputs, repeats,
                                                        chain)
  return row


def define_flags():
  """The benchmark's flags."""
  flags.DEFINE_list('shapes', ['100x32', '20x256'], 'Comma-separated TxB.')
  flags.DEFINE_integer('repeats', 300, 'Timed calls per measurement.')
  flags.DEFINE_integer('chain', 11, 'Calls chained to measure the per-call '
                       'cost.')
  flags.DEFINE_enum('dtype', 'float32', ['float32', 'float64'], 'The inputs\' '
                    'dtype.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('unexpected arguments %s' % argv[1:])
  args = flags.FLAGS
  dtype = np.dtype(args.dtype).type
  try:
    shapes = [tuple(int(x) for x in s.split('x')) for s in args.shapes]
  except ValueError:
    raise app.UsageError('--shapes: expected TxB,..., got %s' %
                         ','.join(args.shapes))

  print(f'TensorFlow {tf.__version__}, NumPy {np.__version__}, Python '
        f'{platform.python_version()}, {platform.machine()}, '
        f'{os.cpu_count()} CPUs, devices: '
        f'{[d.device_type for d in tf.config.list_physical_devices()]}')
  print(f'dtype {args.dtype}, median of {args.repeats} calls, chain of '
        f'{args.chain}; speed-up = NumPy time / time.\n')
  rows = {}
  for num_steps, batch_size in shapes:
    rows[(num_steps, batch_size)] = benchmark_shape(
        num_steps, batch_size, dtype, args.repeats, args.chain)

  labels = list(next(iter(rows.values())).keys())
  width = max(len(label) for label in labels)
  header = f'| {"":{width}} |'
  rule = f'|{"-" * (width + 2)}|'
  for num_steps, batch_size in shapes:
    header += f' T={num_steps},B={batch_size} µs | speed-up |'
    rule += '---:|---:|'
  print(header)
  print(rule)
  for label in labels:
    line = f'| {label:{width}} |'
    for shape in shapes:
      value = rows[shape][label]
      baseline = rows[shape]['numpy loop']
      line += f' {value:10.1f} | {baseline / value:7.2f}x |'
    print(line)


if __name__ == '__main__':
  define_flags()
  import console  # pylint: disable=g-import-not-at-top
  app.run(main, flags_parser=console.parse_flags)
