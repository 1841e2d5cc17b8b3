# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
r"""Single-machine training throughput, against the raw emulator (issue 8).

  python benchmarks/throughput.py [--level_name=atari/pong] [--seconds=60]
      [--warmup_seconds=20] [--num_actors=N] [--envs_per_actor=K]
      [--batch_size=B] [--unroll_length=T] [--network=shallow]
  python benchmarks/throughput.py --sweep [--sweep_seconds=25]
  python benchmarks/throughput.py --learner_only   # learner step, V-trace, XLA

Runs experiment.py's training graph in this process (the same actors,
trajectory queue, StagingArea and learner as `python experiment.py`; the
actors are threads looping on their enqueue op, which is what the
QueueRunner of experiment.train does, timed here) and reports, over the
`--seconds` after `--warmup_seconds`:

  frames/s          environment frames (agent steps x action repeats)
                    consumed by the learner, as experiment.py logs them;
  learner steps/s   and the learner's time per step;
  actor batch       environments per inference call (envs_per_actor) and
                    the actor's time per step (one batched inference plus
                    one batched environment step, unroll time / T);
  queue             mean trajectories in the queue (sampled every 20 ms)
                    and the fraction of samples with a full queue;
  CPU               cores used by this process and by its environment
                    children (/proc), and by everything else on the machine
                    (/proc/stat minus ours: other users of the cores, which
                    make the measurement noisy; the load average counts our
                    own environment processes and says little);
  frames per CPU-s  frames/s divided by the cores we used: varies a few
                    percent with other load where frames/s varies twofold,
                    so configurations are compared by it; x cores is the
                    rate to expect on an idle machine;
  memory            proportional set size of the environment processes.

Then, in the same run and with the training processes closed, the raw
emulator throughput (atari_environment.PyProcessAtari, or PyProcessDmLab for
DMLab levels, in a tight loop with random actions,
benchmarks/environment_benchmark.py) with as many processes as training has
environments, and with one per core (the machine's ceiling), and the ratios
of training to both; also raw frames per CPU-second of one process against
training's frames per CPU-second, the ratio that holds when other work
shares the cores.

`--learner_only` times the learner step alone on fixed data of the run's
shapes (no actors; staged and split over the learner devices as in
training): as built by experiment.py, and with the unroll, losses and
gradients compiled by XLA (`jit_scope`), and traces one step (RunMetadata)
to report the time V-trace takes inside it; it prints steps/s and the
frames/s the learner can consume (batch x unroll x action repeats per
step). `--compare_num_learners=1,2` measures each K in the same run, with
ratios to the first row; `--learner_device` and `--network` choose the
rest. For a GPU table:

  python benchmarks/throughput.py --learner_only --network=shallow \
      --compare_num_learners=1,2        # Atari shapes: T=20, B=32
  python benchmarks/throughput.py --learner_only --network=deep \
      --compare_num_learners=1,2
  PYTHONPATH=tests/fake_deepmind_lab python benchmarks/throughput.py \
      --learner_only --level_name=rooms_watermaze --num_actors=32 \
      --learner_steps=10                 # DMLab shapes: deep LSTM, T=100
  python benchmarks/throughput.py --num_actors=$(nproc)   # Pong training,
      # all cores as actors, then the raw emulator and Table 1's rows

The XLA variant was 1.8x (T=20) to 2.9x (T=100) slower than experiment.py's
graph on this 2-core AVX2 CPU (XLA's CPU convolutions are not oneDNN's), so
experiment.py keeps its graph, with only V-trace compiled. (It was measured
then as one `tf.function(jit_compile=True)`; such a function cannot read
variables on another device, and the learner's live on the host CPU.)

`--intra_op_threads` overrides learner.session_config's intra-op threads
(1 and 2 measured the same on 2 cores). Flags other than those above are
experiment.py's (e.g. --core).
"""

