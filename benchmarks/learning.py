# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
r"""Learning benchmark: trains a level with given flags and seeds for a frame
budget, then draws the learning curves.

    python benchmarks/learning.py --level_name=atari/pong --frames=20000000 \
        --seeds=1,2,3 --logdir=/tmp/learning/pong [-- --entropy_cost=0.0006]

(`--helpfull` lists the flags; experiment.py's flags go after `--`.)

Each seed trains in its own `experiment.py` subprocess, one after the other,
in `<logdir>/seed_<N>` (its console in `train.log` there); flags after `--`
go to every run. A run stops itself with a final checkpoint at `--frames`
(experiment.py's `--stop_at_frames`, which its progress line's percent and
ETA refer to; a SIGINT stops it should it pass the budget otherwise), so the learning rate keeps the level's
own schedule (annealed over `--total_environment_frames`, 200M on Atari)
unless you pass that flag; without `--frames` a run goes to that budget
and is marked `finished`. Rerunning the same command continues unfinished
runs from their checkpoints and skips finished ones. Then `report.py
--curves` writes `<logdir>/curves.md` and `<logdir>/curves.png`.
"""

import csv
import os
import signal
import subprocess
import sys
import time
import types

from absl import app
from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import curves  # pylint: disable=g-import-not-at-top,wrong-import-position
import console  # pylint: disable=g-import-not-at-top,wrong-import-position
import files  # pylint: disable=g-import-not-at-top,wrong-import-position
import levels  # pylint: disable=g-import-not-at-top,wrong-import-position

# Written in a run's logdir when it reached its own frame budget.
_FINISHED = 'finished'
# Flags the benchmark sets for each run itself.
_OWN_FLAGS = ('--level_name', '--seed', '--logdir', '--stop_at_frames')


def last_frames(logdir):
  """Frames of the last progress row in `logdir`, 0 if none."""
  path = os.path.join(logdir, 'progress.csv')
  if not os.path.exists(path):
    return 0
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))
  return int(rows[-1]['frames']) if rows else 0


def train_command(level_name, seed, logdir, extra_flags, frames=None):
  """experiment.py's command line; with `frames`, the run stops itself
  there (`--stop_at_frames`: its progress percent and ETA refer to it, the
  learning rate keeps its schedule)."""
  return ([sys.executable, os.path.join(_ROOT, 'experiment.py'),
           '--level_name=' + level_name, '--seed=%d' % seed,
           '--logdir=' + logdir] +
          (['--stop_at_frames=%d' % frames] if frames is not None else []) +
          list(extra_flags))


def train(command, logdir, frames, poll_secs=1., stops_itself=False):
  """Runs one training command until it exits or passes `frames` (a
  SIGINT stops it there, unless the command `stops_itself` at `frames`).

  Returns:
    True if the run ended by itself at its --total_environment_frames
    (not at `frames`).
  """
  os.makedirs(logdir, exist_ok=True)
  if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    # Started in the background (`nohup ... &` ignores SIGINT): a `kill
    # -INT` must still stop the run cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
  with open(os.path.join(logdir, 'train.log'), 'a') as log:
    # Its own process group: a terminal's Ctrl-C reaches only this process,
    # which passes it on once (a second SIGINT would abort the clean stop).
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               cwd=_ROOT, process_group=0)
    try:
      while process.poll() is None:
        if (frames is not None and not stops_itself and
            last_frames(logdir) >= frames):
          process.send_signal(signal.SIGINT)  # A clean stop: checkpoint.
          process.wait()
          return False
        time.sleep(poll_secs)
    except KeyboardInterrupt:  # Ctrl-C or a `kill -INT` of this process.
      if process.poll() is None:
        process.send_signal(signal.SIGINT)
      process.wait()  # Its clean stop: a final checkpoint.
      raise
    finally:
      if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait()
  if process.returncode not in (0, -signal.SIGINT):
    raise RuntimeError('%s failed (exit %d); see %s' % (
        ' '.join(command), process.returncode,
        os.path.join(logdir, 'train.log')))
  return frames is None or last_frames(logdir) < frames


def is_done(logdir, frames):
  """Whether a run has its `frames`, or (frames None) ended by itself."""
  if frames is None:
    return os.path.exists(os.path.join(logdir, _FINISHED))
  return last_frames(logdir) >= frames


