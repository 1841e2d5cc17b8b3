# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
r"""Environment throughput: raw, through PyProcess, and as TF ops.

  python benchmarks/environment_benchmark.py [--game=pong] [--seconds=5]
      [--processes=N] [--unroll=100] [--start_children=32]
  python benchmarks/environment_benchmark.py \
      --dmlab=seekavoid_arena_01,rooms_watermaze [--seconds=30] [--processes=N]

With --dmlab (needs a DeepMind Lab build): raw DeepMind Lab throughput of
each level, PyProcessDmLab.step with random actions of our 9-action set,
action repeat 4, 96x72 RGB, episodes reset as they end, in 1 process and in
N at once. DeepMind Lab renders in software (OSMesa) on the CPU. Besides
frames/s, each row gives frames per CPU-second of the stepping processes
(their own CPU time): the rate of one core, which moves little when other
work shares the cores while frames/s does.

Frames are emulator frames (agent steps x 4 action repeats), as in the paper;
N (--processes) defaults to the number of cores. Rows:
  raw, 1 process          PyProcessAtari.step in this process (the paper's
                          preprocessing: max-pool, 84x84 grayscale, stack 4).
  raw, N processes        the same loop in N child processes at once: the
                          machine's ceiling, the 100% of the "vs raw" column.
  PyProcess.call          one environment in a child, stepped by direct calls
                          (result pickled back whole): IPC without TF.
  TF op, 1 env            FlowEnvironment.step in a tf.while_loop of
                          --unroll steps (py_func -> pipe -> child -> shared
                          memory), with and without shared memory.
  TF op, N envs           N such loops run by N threads at once.
  TF batched op, K envs   one loop stepping K environments with one
                          PyProcessBatch op per step (children in parallel);
                          with 2 threads, two such loops (one runs while the
                          other waits for its children).
For single-environment rows, us/step is the time per agent step and
overhead is that minus the raw time per step. Also printed: the round trip
of an empty call to a child, and the time to start --start_children Atari
children in parallel.

Nothing here imports TensorFlow at module level: the raw-loop children
import this module. Its flags are defined only when it runs as the program
(benchmarks/throughput.py imports it and has flags of the same names).
"""

import os
import sys
import threading
import time

from absl import app
from absl import flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import atari_environment  # pylint: disable=g-import-not-at-top,wrong-import-position
import environments  # pylint: disable=g-import-not-at-top,wrong-import-position
import levels  # pylint: disable=g-import-not-at-top,wrong-import-position
import py_process  # pylint: disable=g-import-not-at-top,wrong-import-position

DMLAB_ACTION_REPEATS = 4


def _make_env(domain, level, seed):
  if domain == 'atari':
    return atari_environment.PyProcessAtari(level, seed)
  if domain == 'dmlab':
    _, script = levels.environment_level(level)
    return environments.PyProcessDmLab(script, {}, DMLAB_ACTION_REPEATS, seed)
  raise ValueError('domain must be atari or dmlab, got %r.' % (domain,))


def run_raw_timed(game, seconds, seed=0, domain='atari'):
  """Steps an environment in this process for `seconds` after its first
  episode started; returns (steps per second, steps per CPU-second of this
  process)."""
  env = _make_env(domain, game, seed)
  env.initial()
  num_actions = environments.num_actions(domain, game)
  actions = np.random.RandomState(seed).randint(num_actions, size=4096)
  chunk = 256 if domain == 'atari' else 32
  steps = 0
  start = time.perf_counter()
  cpu_start = time.process_time()
  deadline = start + seconds
  while True:
    for action in actions[(steps % 4096):(steps % 4096) + chunk]:
      env.step(action)
    steps += chunk
    now = time.perf_counter()
    if now >= deadline:
      env.close()
      return (steps / (now - start),
              steps / max(time.process_time() - cpu_start, 1e-9))


def run_raw(game, seconds, seed=0, domain='atari'):
  """Steps an environment in this process for `seconds`; returns steps/s."""
  return run_raw_timed(game, seconds, seed, domain)[0]


class RawLoop:
  """A child that runs `run_raw` when asked (for the parallel raw rows)."""

  def __init__(self, game, seed, domain='atari'):
    self._game = game
    self._seed = seed
    self._domain = domain

  def run(self, seconds):
    return run_raw(self._game, seconds, self._seed, self._domain)

  def run_timed(self, seconds):
    return run_raw_timed(self._game, seconds, self._seed, self._domain)

  def ping(self):
    return None

  @staticmethod
  def _tensor_specs(method_name, kwargs, constructor_kwargs):
    return None


def raw_parallel(game, seconds, processes, domain='atari'):
  """Total steps/s of `processes` children each running the raw loop, and the
  round-trip time of an empty call to a child in microseconds."""
  rates, round_trip = raw_parallel_timed(game, seconds, processes, domain)
  return sum(r for r, _ in rates), round_trip