import collections
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-order
from absl import flags
import numpy as np
import tensorflow as tf

import actor as actor_lib
import distributed
import environment_benchmark
import environments
import experiment
import learner as learner_lib
import levels as levels_lib
import networks
import py_process
import vtrace

nest = tf.nest
FLAGS = flags.FLAGS

flags.DEFINE_float('seconds', 60., 'Measured seconds, after the warm-up.')
flags.DEFINE_float('warmup_seconds', 20., 'Seconds before measuring.')
flags.DEFINE_float('raw_seconds', 10., 'Seconds per raw emulator row; 0: '
                   'none.')
flags.DEFINE_bool('sweep', False, 'Try a grid of num_actors x envs_per_actor '
                  'x batch_size and print a table and the best.')
flags.DEFINE_float('sweep_seconds', 25., 'Measured seconds per sweep point.')
flags.DEFINE_float('sweep_warmup_seconds', 12., 'Warm-up per sweep point.')
flags.DEFINE_string('sweep_grid', '',
                    'Points actorsxenvsxbatch, comma-separated (e.g. '
                    '"2x16x32,4x8x32"); empty: a grid from the core count.')
flags.DEFINE_bool('learner_only', False, 'Time the learner step, V-trace '
                  'inside it, and the XLA-compiled update; no actors.')
flags.DEFINE_integer('intra_op_threads', 0, 'Session intra-op threads; 0: '
                     'learner.session_config\'s.')
flags.DEFINE_integer('learner_steps', 30, 'Timed steps for --learner_only.')
flags.DEFINE_bool('xla', True, 'With --learner_only: also time the '
                  'XLA-compiled variant.')
flags.DEFINE_list('compare_num_learners', [],
                  'With --learner_only: measure each of these --num_learners '
                  'in this run (e.g. 1,2), with ratios to the first.')

Measurement = collections.namedtuple('Measurement', [
    'config', 'fps', 'actor_fps', 'learner_steps_per_sec', 'learner_step_ms',
    'actor_step_ms', 'inference_ms', 'queue_mean', 'queue_full',
    'cpu_self', 'cpu_children', 'cpu_other', 'load', 'children_mib'])


# ---------------------------------------------------------------------------
# CPU accounting from /proc.

_TICKS = os.sysconf('SC_CLK_TCK')


def _process_cpu_seconds(pid):
  try:
    with open('/proc/%d/stat' % pid) as f:
      fields = f.read().rsplit(')', 1)[1].split()
  except OSError:
    return 0.
  return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime.


def cpu_seconds(pids):
  """CPU seconds (user + system) the processes `pids` have used so far;
  those gone count 0."""
  return sum(_process_cpu_seconds(p) for p in pids)


def _machine_busy_seconds():
  """CPU seconds all cores spent not idle since boot."""
  with open('/proc/stat') as f:
    fields = [int(x) for x in f.readline().split()[1:]]
  idle = fields[3] + fields[4]  # idle + iowait.
  return (sum(fields[:8]) - idle) / _TICKS


class CpuMeter:
  """CPU used by this process, the given children and everyone else."""

  def __init__(self, child_pids):
    self._pids = [p for p in child_pids if p]
    self.start()

  def _sample(self):
    return (time.perf_counter(), _process_cpu_seconds(os.getpid()),
            cpu_seconds(self._pids),
            _machine_busy_seconds())

  def start(self):
    self._start = self._sample()

  def cores(self):
    """(self, children, others) in cores (CPU seconds per second)."""
    end = self._sample()
    wall, own, children, busy = (b - a for a, b in zip(self._start, end))
    return own / wall, children / wall, max(0., busy - own - children) / wall


def _pss_mib(pid):
  """Proportional set size of a process (shared pages split), MiB."""
  try:
    with open('/proc/%d/smaps_rollup' % pid) as f:
      for line in f:
        if line.startswith('Pss:'):
          return int(line.split()[1]) / 1024.
  except OSError:
    pass
  return 0.


