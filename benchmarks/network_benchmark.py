"""Times the agent networks in tf.compat.v1 sessions (the way IMPALA runs them).

  * learner: one `unroll` over [T, B] plus the backward pass (gradients of a
    scalar loss w.r.t. every trainable variable), paper section 3.1;
  * actor: one single-step call with batch B.

Inputs live in non-trainable variables so that no feed_dict copy is timed.
Prints one line per configuration and measurement: the median (and min/max)
wall time over `--repeats` runs after `--warmup` runs, the median process CPU
time (all threads; less sensitive to other load on the machine), and the
parameter count.

TensorFlow's oneDNN kernels are off by default on CPUs without AVX-512 (the
speed differs several-fold); `--onednn=on|off` sets TF_ENABLE_ONEDNN_OPTS
before TensorFlow is imported, `env` (default) leaves the environment alone.

  TF_CPP_MIN_LOG_LEVEL=3 python benchmarks/network_benchmark.py --onednn=on
  python benchmarks/network_benchmark.py --configs=atari_deep_ff --repeats=20
"""

import collections
import os
import sys
import time
import types

from absl import app
from absl import flags
import numpy as np

tf = None  # Imported in main(), after TF_ENABLE_ONEDNN_OPTS is set.
networks = None

StepOutput = collections.namedtuple('StepOutput',
                                    'reward info done observation')

# name: (frame shape, num_actions, torso, core, use_instruction)
CONFIGS = collections.OrderedDict([
    ('atari_deep_ff', ((84, 84, 4), 6, 'deep', 'feedforward', False)),
    ('atari_shallow_ff', ((84, 84, 4), 6, 'shallow', 'feedforward', False)),
    ('dmlab_deep_lstm_lang', ((72, 96, 3), 9, 'deep', 'lstm', True)),
    ('dmlab_shallow_lstm_lang', ((72, 96, 3), 9, 'shallow', 'lstm', True)),
])

WORDS = ['pick', 'the', 'red', 'green', 'object', 'go', 'to', 'ball']


def _inputs(rng, shape, config):
  """Constant inputs with leading `shape`, held in local variables."""
  frame_shape, num_actions, _, _, use_instruction = config
  instruction = np.full(shape, b'', dtype=object)
  if use_instruction:
    # As in DMLab: one instruction per episode, so one per batch entry here.
    for b in range(shape[-1]):
      instruction[..., b] = ' '.join(
          rng.choice(WORDS, rng.integers(1, 6))).encode()
  values = (rng.integers(0, num_actions, shape).astype(np.int32),
            StepOutput(rng.normal(size=shape).astype(np.float32), (),
                       rng.random(shape) < 0.01,
                       (rng.integers(0, 256, shape + frame_shape,
                                     dtype=np.uint8), instruction)))
  return tf.nest.map_structure(
      lambda v: tf.Variable(v, trainable=False,
                            collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES]
                            ).read_value(), values)


def _time(sess, fetch, warmup, repeats):
  for _ in range(warmup):
    sess.run(fetch)
  walls, cpus = [], []
  for _ in range(repeats):
    start, start_cpu = time.perf_counter(), time.process_time()
    sess.run(fetch)
    walls.append(time.perf_counter() - start)
    cpus.append(time.process_time() - start_cpu)
  return np.median(walls), np.min(walls), np.max(walls), np.median(cpus)