def raw_parallel_timed(game, seconds, processes, domain='atari'):
  """[(steps/s, steps per CPU-second)] of `processes` children each running
  the raw loop at once, and the round trip of an empty call (us)."""
  import environment_benchmark  # pylint: disable=g-import-not-at-top
  children = [py_process.PyProcess(environment_benchmark.RawLoop, game, seed,
                                   domain)
              for seed in range(processes)]
  py_process.start_all(children)
  try:
    calls = 5000
    start = time.perf_counter()
    for _ in range(calls):
      children[0].call('ping')
    round_trip = (time.perf_counter() - start) / calls * 1e6
    rates = [(0., 0.)] * processes
    def run(i):
      rates[i] = children[i].call('run_timed', seconds)
    threads = [threading.Thread(target=run, args=(i,))
               for i in range(processes)]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
    return rates, round_trip
  finally:
    py_process.close_all(children)


def load_average():
  with open('/proc/loadavg') as f:
    return float(f.read().split()[0])


def dmlab_raw(level_names, seconds, processes):
  """Prints raw DeepMind Lab rows for each level; returns {level: rows}."""
  environments.check_dmlab_available()
  print('Raw DeepMind Lab, random actions of the 9-action set, action repeat '
        '%d, 96x72 RGB, software rendering; %d cores, %.0f s per row after '
        'the first episode starts; frames = agent steps x %d.' % (
            DMLAB_ACTION_REPEATS, os.cpu_count(), seconds,
            DMLAB_ACTION_REPEATS))
  print('%-45s %10s %15s %10s' % ('', 'frames/s', 'frames/CPU-s', 'load'))
  results = {}
  for level in level_names:
    rows = []
    load = load_average()
    one, one_cpu = run_raw_timed(level, seconds, domain='dmlab')
    rows.append(('%s, 1 process' % level, one * DMLAB_ACTION_REPEATS,
                 one_cpu * DMLAB_ACTION_REPEATS, load))
    if processes > 1:
      load = load_average()
      rates, _ = raw_parallel_timed(level, seconds, processes, 'dmlab')
      rows.append(('%s, %d processes' % (level, processes),
                   sum(r for r, _ in rates) * DMLAB_ACTION_REPEATS,
                   np.mean([c for _, c in rates]) * DMLAB_ACTION_REPEATS,
                   load))
    for name, fps, per_cpu, load in rows:
      print('%-45s %10.0f %15.0f %10.1f' % (name, fps, per_cpu, load))
      sys.stdout.flush()
    results[level] = rows
  print('frames/CPU-s is per process (its own CPU time): the rate of one '
        'core of this machine. Load: the 1-minute load average at the row\'s '
        'start (other users of the cores lower frames/s, not frames/CPU-s).')
  return results


def pyprocess_calls(game, seconds):
  """Steps/s of one child environment stepped by direct `call`s."""
  with environments.create_environment('atari', game, seed=0) as process:
    process.call('initial')
    actions = np.random.RandomState(0).randint(
        environments.num_actions('atari', game), size=256)
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
      for action in actions:
        process.call('step', int(action))
      steps += len(actions)
    return steps / (time.perf_counter() - start)


def tf_ops(game, seconds, num_envs, unroll, shared_memory=True):
  """Total steps/s of `num_envs` FlowEnvironment unrolls run by threads."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  saved = py_process.SHARED_MEMORY_MIN_BYTES
  if not shared_memory:
    py_process.SHARED_MEMORY_MIN_BYTES = None
  try:
    with tf.Graph().as_default():
      loops = []
      num_actions = environments.num_actions('atari', game)
      for seed in range(num_envs):
        env = environments.FlowEnvironment(
            environments.create_environment('atari', game, seed=seed))
        state, _ = env.initial()
        state_var = tf.compat.v1.get_local_variable(
            'env_state_%d' % seed, initializer=state, use_resource=True)

        def body(t, state, returns, env=env):
          action = tf.random.uniform([], 0, num_actions, dtype=tf.int32)
          state, output = env.step(action, state)
          return t + 1, state, returns + output.reward

        _, final_state, returns = tf.while_loop(
            lambda t, *_: t < unroll, body,
            (0, state_var.read_value(), 0.))
        with tf.control_dependencies([returns]):
          loops.append(state_var.assign(final_state))
      config = tf.compat.v1.ConfigProto(
          inter_op_parallelism_threads=max(2, num_envs),
          intra_op_parallelism_threads=1)
      with tf.compat.v1.train.MonitoredSession(
          session_creator=tf.compat.v1.train.ChiefSessionCreator(
              config=config),
          hooks=[py_process.PyProcessHook()]) as session:
        for loop in loops:
          session.run(loop)  # Warm up.
        return _steps_per_second(session, loops, unroll, seconds)
  finally:
    py_process.SHARED_MEMORY_MIN_BYTES = saved


def tf_ops_batched(game, seconds, num_envs, unroll, num_threads=1):
  """Steps/s of `num_threads` loops each stepping `num_envs` environments
  with one batched op per step."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    num_actions = environments.num_actions('atari', game)
    loops = []
    for thread in range(num_threads):
      processes = [environments.create_environment(
          'atari', game, seed=thread * num_envs + i) for i in range(num_envs)]
      env = environments.FlowEnvironment(
          py_process.PyProcessBatch(processes).proxy)
      state, _ = env.initial()
      state_var = tf.compat.v1.get_local_variable(
          'env_state_%d' % thread, initializer=state, use_resource=True)

      def body(t, state, returns, env=env):
        action = tf.random.uniform([num_envs], 0, num_actions,
                                   dtype=tf.int32)
        state, output = env.step(action, state)
        return t + 1, state, returns + output.reward

      _, final_state, returns = tf.while_loop(
          lambda t, *_: t < unroll, body,
          (0, state_var.read_value(), tf.zeros([num_envs])))
      with tf.control_dependencies([returns]):
        loops.append(state_var.assign(final_state))
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      for loop in loops:
        session.run(loop)  # Warm up.
      return _steps_per_second(session, loops, unroll * num_envs, seconds)