def load_average():
  return os.getloadavg()[0]


# ---------------------------------------------------------------------------
# Training throughput.


def _child_pids(graph):
  return [p.pid for p in py_process.graph_processes(graph)]


def measure_training(config, seconds, warmup_seconds):
  """Trains as experiment.train does for warm-up + `seconds`; a Measurement."""
  with tf.Graph().as_default() as graph:
    tf.compat.v1.set_random_seed(FLAGS.seed)
    training = experiment.build_training(config)
    agent, queue = training.agent, training.queue
    enqueue_ops, stage_op = training.enqueue_ops, training.stage_op
    outputs = training.outputs
    queue_size = queue.size()
    close_queue = queue.close(cancel_pending_enqueues=True)
    # Inference alone, on the actor's batch and device (timed after
    # training).
    k = config.envs_per_actor
    frame_shape = training.actor_outputs[0].env_outputs.observation[0].shape[
        2:]
    inference_inputs = (
        tf.zeros([k], tf.int32),
        environments.StepOutput(
            reward=tf.zeros([k]), info=None, done=tf.zeros([k], tf.bool),
            observation=(tf.zeros([k] + frame_shape.as_list(), tf.uint8),
                         tf.fill([k], ''))))
    with tf.device(learner_lib.HOST_DEVICE):
      inference, _ = agent(inference_inputs, agent.initial_state(k))

    session_config = learner_lib.session_config(config.num_actors, config)
    if FLAGS.intra_op_threads:
      session_config.intra_op_parallelism_threads = FLAGS.intra_op_threads
    session_creator = tf.compat.v1.train.ChiefSessionCreator(
        config=session_config)
    with tf.compat.v1.train.MonitoredSession(
        session_creator=session_creator,
        hooks=[py_process.PyProcessHook()]) as monitored:
      session = monitored._tf_sess()  # pylint: disable=protected-access
      stop = threading.Event()
      measuring = threading.Event()
      lock = threading.Lock()
      actor_unrolls = []  # (end time, seconds) of each measured unroll.

      def actor(enqueue_op):
        try:
          while not stop.is_set():
            start = time.perf_counter()
            session.run(enqueue_op)
            end = time.perf_counter()
            if measuring.is_set():
              with lock:
                actor_unrolls.append(end - start)
        except (tf.errors.CancelledError, tf.errors.OutOfRangeError):
          pass

      queue_sizes = []

      def sampler():
        while not stop.is_set():
          if measuring.is_set():
            queue_sizes.append(session.run(queue_size))
          time.sleep(0.02)

      threads = [threading.Thread(target=actor, args=(op,), daemon=True)
                 for op in enqueue_ops]
      threads.append(threading.Thread(target=sampler, daemon=True))
      for thread in threads:
        thread.start()
      session.run(stage_op)
      begin = time.perf_counter()
      frames = 0
      step_times = []
      meter = None
      start_frames = start_time = None
      deadline = begin + warmup_seconds + seconds
      while True:
        now = time.perf_counter()
        if meter is None and now - begin >= warmup_seconds:
          meter = CpuMeter(_child_pids(graph))
          load = load_average()
          measuring.set()
          start_frames, start_time = frames, now
        if now >= deadline:
          break
        learner_outputs, _ = session.run((outputs, stage_op))
        frames = int(learner_outputs.num_env_frames)
        if meter is not None:
          step_times.append(time.perf_counter() - now)
      elapsed = time.perf_counter() - start_time
      cpu = meter.cores()
      load = max(load, load_average())
      children_mib = sum(_pss_mib(p) for p in _child_pids(graph) if p)
      measuring.clear()
      stop.set()
      session.run(close_queue)
      for thread in threads:
        thread.join(10)
      inference_ms = _time_op(session, inference.action, 50) * 1e3

  steps = len(step_times)
  unroll = np.mean(actor_unrolls) if actor_unrolls else float('nan')
  return Measurement(
      config=config,
      fps=(frames - start_frames) / elapsed,
      actor_fps=(len(actor_unrolls) * config.envs_per_actor *
                 config.unroll_length * config.num_action_repeats / elapsed),
      learner_steps_per_sec=steps / elapsed,
      learner_step_ms=1e3 * np.mean(step_times) if steps else float('nan'),
      actor_step_ms=1e3 * unroll / config.unroll_length,
      inference_ms=inference_ms,
      queue_mean=float(np.mean(queue_sizes)) if queue_sizes else float('nan'),
      queue_full=float(np.mean(np.asarray(queue_sizes) >= 1))
      if queue_sizes else float('nan'),
      cpu_self=cpu[0], cpu_children=cpu[1], cpu_other=cpu[2], load=load,
      children_mib=children_mib)


