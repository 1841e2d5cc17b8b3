# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
r"""How far one learner scales: its ingest from K actor processes (issue 25).

  python benchmarks/learner_ingest.py [--actor_counts=1,2,4,8,16]
      [--seconds=20] [--warmup_seconds=10] [--level_name=atari/pong]
      [--batch_size=32] [--envs_per_actor=E] [--network=shallow]
      [--actor_frames_per_second=F] [--fresh]

For each K of `--actor_counts`, starts one learner and K actor processes on
this machine with distributed.py's launcher (TensorFlow's gRPC runtime, as
`python distributed.py --num_actors=K`), with `--null_environment`: the
actors step environments.PyProcessNull stand-ins of the Atari game (fixed
[84, 84, 4] frames, the game's actions), so an actor costs only inference,
queueing and gRPC, and the learner's own ceiling shows. Each K is measured
from the learner's progress.csv over `--seconds` after `--warmup_seconds`
counted from its first step (TensorFlow's start-up is not counted), then its
processes are stopped. Without `--envs_per_actor` each actor steps
ceil(batch_size / K) environments: the same environments at every K, split
over more processes. Columns, per K:

  traj/s        trajectories the learner takes in (learner steps/s x batch);
  frames/s      environment frames it takes in (agent steps x action
                repeats), as progress.csv counts them;
  step ms       wall seconds per learner step; `compute ms` the part spent
                computing (bottleneck.learner_split), not waiting for data;
  ceiling       frames per batch / compute seconds: the learner's frames/s
                if it never waited;
  queue         mean fill of the trajectory queue (0 empty, 1 full: the
                learner is the bottleneck);
  KB/traj       bytes of one trajectory's tensors in the enqueue that crosses
                gRPC, from distributed.trajectory_specs (the batch-major
                ActorOutput of one actor): for each tensor, its size without
                the leading batch dimension times its dtype's size, the level
                name at its length in bytes; gRPC and protobuf framing not
                counted. `KB/unroll` is the parameters an actor copies from
                the learner at the start of each unroll (every trainable
                variable; actor.copy_policy), shared by its E environments
                and T steps.

Then the saturation estimate:

  N* = F_learner / F_actor

where F_learner is the learner's most frames/s (the highest ceiling
measured) and F_actor a real-Atari actor's frames/s: from
`--actor_frames_per_second`, else from benchmarks/actor_efficiency.py's
result (its frames per CPU-second: N* is then in actor CPU cores). For a GPU
learner put its frames/s (benchmarks/throughput.py --learner_only on the GPU)
as F_learner.

Results go to `--output` (JSON) and the same name with .md (a markdown
table), written after every K; a rerun skips the K already there (resumable)
unless `--fresh`. Flags of experiment.py given here (e.g. --network,
--batch_size) are passed to every task.
"""

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
sys.path.insert(0, _ROOT)
sys.path.insert(0, _HERE)

import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-order
from absl import flags
import numpy as np
import tensorflow as tf

import actor as actor_lib
import distributed
import throughput  # Its --seconds and --warmup_seconds; /proc helpers.

FLAGS = flags.FLAGS

flags.DEFINE_list('actor_counts', ['1', '2', '4', '8', '16'],
                  'Actor process counts K to measure, in order.')
flags.DEFINE_string('output', os.path.join(_HERE, 'results',
                                           'learner_ingest.json'),
                    'Result JSON (and .md beside it); rows are kept between '
                    'runs.')
flags.DEFINE_bool('fresh', False, 'Measure every K again, even those in '
                  '--output.')
flags.DEFINE_float('actor_frames_per_second', 0.,
                   'A real-Atari actor\'s frames/s for the saturation '
                   'estimate; 0: its frames per CPU-second from '
                   '--actor_result.')
flags.DEFINE_string('actor_result', os.path.join(_HERE, 'results',
                                                 'actor_efficiency.json'),
                    'benchmarks/actor_efficiency.py\'s result.')
