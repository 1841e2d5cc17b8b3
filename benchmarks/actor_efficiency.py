# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
r"""An actor's efficiency: its frames per CPU-second against the raw emulator.

  python benchmarks/actor_efficiency.py [--level_name=atari/pong]
      [--num_actors=1] [--envs_per_actor=32] [--seconds=30]
      [--warmup_seconds=15] [--raw_seconds=10]

Starts one learner and `--num_actors` actor processes on this machine with
distributed.py's launcher (TensorFlow's gRPC runtime, real Atari), and over
`--seconds` after `--warmup_seconds` (counted from the learner's first step)
measures the frames the learner takes in (progress.csv; in steady state all
that the actors produce) and the CPU seconds of the actor processes and
their environment children only (/proc; the learner's CPU is not counted).
Then, with the cluster stopped, the raw emulator in the same run: one
process stepping random actions (throughput.raw_rates), then E such
processes at once (E = --envs_per_actor). It reports

  actor frames/s        frames/s per actor process;
  actor cores           CPU seconds per second of each actor process with
                        its environments;
  frames per CPU-s      actor frames/s / actor cores;
  raw frames per CPU-s  the raw emulator's, one process;
  share                 frames per CPU-s / raw frames per CPU-s: what is
                        left after inference, inter-process calls and
                        queueing (the goal is >= 80%);

and where an actor's CPU goes, in CPU microseconds per frame: all of it, in
the actor task (inference, the TF runtime, the py_func calls, gRPC), in its
environment children (the emulator and the child's side of each call), and
the raw emulator's with one process and with E processes sharing the cores
(the emulator's own cost when E of them take turns: caches, scheduling).

The result goes to `--output` (JSON; benchmarks/learner_ingest.py reads its
frames per CPU-second for the saturation estimate) and the same name with
.md. Flags of experiment.py given here are passed to every task.
"""

import json
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))
sys.path.insert(0, _HERE)

import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-order
from absl import flags

import learner_ingest
import throughput

FLAGS = flags.FLAGS

flags.DEFINE_string('efficiency_output', os.path.join(
    _HERE, 'results', 'actor_efficiency.json'), 'Result JSON (and .md).')

DEFAULT_SECONDS = 30.
DEFAULT_WARMUP_SECONDS = 15.


def check_config(config):
  """ValueError (one line) unless the run measures a real emulator."""
  if config.null_environment:
    raise ValueError('--null_environment measures no emulator: leave it out '
                     '(benchmarks/learner_ingest.py uses it).')
  if config.level_set.domain not in ('atari', 'dmlab'):
    raise ValueError('the raw emulator rate is for Atari and DMLab levels, '
                     'not %s.' % config.level_set.name)


def actor_cpu_seconds(launcher_pid):
  """(CPU seconds so far of the actor tasks, of their descendants (the
  environments), the number of actor tasks)."""
  actors = learner_ingest.task_pids(launcher_pid, 'actor')
  children = []
  for pid in actors:
    children += learner_ingest.descendants(pid)
  return (throughput.cpu_seconds(actors), throughput.cpu_seconds(children),
          len(actors))


def efficiency(frames_per_sec, num_actors, cpu_secs, seconds,
               raw_per_cpu_second, env_cpu_secs=None,
               raw_parallel_per_cpu_second=None):
  """The result's figures from the measured totals of the window.

  `cpu_secs` is all the actors' CPU (tasks and environments), of which
  `env_cpu_secs` in the environment children; `raw_parallel_per_cpu_second`
  the raw emulator's rate with as many processes at once as an actor has
  environments."""
  if cpu_secs <= 0 or seconds <= 0 or num_actors < 1:
    raise ValueError('no actor CPU time measured (%r s over %r s, %r actors).'
                     % (cpu_secs, seconds, num_actors))
  per_cpu = frames_per_sec / (cpu_secs / seconds)
  result = dict(actor_frames_per_second=frames_per_sec / num_actors,
                actor_cores=cpu_secs / seconds / num_actors,
                actor_frames_per_cpu_second=per_cpu,
                raw_frames_per_cpu_second=raw_per_cpu_second,
                share=per_cpu / raw_per_cpu_second)
  if env_cpu_secs is not None:
    # CPU microseconds per frame: where an actor's CPU goes.
    us = lambda secs: 1e6 * secs / (frames_per_sec * seconds)
    result.update(us_per_frame=us(cpu_secs),
                  us_per_frame_task=us(cpu_secs - env_cpu_secs),
                  us_per_frame_environments=us(env_cpu_secs),
                  us_per_frame_raw=1e6 / raw_per_cpu_second)
    if raw_parallel_per_cpu_second:
      result.update(
          raw_parallel_frames_per_cpu_second=raw_parallel_per_cpu_second,
          us_per_frame_raw_parallel=1e6 / raw_parallel_per_cpu_second)
  return result