def train_unless_done(name, command, run_logdir, frames, stops_itself=False):
  """Trains one run named `name` unless it is done; marks it finished when
  it ends by itself (`train` says how it stops at `frames`)."""
  done = last_frames(run_logdir)
  if is_done(run_logdir, frames):
    print('%s: done (%d frames) in %s' % (name, done, run_logdir))
    return
  print('%s: training from frame %d in %s' % (name, done, run_logdir),
        flush=True)
  start = time.time()
  if train(command, run_logdir, frames, stops_itself=stops_itself):
    text = '%d\n' % last_frames(run_logdir)
    files.write_text(os.path.join(run_logdir, _FINISHED), text)
  print('%s: %d frames after %.0f s' % (
      name, last_frames(run_logdir), time.time() - start), flush=True)


def run_benchmark(level_name, frames, seeds, logdir, extra_flags,
                  thresholds=None, network='shallow'):
  """Trains the unfinished seeds, then writes the curves; returns their
  paths."""
  logdirs = [os.path.join(logdir, 'seed_%d' % seed) for seed in seeds]
  for seed, run_logdir in zip(seeds, logdirs):
    command = train_command(level_name, seed, run_logdir, extra_flags, frames)
    train_unless_done('seed %d' % seed, command, run_logdir, frames,
                      stops_itself=True)
  return curves.write_curves(logdirs, logdir, thresholds, network)


def define_flags(flag_values=flags.FLAGS):
  """The benchmark's flags, in `flag_values`."""
  flags.DEFINE_string('level_name', 'catch', 'The level to train.',
                      flag_values=flag_values)
  flags.DEFINE_integer('frames', None, 'Frame budget per run (default: the '
                       'level\'s --total_environment_frames).',
                       flag_values=flag_values)
  flags.DEFINE_list('seeds', ['1'], 'Comma-separated seeds.',
                    flag_values=flag_values)
  flags.DEFINE_string('logdir', None, 'Required: runs go to '
                      '<logdir>/seed_<N>, the curves to <logdir>.',
                      flag_values=flag_values)
  flags.DEFINE_list('thresholds', None, 'Comma-separated returns to table '
                    '(default: per level, curves.DEFAULT_THRESHOLDS).',
                    flag_values=flag_values)
  flags.DEFINE_enum('network', None, ['shallow', 'deep'], 'The agent, for '
                    'the paper\'s reference score (default: --network among '
                    'the flags after --, else shallow).',
                    flag_values=flag_values)


def _error(message):
  """A one-line error before any run, exit status 2."""
  console.error('benchmarks/learning.py', message)


def check_args(flag_values, extra):
  """Checks the parsed flags and the experiment.py flags after `--`.

  Returns:
    (args, extra): the benchmark's settings, the flags for every run.
  """
  args = types.SimpleNamespace(
      level_name=flag_values.level_name, frames=flag_values.frames,
      logdir=flag_values.logdir, network=flag_values.network)
  extra = [flag for flag in extra if flag != '--']
  if not args.logdir:
    _error('--logdir is required')
  try:
    levels.resolve(args.level_name)
    args.seeds = [int(s) for s in flag_values.seeds]
    args.thresholds = curves.parse_thresholds(
        ','.join(flag_values.thresholds) if flag_values.thresholds else None)
  except ValueError as e:
    _error(str(e))
  if args.frames is not None and args.frames < 1:
    _error('--frames must be >= 1, got %d' % args.frames)
  for flag in extra:
    if not flag.startswith('--') or flag.split('=')[0] in _OWN_FLAGS:
      _error('%r: pass experiment.py flags as --name=value after --, except '
             '%s (set here)' % (flag, ', '.join(_OWN_FLAGS)))
  if args.network is None:
    args.network = 'deep' if '--network=deep' in extra else 'shallow'
  return args, extra


def parse_args(argv):
  """Parses and checks `argv` (the arguments after the program's name);
  one-line errors before any run."""
  flag_values = flags.FlagValues()
  define_flags(flag_values)
  rest = console.parse_own_flags('benchmarks/learning.py', flag_values,
                                 ['benchmarks/learning.py'] + list(argv))
  return check_args(flag_values, rest[1:])


def run(args, extra):
  """Runs the benchmark; a Ctrl-C ends it with one line, exit status 130."""
  try:
    md_path, png_path = run_benchmark(args.level_name, args.frames,
                                      args.seeds, args.logdir, extra,
                                      args.thresholds, args.network)
  except KeyboardInterrupt:  # The run has stopped with its checkpoint.
    print('stopped; the same command continues from the checkpoints',
          file=sys.stderr)
    sys.exit(130)
  with open(md_path) as f:
    print(f.read())
  print('wrote %s and %s' % (md_path, png_path))


def main(argv):
  """app.run's main: argv holds the program and the flags after `--`."""
  run(*check_args(flags.FLAGS, argv[1:]))


if __name__ == '__main__':
  define_flags()
  import console  # pylint: disable=g-import-not-at-top
  app.run(main, flags_parser=console.parse_flags)