def _time_op(session, fetch, repeats):
  session.run(fetch)
  start = time.perf_counter()
  for _ in range(repeats):
    session.run(fetch)
  return (time.perf_counter() - start) / repeats


def raw_frames_per_second(config, processes, seconds):
  """Raw emulator frames/s of `processes` children stepping random actions."""
  return raw_rates(config, processes, seconds)[0]


def raw_rates(config, processes, seconds):
  """(frames/s of `processes` raw children at once, their mean frames per
  CPU-second each) for Atari and DeepMind Lab levels; NaNs otherwise."""
  domain, level = levels_lib.environment_level(config.level_set.levels[0])
  if domain not in ('atari', 'dmlab'):
    return float('nan'), float('nan')
  rates, _ = environment_benchmark.raw_parallel_timed(level, seconds,
                                                      processes, domain)
  return (sum(r for r, _ in rates) * config.num_action_repeats,
          np.mean([c for _, c in rates]) * config.num_action_repeats)


# ---------------------------------------------------------------------------
# The learner alone: step time, V-trace inside it, XLA.


def _fixed_batch(config, agent):
  """An ActorOutput-like time-major batch of host variables, random values,
  with the shapes of the run's environments (distributed.trajectory_specs)."""
  t, b = config.unroll_length + 1, config.batch_size
  rng = np.random.RandomState(0)
  num_actions = config.num_actions
  frame_shape = distributed.trajectory_specs(
      config).env_outputs.observation[0].shape[2:].as_list()

  def var(name, value):
    return tf.compat.v1.get_local_variable(name, initializer=value,
                                           use_resource=True).read_value()

  frames = var('frames', rng.randint(0, 256, [t, b] + frame_shape).astype(
      np.uint8))
  env_outputs = environments.StepOutput(
      reward=var('reward', rng.randint(-1, 2, [t, b]).astype(np.float32)),
      info=environments.StepOutputInfo(
          episode_return=tf.zeros([t, b]), episode_step=tf.zeros([t, b],
                                                                 tf.int32),
          game_over=tf.zeros([t, b], tf.bool)),
      done=var('done', rng.rand(t, b) < 0.01),
      observation=(frames, tf.fill([t, b], 'pick the red object' if
                                   config.use_instruction else '')))
  agent_outputs = networks.AgentOutput(
      action=var('action', rng.randint(0, num_actions, [t, b]).astype(
          np.int32)),
      policy_logits=var('logits', rng.randn(t, b, num_actions).astype(
          np.float32)),
      baseline=var('baseline', rng.randn(t, b).astype(np.float32)))
  return actor_lib.ActorOutput(
      level_name=tf.fill([b], config.level_set.levels[0]),
      agent_state=agent.initial_state(b), env_outputs=env_outputs,
      agent_outputs=agent_outputs)