def lines(result):
  """The result's markdown table, and where the CPU goes when measured."""
  table = [
      '| actors x envs | actor frames/s | actor cores | frames per CPU-s | '
      'raw frames per CPU-s | share |',
      '|---|---|---|---|---|---|',
      '| %d x %d | %.0f | %.2f | %.0f | %.0f | %.0f%% |' % (
          result['num_actors'], result['envs_per_actor'],
          result['actor_frames_per_second'], result['actor_cores'],
          result['actor_frames_per_cpu_second'],
          result['raw_frames_per_cpu_second'], 100 * result['share'])]
  if 'us_per_frame' in result:
    table += [
        '',
        '| CPU us per frame | actor | in its task (inference, TF, gRPC) | '
        'in its environments | raw emulator, 1 process | raw emulator, '
        '%d processes at once |' % result['envs_per_actor'],
        '|---|---|---|---|---|---|',
        '| | %.0f | %.0f | %.0f | %.0f | %s |' % (
            result['us_per_frame'], result['us_per_frame_task'],
            result['us_per_frame_environments'], result['us_per_frame_raw'],
            '%.0f' % result['us_per_frame_raw_parallel']
            if 'us_per_frame_raw_parallel' in result else '-')]
  return table


def main(argv):
  if len(argv) > 1:
    sys.exit('actor_efficiency.py: unexpected arguments %s' % argv[1:])
  try:
    config = config_lib.resolve_config()
    check_config(config)
    if FLAGS.seconds <= 0 or FLAGS.warmup_seconds < 0 or (
        FLAGS.raw_seconds <= 0):
      raise ValueError('--seconds and --raw_seconds must be > 0 and '
                       '--warmup_seconds >= 0.')
  except (ValueError, ImportError) as e:
    sys.exit('actor_efficiency.py: error: %s' % e)
  logdir = os.path.join(FLAGS.work_dir, 'actor_efficiency')
  print('%d actors x %d environments of %s: starting...' % (
      config.num_actors, config.envs_per_actor, config.level_set.name),
        flush=True)
  try:
    rows, start, probes = learner_ingest.run_cluster(
        learner_ingest.cluster_args(config.num_actors, logdir,
                                    FLAGS.base_port,
                                    ['--envs_per_actor=%d' %
                                     config.envs_per_actor]),
        logdir, FLAGS.warmup_seconds, FLAGS.seconds,
        probe=lambda pid: (time.perf_counter(),) + actor_cpu_seconds(pid))
    (t0, task0, env0, n0), (t1, task1, env1, n1) = probes
    if n0 != config.num_actors or n1 != config.num_actors:
      raise RuntimeError('found %d then %d actor processes, not %d.' %
                         (n0, n1, config.num_actors))
    window = learner_ingest.window_figures(
        rows, start, learner_ingest.frames_per_batch(config),
        config.batch_size)
  except (RuntimeError, ValueError) as e:
    sys.exit('actor_efficiency.py: error: %s' % e)
  _, raw_per_cpu = throughput.raw_rates(config, 1, FLAGS.raw_seconds)
  # The emulator alone when as many processes as an actor's environments
  # share the cores (cache and scheduling, no inter-process calls).
  _, raw_parallel_per_cpu = throughput.raw_rates(
      config, config.envs_per_actor, FLAGS.raw_seconds)
  result = efficiency(window['frames_per_sec'], config.num_actors,
                      task1 - task0 + env1 - env0, t1 - t0, raw_per_cpu,
                      env_cpu_secs=env1 - env0,
                      raw_parallel_per_cpu_second=raw_parallel_per_cpu)
  result.update(level_name=config.level_set.name,
                num_actors=config.num_actors,
                envs_per_actor=config.envs_per_actor, cores=os.cpu_count(),
                seconds=FLAGS.seconds, learner_queue_fill=window['queue_fill'])
  table = lines(result)
  path = FLAGS.efficiency_output
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(result, f, indent=1, sort_keys=True)
  with open(os.path.splitext(path)[0] + '.md', 'w') as f:
    f.write('\n'.join(table) + '\n')
  print('\n'.join(table))
  print('Written: %s and .md' % path)


if __name__ == '__main__':
  import console  # pylint: disable=g-import-not-at-top
  flags.FLAGS.set_default('seconds', DEFAULT_SECONDS)
  flags.FLAGS.set_default('warmup_seconds', DEFAULT_WARMUP_SECONDS)
  app.run(main, flags_parser=console.parse_flags)