flags.DEFINE_integer('base_port', 9200, 'The learner\'s port; actors take '
                     'the next ones (learner_ingest.py: each K its own '
                     'range from here).')
flags.DEFINE_float('start_timeout_secs', 600., 'Seconds to wait for the '
                   'learner\'s first step.')
flags.DEFINE_string('work_dir', os.path.join(tempfile.gettempdir(),
                                             'impala_cluster_benchmarks'),
                    'Where each measurement\'s logdir goes (removed after).')

DEFAULT_SECONDS = 20.
DEFAULT_WARMUP_SECONDS = 10.
DISTRIBUTED_SCRIPT = os.path.join(_ROOT, 'distributed.py')
# Flags this module sets for every task; not passed through.
_OWN_FLAGS = ('num_actors', 'envs_per_actor', 'logdir', 'learner_address',
              'actor_hosts', 'actor_base_port', 'total_environment_frames',
              'log_interval_secs', 'save_checkpoint_secs', 'null_environment',
              'job_name', 'task', 'mode')


# ---------------------------------------------------------------------------
# Pure parts: arguments, bytes on the wire, the window, the estimate.


def parse_actor_counts(values):
  """The K of `--actor_counts` as ints; ValueError (one line) if bad."""
  try:
    counts = [int(v) for v in values]
  except ValueError:
    raise ValueError('--actor_counts must be integers, got %s.' %
                     ','.join(values)) from None
  if not counts or min(counts) < 1:
    raise ValueError('--actor_counts must be integers >= 1, got %s.' %
                     ','.join(values))
  if len(set(counts)) != len(counts):
    raise ValueError('--actor_counts has repeats: %s.' % ','.join(values))
  return counts


def envs_per_actor(batch_size, num_actors, given=None):
  """E: `given`, else the fewest that fill a batch: ceil(batch / K)."""
  return given or -(-batch_size // num_actors)


def spec_bytes(spec, level_name_bytes):
  """Bytes of one trajectory of a batch-major `tf.TensorSpec` [K, ...]."""
  if spec.dtype == tf.string:
    return level_name_bytes * int(np.prod(spec.shape[1:], dtype=np.int64))
  return int(np.prod(spec.shape[1:], dtype=np.int64)) * spec.dtype.size


def bytes_per_trajectory(specs, level_name):
  """Bytes of one trajectory on the wire: every tensor of the `specs` nest
  (distributed.trajectory_specs, batch-major [K, ...]) without the batch
  dimension, strings at the length of `level_name` in bytes. Framing is not
  counted."""
  size = len(level_name.encode('utf-8'))
  return sum(spec_bytes(s, size) for s in tf.nest.flatten(specs))


def parameter_bytes(config):
  """Bytes of the agent's trainable variables: what an actor copies from the
  learner at the start of each unroll."""
  with tf.Graph().as_default():
    agent = actor_lib.make_agent(config)
    actor_lib.build_actors(agent, config, 1)
    return sum(v.shape.num_elements() * v.dtype.size
               for v in tf.compat.v1.trainable_variables())


def frames_per_batch(config):
  return config.batch_size * config.unroll_length * config.num_action_repeats


def read_progress(logdir):
  """progress.csv's rows as dicts of floats (empty fields: NaN)."""
  path = os.path.join(logdir, 'progress.csv')
  if not os.path.exists(path):
    return []
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))

  def number(value):
    try:
      return float(value)
    except (TypeError, ValueError):
      return float('nan')
  return [{k: number(v) for k, v in row.items()} for row in rows]