def xla_replica_gradients(agent, data, config):
  """learner.replica_gradients with its ops (unroll, losses, gradients)
  compiled by XLA: marked with `jit_scope`, clustered per device. (A
  `tf.function(jit_compile=True)` cannot read variables on another device:
  the learner's live on the host's CPU.)"""
  with tf.xla.experimental.jit_scope(compile_ops=True,
                                     separate_compiled_gradients=False):
    return learner_lib.replica_gradients(agent, data, config)


LEARNER_VARIANTS = collections.OrderedDict([
    ('graph (experiment.py)', learner_lib.replica_gradients),
    ('XLA loss+gradients', xla_replica_gradients),
])


def measure_learner(config, steps, variant):
  """The learner's step as in training (staged batch, K replicas, one
  update) on fixed data, `variant`'s gradients: wall ms per step (median,
  best), this process's CPU ms per step (all threads: steadier than wall
  time on a shared machine) and V-trace's ms inside the traced step."""
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(0)
    with tf.device(learner_lib.HOST_DEVICE), \
        learner_lib.variables_on(learner_lib.HOST_DEVICE):
      agent = actor_lib.make_agent(config)
      data = _fixed_batch(config, agent)
      # Creates the variables (the actors do it in training).
      agent((data.agent_outputs.action[0], nest.map_structure(
          lambda t: t[0], data.env_outputs)), agent.initial_state(
              config.batch_size))
    stage_op, parts = learner_lib.stage(data, config)
    outputs = learner_lib.build_learner(agent, parts, config,
                                        LEARNER_VARIANTS[variant])
    fetch = (outputs.num_env_frames, stage_op)
    with tf.compat.v1.train.MonitoredSession(
        session_creator=tf.compat.v1.train.ChiefSessionCreator(
            config=learner_lib.session_config(1, config))) as monitored:
      session = monitored._tf_sess()  # pylint: disable=protected-access
      session.run(stage_op)
      for _ in range(3):
        session.run(fetch)
      times = []
      cpu_start = time.process_time()
      for _ in range(steps):
        start = time.perf_counter()
        session.run(fetch)
        times.append(time.perf_counter() - start)
      cpu_ms = 1e3 * (time.process_time() - cpu_start) / steps
      options = tf.compat.v1.RunOptions(
          trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
      vtrace_ms = []
      for _ in range(5):
        metadata = tf.compat.v1.RunMetadata()
        session.run(fetch, options=options, run_metadata=metadata)
        vtrace_ms.append(_vtrace_ms(metadata))
  return (1e3 * np.median(times), 1e3 * np.min(times), cpu_ms,
          np.median(vtrace_ms))


def print_learner_table(config, num_learners_list):
  """Learner-only rows for each K and variant, against K=1 graph."""
  frames_per_step = (config.batch_size * config.unroll_length *
                     config.num_action_repeats)
  print('Learner step alone, %s %s, batch %d x unroll %d (fixed data, '
        'staged), learner device %s, %d cores:' % (
            config.network, config.core, config.batch_size,
            config.unroll_length, device_name(config), os.cpu_count()))
  print('  %-3s %-22s %9s %9s %9s %12s %8s %9s %8s %10s %6s' % (
      'K', 'variant', 'ms median', 'ms best', 'steps/s', 'frames/s',
      'vs first', 'CPU ms', 'vs first', 'V-trace ms', 'load'))
  baseline = cpu_baseline = None
  for k in num_learners_list:
    for variant in LEARNER_VARIANTS:
      if variant.startswith('XLA') and not FLAGS.xla:
        continue
      if variant.startswith('XLA') and config.use_instruction:
        print('  %-3d %-22s  n/a: the instruction\'s string ops do not '
              'compile' % (k, variant))
        continue
      try:
        median, best, cpu_ms, vtrace_ms = measure_learner(
            config._replace(num_learners=k), FLAGS.learner_steps, variant)
      except (tf.errors.OpError, ValueError) as e:
        print('  %-3d %-22s  failed: %s' % (k, variant,
                                             str(e).strip().split("\n")[-1][:200]))
        continue
      baseline, cpu_baseline = baseline or median, cpu_baseline or cpu_ms
      print('  %-3d %-22s %9.1f %9.1f %9.2f %12.0f %7.2fx %9.1f %7.2fx '
            '%10.3f %6.2f' % (
                k, variant, median, best, 1e3 / median,
                frames_per_step * 1e3 / median, baseline / median, cpu_ms,
                cpu_baseline / cpu_ms, vtrace_ms, load_average()))
      sys.stdout.flush()


def device_name(config):
  """The learner device type and, for GPUs, the model."""
  if config.learner_device != 'gpu':
    return 'cpu'
  gpus = tf.config.list_physical_devices('GPU')
  details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
  return 'gpu (%s)' % details.get('device_name', 'unknown')


def _vtrace_ms(metadata):
  """Milliseconds of the step's V-trace ops (node names under 'vtrace')."""
  spans = []
  for device in metadata.step_stats.dev_stats:
    for node in device.node_stats:
      if 'vtrace' in node.node_name.lower():
        start = node.all_start_micros
        spans.append((start, start + node.all_end_rel_micros))
  if not spans:
    return float('nan')
  # Union of the intervals: nested ops (a call and its body) count once.
  spans.sort()
  total, (low, high) = 0, spans[0]
  for start, end in spans[1:]:
    if start > high:
      total += high - low
      low, high = start, end
    else:
      high = max(high, end)
  return (total + high - low) / 1e3


def vtrace_alone_us(config, repeats=300):
  """One XLA V-trace call with the learner's [T, B] in a session (us), minus
  the cost of an empty session call."""
  t, b, a = config.unroll_length, config.batch_size, config.num_actions
  rng = np.random.RandomState(0)
  with tf.Graph().as_default():
    def var(value):
      return tf.Variable(value.astype(np.float32)).read_value()
    returns = vtrace.from_logits(
        var(rng.randn(t, b, a)), var(rng.randn(t, b, a)),
        tf.constant(rng.randint(0, a, [t, b]).astype(np.int32)),
        var(np.full([t, b], .99)), var(rng.randn(t, b)), var(rng.randn(t, b)),
        var(rng.randn(b)))
    fetch = tf.reduce_sum(returns.vs) + tf.reduce_sum(returns.pg_advantages)
    floor = tf.constant(0.) + 1.
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      full = min(_time_op(session, fetch, repeats) for _ in range(3))
      empty = min(_time_op(session, floor, repeats) for _ in range(3))
  return 1e6 * full, 1e6 * (full - empty)


# ---------------------------------------------------------------------------
# Output.


def describe(config):
  return '%d actors x %d envs, batch %d, unroll %d, %s' % (
      config.num_actors, config.envs_per_actor, config.batch_size,
      config.unroll_length, config.network)


def print_measurement(m):
  print('Training, %s (%s), %.0f s after %.0f s warm-up:' % (
      m.config.level_set.name, describe(m.config), FLAGS.seconds,
      FLAGS.warmup_seconds))
  print('  frames/s (learner)        %8.0f   (actors produced %.0f)' %
        (m.fps, m.actor_fps))
  print('  learner steps/s           %8.2f   (%.1f ms per step)' %
        (m.learner_steps_per_sec, m.learner_step_ms))
  print('  actor inference batch     %8d   (%.2f ms per actor step: '
        'inference + environments; inference alone %.2f ms)' %
        (m.config.envs_per_actor, m.actor_step_ms, m.inference_ms))
  print('  queue occupancy           %8.2f   (full %.0f%% of samples, '
        'capacity 1)' % (m.queue_mean, 100 * m.queue_full))
  print('  CPU cores: this process %.2f, environments %.2f, other '
        'processes %.2f (of %d); load average %.2f' % (
            m.cpu_self, m.cpu_children, m.cpu_other, os.cpu_count(), m.load))
  num_envs = m.config.num_actors * m.config.envs_per_actor
  print('  environment processes     %8d   (%d environments; %.0f MiB '
        'proportional set size in all)' % (
            num_envs // actor_lib.group_size(m.config), num_envs,
            m.children_mib))
  print('  frames per CPU-second     %8.0f   (ours: process + environments;'
        ' x %d cores = the rate on an idle machine if all were ours)' % (
            efficiency(m), os.cpu_count()))
  sys.stdout.flush()


def print_raw(m, raw_envs, raw_cores, raw_per_cpu=None):
  num_envs = m.config.num_actors * m.config.envs_per_actor
  print('Raw emulator, random actions, %.0f s each (after training):' %
        FLAGS.raw_seconds)
  print('  %d processes (as training) %8.0f frames/s   training = %.0f%%' % (
      num_envs, raw_envs, 100 * m.fps / raw_envs))
  cores = os.cpu_count()
  print('  %d processes (one a core)  %8.0f frames/s   training = %.0f%%' % (
      cores, raw_cores, 100 * m.fps / raw_cores))
  if raw_per_cpu is not None:
    print('  frames per CPU-second: raw %.0f per process (one core), training '
          '%.0f (ours, all processes) = %.0f%% of raw' % (
              raw_per_cpu, efficiency(m), 100 * efficiency(m) / raw_per_cpu))
  sys.stdout.flush()


# Paper Table 1 (Espeholt et al. 2018), single-machine rows: environment
# frames/s of the shallow model on two DMLab tasks (seekavoid_arena_01,
# rooms_keys_doors_puzzle), Nvidia P100; ../shared/reference/
# impala_throughput.csv. (architecture, CPUs, GPUs, task 1, task 2)
PAPER_TABLE_1 = (
    ('A3C 32 workers', 64, 0, 6500, 9000),
    ('IMPALA 48 actors', 48, 0, 17000, 20500),
    ('IMPALA (dyn. batch) 48 actors', 48, 1, 21000, 24000),
)


def print_paper_rows(m):
  print('Paper Table 1, single machine (DMLab tasks 1/2, shallow model, '
        'P100), against this run (%s, %d CPUs, learner %s): %.0f frames/s' % (
            m.config.level_set.name, os.cpu_count(),
            device_name(m.config), m.fps))
  for name, cpus, gpus, task1, task2 in PAPER_TABLE_1:
    print('  %-31s %3d CPUs %d GPU %7d %7d frames/s   this run = %.0f%% of '
          'task 1' % (name, cpus, gpus, task1, task2, 100 * m.fps / task1))
  sys.stdout.flush()


def efficiency(m):
  """Frames per CPU-second of ours: less sensitive to other load."""
  return m.fps / max(m.cpu_self + m.cpu_children, 1e-9)


def sweep_grid(config):
  if FLAGS.sweep_grid:
    points = []
    for item in FLAGS.sweep_grid.split(','):
      try:
        a, e, b = (int(x) for x in item.lower().split('x'))
      except ValueError:
        raise ValueError('--sweep_grid: %r is not actorsxenvsxbatch.' % item)
      if min(a, e, b) < 1 or b > a * e:
        raise ValueError('--sweep_grid: %r needs positive values and a '
                         'batch of at most actors x envs.' % item)
      points.append((a, e, b))
    return points
  cores = os.cpu_count() or 1
  points = []
  for actors in sorted({cores, 2 * cores}):
    for envs in (8, 16, 32):
      for batch in (16, 32):
        if batch <= actors * envs:
          points.append((actors, envs, batch))
  del config
  return points


def run_sweep(base):
  rows = []
  for actors, envs, batch in sweep_grid(base):
    config = base._replace(num_actors=actors, envs_per_actor=envs,
                           batch_size=batch)
    m = measure_training(config, FLAGS.sweep_seconds,
                         FLAGS.sweep_warmup_seconds)
    rows.append(m)
    print('  %-44s %7.0f frames/s  %5.2f steps/s  %5.0f frames/CPU-s  '
          'other CPU %.2f  envs %.0f MiB' % (
              describe(config), m.fps, m.learner_steps_per_sec,
              efficiency(m), m.cpu_other, m.children_mib))
    sys.stdout.flush()
  print('\n%-7s %-5s %-6s %9s %8s %9s %6s %8s %8s %9s' % (
      'actors', 'envs', 'batch', 'frames/s', 'steps/s', 'actor ms', 'queue',
      'CPU own', 'CPU oth', 'frames/CPU-s'))
  for m in rows:
    c = m.config
    print('%-7d %-5d %-6d %9.0f %8.2f %9.2f %6.2f %8.2f %8.2f %9.0f' % (
        c.num_actors, c.envs_per_actor, c.batch_size, m.fps,
        m.learner_steps_per_sec, m.actor_step_ms, m.queue_mean,
        m.cpu_self + m.cpu_children, m.cpu_other, efficiency(m)))
  best = max(rows, key=lambda m: m.fps)
  print('Best by frames/s: %s, %.0f frames/s.' % (describe(best.config),
                                                 best.fps))
  frugal = max(rows, key=efficiency)
  print('Best by frames per CPU-second: %s, %.0f.' % (
      describe(frugal.config), efficiency(frugal)))
  return best


def main(argv):
  del argv
  try:
    config = config_lib.resolve_config()
    for name in ('seconds', 'sweep_seconds'):
      if FLAGS[name].value <= 0:
        raise ValueError('--%s must be > 0.' % name)
    for name in ('warmup_seconds', 'sweep_warmup_seconds', 'raw_seconds'):
      if FLAGS[name].value < 0:
        raise ValueError('--%s must be >= 0.' % name)
    if FLAGS.sweep:
      sweep_grid(config)
    num_learners_list = [int(k) for k in FLAGS.compare_num_learners] or [
        config.num_learners]
    for k in num_learners_list:
      config_lib.resolve_learner_device(
          config.learner_device, k, config.batch_size,
          len(tf.config.list_physical_devices('GPU')))
  except (ValueError, ImportError) as e:
    sys.exit('throughput.py: error: %s' % e)
  print('%d cores; load average %.2f at start.' % (os.cpu_count(),
                                                    load_average()))
  if FLAGS.learner_only:
    print_learner_table(config, num_learners_list)
    shapes = [(config.unroll_length, config.batch_size)]
    if shapes[0] != (100, 32):
      shapes.append((100, 32))  # TorchBeast's 670 us were measured here.
    for t, b in shapes:
      full, net = vtrace_alone_us(config._replace(unroll_length=t,
                                                  batch_size=b))
      print('  V-trace alone (XLA, T=%d, B=%d), one session call: %.0f us; '
            'minus an empty call: %.0f us' % (t, b, full, net))
    return
  if FLAGS.sweep:
    best = run_sweep(config)
    measured = best
  else:
    measured = measure_training(config, FLAGS.seconds, FLAGS.warmup_seconds)
    print_measurement(measured)
  if FLAGS.raw_seconds > 0 and config.level_set.domain not in ('atari',
                                                                 'dmlab'):
    print('No raw emulator rows: they are for Atari and DMLab levels.')
  elif FLAGS.raw_seconds > 0:
    num_envs = measured.config.num_actors * measured.config.envs_per_actor
    raw_envs, _ = raw_rates(config, num_envs, FLAGS.raw_seconds)
    raw_cores, raw_per_cpu = raw_rates(config, os.cpu_count(),
                                       FLAGS.raw_seconds)
    print_raw(measured, raw_envs, raw_cores, raw_per_cpu)
  print_paper_rows(measured)


if __name__ == '__main__':
  import console  # pylint: disable=g-import-not-at-top
  app.run(main, flags_parser=console.parse_flags)