def benchmark(name, config, args):
  rng = np.random.default_rng(0)
  frame_shape, num_actions, torso, core, use_instruction = config
  results = []
  with tf.Graph().as_default():
    agent = networks.Agent(num_actions, torso=torso, core=core,
                           use_instruction=use_instruction)
    actions, env_outputs = _inputs(rng, (args.T, args.B), config)
    out, _ = agent.unroll(actions, env_outputs, agent.initial_state(args.B))
    # A stand-in scalar loss touching both heads (the real one is V-trace's).
    log_pi = tf.nn.log_softmax(out.policy_logits)
    loss = (tf.reduce_sum(log_pi * tf.one_hot(actions, num_actions)) +
            tf.reduce_sum(tf.square(out.baseline)))
    # Fetch the gradients themselves: Grappler prunes pure ops that only feed
    # the control inputs of a tf.group, which would time nothing.
    learner = tf.gradients(loss, agent.trainable_variables)
    actors = []
    for batch in args.actor_batches:
      step_in = _inputs(rng, (batch,), config)
      step_out, _ = agent(step_in, agent.initial_state(batch))
      actors.append((batch, step_out))
    num_params = sum(int(np.prod(v.shape)) for v in agent.trainable_variables)
    session_config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=args.threads,
        inter_op_parallelism_threads=args.threads)
    with tf.compat.v1.Session(config=session_config) as sess:
      sess.run([tf.compat.v1.global_variables_initializer(),
                tf.compat.v1.local_variables_initializer()])
      results.append(('learner T=%d B=%d unroll+backward' % (args.T, args.B),
                      _time(sess, learner, args.warmup, args.repeats)))
      for batch, fetch in actors:
        results.append(('actor step B=%d' % batch,
                        _time(sess, fetch, args.warmup, args.actor_repeats)))
  for what, (median, low, high, cpu) in results:
    print('%-24s %-34s median %8.2f ms (min %8.2f, max %8.2f)  '
          'cpu %8.2f ms  params %d' %
          (name, what, median * 1e3, low * 1e3, high * 1e3, cpu * 1e3,
           num_params))
  sys.stdout.flush()


def define_flags():
  """The benchmark's flags."""
  flags.DEFINE_list('configs', list(CONFIGS), 'Comma-separated, of: %s.' %
                    ', '.join(CONFIGS))
  flags.DEFINE_integer('T', 20, 'Unroll length of the learner row.')
  flags.DEFINE_integer('B', 32, 'Batch size of the learner row.')
  flags.DEFINE_list('actor_batches', ['1', '32'], 'Comma-separated batch '
                    'sizes of the actor rows.')
  flags.DEFINE_integer('warmup', 2, 'Untimed runs first.')
  flags.DEFINE_integer('repeats', 7, 'Timed learner runs.')
  flags.DEFINE_integer('actor_repeats', 50, 'Timed actor runs.')
  flags.DEFINE_integer('threads', 0, 'Intra/inter-op threads; 0 lets TF '
                       'choose.')
  flags.DEFINE_enum('onednn', 'env', ['env', 'on', 'off'], 'Set '
                    'TF_ENABLE_ONEDNN_OPTS before importing TF (env: leave '
                    'it).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('unexpected arguments %s' % argv[1:])
  f = flags.FLAGS
  unknown = [name for name in f.configs if name not in CONFIGS]
  if unknown:
    raise app.UsageError('--configs: unknown %s; choose from %s' % (
        ', '.join(unknown), ', '.join(CONFIGS)))
  try:
    actor_batches = [int(b) for b in f.actor_batches]
  except ValueError as e:
    raise app.UsageError('--actor_batches: %s' % e)
  args = types.SimpleNamespace(
      configs=f.configs, T=f.T, B=f.B, actor_batches=actor_batches,
      warmup=f.warmup, repeats=f.repeats, actor_repeats=f.actor_repeats,
      threads=f.threads, onednn=f.onednn)
  if args.onednn != 'env':
    os.environ['TF_ENABLE_ONEDNN_OPTS'] = '1' if args.onednn == 'on' else '0'
  global tf, networks
  import tensorflow  # pylint: disable=g-import-not-at-top
  from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
  tf = tensorflow
  sys.path.insert(
      0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  import networks as networks_module  # pylint: disable=g-import-not-at-top
  networks = networks_module
  print('tensorflow %s, %d CPUs visible, GPU: %s, oneDNN: %s' % (
      tf.__version__, os.cpu_count(),
      bool(tf.config.list_physical_devices('GPU')),
      _pywrap_util_port.IsMklEnabled()))
  for name in args.configs:
    benchmark(name, CONFIGS[name], args)


if __name__ == '__main__':
  define_flags()
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  import console  # pylint: disable=g-import-not-at-top
  app.run(main, flags_parser=console.parse_flags)