def window_figures(rows, start_time, batch_frames, batch_size):
  """Ingest over the progress rows from the first at or after `start_time`
  to the last: dict of traj_per_sec, frames_per_sec, step_ms, compute_ms,
  ceiling_frames_per_sec, queue_fill, seconds. ValueError if the window
  has fewer than two rows or no learner step."""
  rows = [r for r in rows if r['wall_time'] >= start_time]
  if len(rows) < 2 or rows[-1]['learner_steps'] <= rows[0]['learner_steps']:
    raise ValueError('the measured window has no learner steps (%d rows).' %
                     len(rows))
  first, last = rows[0], rows[-1]
  seconds = last['wall_time'] - first['wall_time']
  steps = last['learner_steps'] - first['learner_steps']
  frames = last['frames'] - first['frames']
  inner = rows[1:]  # Each row's fractions are of the period it ends.
  computing = np.nanmean([r['learner_computing'] for r in inner])
  fills = [r['queue_fill'] for r in inner if not math.isnan(r['queue_fill'])]
  step_secs = seconds / steps
  compute_secs = step_secs * computing if not math.isnan(computing) else (
      step_secs)
  return dict(traj_per_sec=steps * batch_size / seconds,
              frames_per_sec=frames / seconds,
              step_ms=1e3 * step_secs, compute_ms=1e3 * compute_secs,
              ceiling_frames_per_sec=batch_frames / compute_secs,
              queue_fill=float(np.mean(fills)) if fills else None,
              seconds=seconds)


def saturation(learner_frames_per_sec, actor_frames_per_sec):
  """N* = F_learner / F_actor: actors (or actor cores, for frames per
  CPU-second) at which one learner saturates."""
  for name, value in (('learner frames/s', learner_frames_per_sec),
                      ('actor frames/s', actor_frames_per_sec)):
    if not value or value <= 0 or math.isnan(value):
      raise ValueError('%s must be > 0, got %r.' % (name, value))
  return learner_frames_per_sec / actor_frames_per_sec


# ---------------------------------------------------------------------------
# A cluster on this machine (distributed.py's launcher), shared with
# benchmarks/actor_efficiency.py.


def passed_flags():
  """experiment.py's flags given on this command line, as arguments."""
  return [FLAGS[f.name].serialize()
          for f in FLAGS.get_flags_for_module(config_lib)
          if f.present and f.name not in _OWN_FLAGS]


def cluster_args(num_actors, logdir, base_port, extra=()):
  """distributed.py's arguments for a local cluster measured from
  progress.csv: a budget it never reaches, rows every second, no
  checkpoints while measured."""
  return passed_flags() + list(extra) + [
      '--num_actors=%d' % num_actors, '--logdir=%s' % logdir,
      '--learner_address=localhost:%d' % base_port,
      '--actor_hosts=localhost', '--actor_base_port=%d' % (base_port + 1),
      '--total_environment_frames=%d' % int(1e12), '--log_interval_secs=1',
      '--save_checkpoint_secs=100000']


def descendants(pid):
  """Process ids of every descendant of `pid` (from /proc)."""
  parents = {}
  for name in os.listdir('/proc'):
    if name.isdigit():
      try:
        with open('/proc/%s/stat' % name) as f:
          parents[int(name)] = int(f.read().rsplit(')', 1)[1].split()[1])
      except (OSError, IndexError, ValueError):
        pass
  found, frontier = [], [pid]
  while frontier:
    children = [p for p, parent in parents.items() if parent in frontier]
    found += children
    frontier = children
  return found


def task_pids(launcher_pid, job_name):
  """The launcher's task processes of `job_name` (by their command line)."""
  pids = []
  for pid in descendants(launcher_pid):
    try:
      with open('/proc/%d/cmdline' % pid, 'rb') as f:
        args = f.read().split(b'\0')
    except OSError:
      continue
    if ('--job_name=%s' % job_name).encode() in args:
      pids.append(pid)
  return pids