def _steps_per_second(session, loops, steps_per_run, seconds):
  """Runs each op of `loops` in its own thread for `seconds`: steps/s."""
  counts = [0] * len(loops)
  stop = threading.Event()

  def actor(i):
    while not stop.is_set():
      session.run(loops[i])
      counts[i] += steps_per_run

  threads = [threading.Thread(target=actor, args=(i,))
             for i in range(len(loops))]
  start = time.perf_counter()
  for t in threads:
    t.start()
  time.sleep(seconds)
  stop.set()
  for t in threads:
    t.join()
  return sum(counts) / (time.perf_counter() - start)

def start_children(game, count):
  """Seconds to start `count` Atari children in parallel."""
  children = [environments.create_environment('atari', game, seed=i)
              for i in range(count)]
  start = time.perf_counter()
  py_process.start_all(children)
  elapsed = time.perf_counter() - start
  py_process.close_all(children)
  return elapsed


def define_flags():
  """The benchmark's flags (only when it runs as the program)."""
  flags.DEFINE_string('game', 'pong', 'Atari game (ale-py ROM id).')
  flags.DEFINE_float('seconds', 5., 'Seconds per row.')
  flags.DEFINE_integer('processes', os.cpu_count(), 'N: processes of the '
                       'parallel rows (default: the number of cores).')
  flags.DEFINE_integer('unroll', 100, 'Steps per tf.while_loop of the TF '
                       'op rows.')
  flags.DEFINE_integer('start_children', 32, 'Atari children started in '
                       'parallel, timed; 0: not timed.')
  flags.DEFINE_list('dmlab', [], 'Raw DeepMind Lab rows for these '
                    'comma-separated levels instead (e.g. '
                    'seekavoid_arena_01,rooms_watermaze).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('unexpected arguments %s' % argv[1:])
  args = flags.FLAGS
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  n = args.processes
  if args.dmlab:
    dmlab_raw(args.dmlab, args.seconds, n)
    return
  print('Environment throughput, %s, %d cores, %.0f s per row; frames = '
        'agent steps x 4.' % (args.game, os.cpu_count(), args.seconds))
  raw = run_raw(args.game, args.seconds)
  raw_n, round_trip = raw_parallel(args.game, args.seconds, n)
  print('%-38s %9s %8s %9s %9s' % ('', 'frames/s', 'vs raw', 'us/step',
                                   'overhead'))

  def row(name, steps_per_second, single=True):
    per_step = 1e6 / steps_per_second
    print('%-38s %9.0f %7.0f%% %9s %9s' % (
        name, 4 * steps_per_second, 100 * steps_per_second / raw_n,
        '%.1f' % per_step if single else '',
        '%.1f' % (per_step - 1e6 / raw) if single else ''))
    sys.stdout.flush()

  row('raw, 1 process', raw)
  row('raw, %d processes (= 100%%)' % n, raw_n, single=False)
  row('PyProcess.call, 1 env', pyprocess_calls(args.game, args.seconds))
  row('TF op, 1 env (shared memory)',
      tf_ops(args.game, args.seconds, 1, args.unroll))
  row('TF op, 1 env (pipe only)',
      tf_ops(args.game, args.seconds, 1, args.unroll, shared_memory=False))
  row('TF op, %d envs, %d threads' % (n, n),
      tf_ops(args.game, args.seconds, n, args.unroll), single=False)
  for envs in (n, 2 * n, 4 * n):
    row('TF batched op, %d envs, 1 thread' % envs,
        tf_ops_batched(args.game, args.seconds, envs, args.unroll),
        single=False)
  for envs in (n, 2 * n):
    row('TF batched op, 2 x %d envs, 2 threads' % envs,
        tf_ops_batched(args.game, args.seconds, envs, args.unroll, 2),
        single=False)
  print('Round trip of an empty PyProcess.call: %.1f us.' % round_trip)
  if args.start_children:
    print('Starting %d %s children in parallel: %.2f s.' % (
        args.start_children, args.game,
        start_children(args.game, args.start_children)))


if __name__ == '__main__':
  define_flags()
  import console  # pylint: disable=g-import-not-at-top
  app.run(main, flags_parser=console.parse_flags)