def run_cluster(args, logdir, warmup_seconds, seconds, probe=None):
  """Runs distributed.py with `args` for `warmup_seconds + seconds` after
  the learner's first step, then stops it (the launcher stops every task).

  Returns (progress rows, start of the window, probes): `probe(launcher_pid)`
  (if given) is called at the window's start and end, and `probes` is the
  pair of its results.
  """
  shutil.rmtree(logdir, ignore_errors=True)
  os.makedirs(logdir)
  log_path = os.path.join(logdir, 'launcher.log')
  with open(log_path, 'wb') as log:
    launcher = subprocess.Popen([sys.executable, DISTRIBUTED_SCRIPT] + args,
                                stdout=log, stderr=subprocess.STDOUT)
  probes = (None, None)
  try:
    deadline = time.monotonic() + FLAGS.start_timeout_secs
    first = None
    while first is None:
      if launcher.poll() is not None or time.monotonic() > deadline:
        raise RuntimeError('the cluster did not start (see %s).' % log_path)
      rows = [r for r in read_progress(logdir) if r['learner_steps'] > 0]
      first = rows[0]['wall_time'] if rows else None
      time.sleep(.5)
    start = first + warmup_seconds
    time.sleep(max(0., start - time.time()))
    at_start = probe(launcher.pid) if probe else None
    time.sleep(seconds)
    probes = (at_start, probe(launcher.pid) if probe else None)
    time.sleep(1.5)  # The progress row after the window's end.
    if launcher.poll() is not None:
      raise RuntimeError('the cluster stopped while measured (see %s).' %
                         log_path)
    return read_progress(logdir), start, probes
  finally:
    if launcher.poll() is None:
      launcher.send_signal(signal.SIGTERM)
    launcher.wait()


# ---------------------------------------------------------------------------
# The measurement.


def resolve_configs(counts):
  """{K: Config} of the null-environment cluster of K actors."""
  given = FLAGS.envs_per_actor
  batch_size = FLAGS.batch_size or config_lib.DOMAIN_DEFAULTS['atari'][
      'batch_size']
  configs = {}
  try:
    for k in counts:
      FLAGS.num_actors = k
      FLAGS.envs_per_actor = envs_per_actor(batch_size, k, given)
      FLAGS.null_environment = True
      configs[k] = config_lib.resolve_config()
  finally:
    FLAGS.num_actors, FLAGS.envs_per_actor = None, given
    FLAGS.null_environment = False
  return configs


def load_results(path):
  if FLAGS.fresh or not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def markdown_rows(rows):
  lines = ['| K | E | traj/s | frames/s | step ms | compute ms | ceiling '
           'frames/s | queue | KB/traj | KB/unroll |',
           '|---|---|---|---|---|---|---|---|---|---|']
  for row in rows:
    queue = row['queue_fill']
    lines.append('| %d | %d | %.1f | %.0f | %.1f | %.1f | %.0f | %s | %.1f '
                 '| %.0f |' % (
                     row['num_actors'], row['envs_per_actor'],
                     row['traj_per_sec'], row['frames_per_sec'],
                     row['step_ms'], row['compute_ms'],
                     row['ceiling_frames_per_sec'],
                     '-' if queue is None else '%.2f' % queue,
                     row['bytes_per_trajectory'] / 1024.,
                     row['parameter_bytes'] / 1024.))
  return lines


def actor_rate():
  """(F_actor, what it is) for the estimate, or (None, why not)."""
  if FLAGS.actor_frames_per_second > 0:
    return FLAGS.actor_frames_per_second, 'frames/s (--actor_frames_per_second)'
  if os.path.exists(FLAGS.actor_result):
    with open(FLAGS.actor_result) as f:
      result = json.load(f)
    return (result['actor_frames_per_cpu_second'],
            'frames per CPU-second (%s)' % os.path.relpath(FLAGS.actor_result))
  return None, ('no real-Atari actor rate: run benchmarks/actor_efficiency.py '
                'or pass --actor_frames_per_second')


def estimate_lines(rows):
  if not rows:
    return ['No rows: nothing to estimate.']
  best = max(rows, key=lambda r: r['ceiling_frames_per_sec'])
  learner = best['ceiling_frames_per_sec']
  actor, what = actor_rate()
  lines = ['N* = F_learner / F_actor, F_learner = %.0f frames/s (ceiling at '
           'K=%d).' % (learner, best['num_actors'])]
  if actor is None:
    lines.append('F_actor unknown: %s.' % what)
  else:
    lines.append('F_actor = %.0f %s; N* = %.0f / %.0f = %.1f%s.' % (
        actor, what, learner, actor, saturation(learner, actor),
        ' actor cores' if 'CPU' in what else ' actors'))
  lines.append('For a GPU learner: F_learner = its frames/s from '
               'benchmarks/throughput.py --learner_only on the GPU.')
  return lines


def write_results(path, results, rows, estimate):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  results = dict(results, estimate=estimate)
  with open(path, 'w') as f:
    json.dump(results, f, indent=1, sort_keys=True)
  with open(os.path.splitext(path)[0] + '.md', 'w') as f:
    f.write('\n'.join(markdown_rows(rows) + [''] + estimate) + '\n')


def main(argv):
  if len(argv) > 1:
    sys.exit('learner_ingest.py: unexpected arguments %s' % argv[1:])
  try:
    counts = parse_actor_counts(FLAGS.actor_counts)
    if FLAGS.seconds <= 0 or FLAGS.warmup_seconds < 0:
      raise ValueError('--seconds must be > 0 and --warmup_seconds >= 0.')
    configs = resolve_configs(counts)
  except (ValueError, ImportError) as e:
    sys.exit('learner_ingest.py: error: %s' % e)
  config = configs[counts[0]]
  traj_bytes = bytes_per_trajectory(distributed.trajectory_specs(config),
                                    config.level_set.levels[0])
  param_bytes = parameter_bytes(config)
  results = load_results(FLAGS.output)
  results.setdefault('rows', {})
  setting = dict(
      level_name=config.level_set.name, batch_size=config.batch_size,
      unroll_length=config.unroll_length, network=config.network,
      cores=os.cpu_count(), seconds=FLAGS.seconds,
      warmup_seconds=FLAGS.warmup_seconds)
  if results['rows'] and results.get('setting') != setting:
    sys.exit('learner_ingest.py: error: %s holds rows of another setting '
             '(%s); pass --fresh or another --output.' %
             (FLAGS.output, results.get('setting')))
  results['setting'] = setting
  for k in counts:
    if str(k) in results['rows']:
      print('K=%d: in %s already (--fresh to measure again).' %
            (k, FLAGS.output))
      continue
    c = configs[k]
    logdir = os.path.join(FLAGS.work_dir, 'ingest_%d' % k)
    print('K=%d actors x %d environments: starting...' % (k, c.envs_per_actor),
          flush=True)
    # Ports of their own per K: the last cluster's may linger.
    port = FLAGS.base_port + counts.index(k) * (max(counts) + 2)
    args = cluster_args(k, logdir, port,
                        ['--null_environment',
                         '--envs_per_actor=%d' % c.envs_per_actor])
    try:
      progress_rows, start, _ = run_cluster(args, logdir,
                                            FLAGS.warmup_seconds,
                                            FLAGS.seconds)
      row = window_figures(progress_rows, start, frames_per_batch(c),
                           c.batch_size)
    except (RuntimeError, ValueError) as e:
      sys.exit('learner_ingest.py: error: K=%d: %s' % (k, e))
    row.update(num_actors=k, envs_per_actor=c.envs_per_actor,
               bytes_per_trajectory=traj_bytes, parameter_bytes=param_bytes)
    results['rows'][str(k)] = row
    print(markdown_rows([row])[-1], flush=True)
    shutil.rmtree(logdir, ignore_errors=True)
    rows = sorted(results['rows'].values(), key=lambda r: r['num_actors'])
    write_results(FLAGS.output, results, rows, estimate_lines(rows))
  rows = sorted(results['rows'].values(), key=lambda r: r['num_actors'])
  estimate = estimate_lines(rows)
  write_results(FLAGS.output, results, rows, estimate)
  print('\n'.join(markdown_rows(rows) + [''] + estimate))
  print('Written: %s and .md' % FLAGS.output)


if __name__ == '__main__':
  import console  # pylint: disable=g-import-not-at-top
  flags.FLAGS.set_default('seconds', DEFAULT_SECONDS)
  flags.FLAGS.set_default('warmup_seconds', DEFAULT_WARMUP_SECONDS)
  app.run(main, flags_parser=console.parse_flags)
