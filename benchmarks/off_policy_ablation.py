# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
r"""The V-trace ablation of paper section 5.2 (Table 2), rerun.

Trains the 8 settings of Table 2 (4 off-policy corrections x experience
replay off/on) on each level for a frame budget and several seeds, each run
a subprocess `experiment.py --off_policy_correction=... --replay_proportion=
...`, one at a time, then writes

  <output>/table2.md   final return per setting and level, Table 2's shape:
                       mean over seeds +- their standard deviation, where a
                       run's final return is the mean return of its last 100
                       episodes (progress.csv's last row); the paper's value
                       beside it for the paper's 5 DMLab tasks;
  <output>/curves.png  learning curves (mean over seeds, per level);
  <output>/results.json  every run's final return.

Usage:
  python benchmarks/off_policy_ablation.py --levels=catch --seeds=1,2,3 \
      --output=/tmp/ablation_catch
  python benchmarks/off_policy_ablation.py --levels=atari/breakout \
      --frames=200000 --seeds=1,2 --output=/tmp/ablation_breakout
  python benchmarks/off_policy_ablation.py --levels=table2_dmlab \
      --frames=200000000 --output=/data/ablation_dmlab  # the paper's tasks
  ... -- --num_actors=4   # flags after `--` go to every experiment.py run
  python benchmarks/off_policy_ablation.py --helpfull   # every flag

Runs whose logdir already reached the budget are not run again, so an
interrupted benchmark resumes where it stopped.
"""

import csv
import json
import os
import subprocess
import sys
import time
import types
import warnings

from absl import app
from absl import flags
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import console  # pylint: disable=g-import-not-at-top,wrong-import-position
import files  # pylint: disable=g-import-not-at-top,wrong-import-position
import levels as levels_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

CORRECTIONS = (('vtrace', 'V-trace'), ('one_step', '1-Step'),
               ('epsilon', 'ε-correction'), ('none', 'No-correction'))
# The paper's replay runs: half of each batch from the buffer.
REPLAY_PROPORTIONS = (0., .5)
# The tasks of Table 2 and its final returns (/work/shared/reference,
# summary.md section 1): {(correction, replayed): [task 1..5]}.
TABLE2_DMLAB = ('rooms_watermaze', 'rooms_keys_doors_puzzle',
                'lasertag_three_opponents_small',
                'explore_goal_locations_small', 'seekavoid_arena_01')
PAPER_TABLE2 = {
    ('vtrace', False): (46.8, 32.9, 31.3, 229.2, 43.8),
    ('one_step', False): (51.8, 35.9, 25.4, 215.8, 43.7),
    ('epsilon', False): (44.2, 27.3, 4.3, 107.7, 41.5),
    ('none', False): (40.3, 29.1, 5.0, 94.9, 16.1),
    ('vtrace', True): (47.1, 35.8, 34.5, 250.8, 46.9),
    ('one_step', True): (54.7, 34.4, 26.4, 204.8, 41.6),
    ('epsilon', True): (30.4, 30.2, 3.9, 101.5, 37.6),
    ('none', True): (35.0, 21.1, 2.8, 85.0, 11.2),
}


def define_flags(flag_values=flags.FLAGS):
  """The benchmark's flags, in `flag_values`."""
  flags.DEFINE_list('levels', ['catch'], 'Comma-separated --level_name '
                    'values; table2_dmlab: the 5 DMLab tasks of Table 2.',
                    flag_values=flag_values)
  flags.DEFINE_integer('frames', None, 'Frame budget per run (default: the '
                       'level\'s).', flag_values=flag_values)
  flags.DEFINE_list('seeds', ['1', '2', '3'], 'Comma-separated seeds.',
                    flag_values=flag_values)
  flags.DEFINE_float('replay_proportion', .5, 'The replay rows\' share of '
                     'each batch.', flag_values=flag_values)
  flags.DEFINE_string('output', '/tmp/off_policy_ablation', 'Where the runs, '
                      'table2.md, curves.png and results.json go.',
                      flag_values=flag_values)
  flags.DEFINE_float('log_interval_secs', 2., 'progress.csv rows: the points '
                     'of the curves.', flag_values=flag_values)


def _error(message):
  """A one-line error before any run, exit status 2."""
  console.error('benchmarks/off_policy_ablation.py', message)


def check_args(flag_values, extra):
  """The settings from the parsed flags and the experiment.py flags after
  `--` (`extra`); one-line errors before any run."""
  args = types.SimpleNamespace(
      frames=flag_values.frames, output=flag_values.output,
      replay_proportion=flag_values.replay_proportion,
      log_interval_secs=flag_values.log_interval_secs,
      extra=[flag for flag in extra if flag != '--'])
  names = list(flag_values.levels)
  if 'table2_dmlab' in names:
    i = names.index('table2_dmlab')
    names[i:i + 1] = TABLE2_DMLAB
  args.levels = names
  try:
    args.seeds = [int(s) for s in flag_values.seeds]
    level_sets = [levels_lib.resolve(name) for name in names]
  except ValueError as e:
    _error(str(e))
  if any(level_set.domain == 'dmlab' for level_set in level_sets):
    import environments  # pylint: disable=g-import-not-at-top
    try:
      environments.check_dmlab_available()
    except ImportError as e:
      _error(str(e))
  if not 0 < args.replay_proportion < 1:
    _error('--replay_proportion must be in (0, 1)')
  return args


def parse_args(argv):
  """Parses and checks `argv` (the arguments after the program's name)."""
  flag_values = flags.FlagValues()
  define_flags(flag_values)
  program = 'benchmarks/off_policy_ablation.py'
  rest = console.parse_own_flags(program, flag_values, [program] + list(argv))
  return check_args(flag_values, rest[1:])


def settings(replay_proportion):
  """The 8 rows of Table 2: (correction, replay proportion)."""
  return [(correction, proportion)
          for proportion in (0., replay_proportion)
          for correction, _ in CORRECTIONS]


def run_dir(output, level, correction, proportion, seed):
  return os.path.join(output, 'runs', level.replace('/', '_'),
                      '%s_replay%g_seed%d' % (correction, proportion, seed))


def read_curve(logdir):
  """(frames, mean return of the last 100 episodes) from progress.csv."""
  path = os.path.join(logdir, 'progress.csv')
  if not os.path.exists(path):
    return np.zeros(0), np.zeros(0)
  with open(path) as f:
    rows = [r for r in csv.DictReader(f) if r['frames']]
  return (np.array([float(r['frames']) for r in rows]),
          np.array([float(r['mean_episode_return'] or 'nan') for r in rows]))


def train(args, level, correction, proportion, seed):
  """Runs experiment.py once unless its logdir already holds the budget."""
  logdir = run_dir(args.output, level, correction, proportion, seed)
  frames, _ = read_curve(logdir)
  if args.frames and frames.size and frames[-1] >= args.frames:
    return
  os.makedirs(logdir, exist_ok=True)
  command = [sys.executable, os.path.join(ROOT, 'experiment.py'),
             '--level_name=' + level, '--logdir=' + logdir,
             '--seed=%d' % seed, '--off_policy_correction=' + correction,
             '--replay_proportion=%g' % proportion,
             '--log_interval_secs=%g' % args.log_interval_secs]
  if args.frames:
    command.append('--total_environment_frames=%d' % args.frames)
  start = time.time()
  with open(os.path.join(logdir, 'run.log'), 'a') as log:
    code = subprocess.call(command + args.extra, stdout=log,
                           stderr=subprocess.STDOUT, cwd=ROOT)
  if code:
    sys.exit('off_policy_ablation: %s failed (status %d); see %s' % (
        ' '.join(command), code, os.path.join(logdir, 'run.log')))
  final = read_curve(logdir)[1]
  print('%s %s replay %g seed %d: final return %.3f, %.0f s' % (
      level, correction, proportion, seed,
      final[-1] if final.size else float('nan'), time.time() - start),
        flush=True)


def final_returns(args):
  """{level: {(correction, proportion): [final return per seed]}}."""
  results = {}
  for level in args.levels:
    for setting in settings(args.replay_proportion):
      finals = []
      for seed in args.seeds:
        returns = read_curve(run_dir(args.output, level, *setting, seed))[1]
        finals.append(float(returns[-1]) if returns.size else float('nan'))
      results.setdefault(level, {})[setting] = finals
  return results


def markdown_table(results, args):
  """Table 2's shape: a row per setting, a column per level."""
  levels, seeds, replay_proportion = (args.levels, args.seeds,
                                      args.replay_proportion)
  header = ['', ''] + list(levels)
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '---|' * len(header)]
  for correction, proportion in settings(replay_proportion):
    label = dict(CORRECTIONS)[correction]
    cells = ['Replay' if proportion else 'No replay', label]
    for level in levels:
      finals = np.array(results[level][(correction, proportion)])
      cell = '%.2f ± %.2f' % (np.mean(finals), np.std(finals))
      if level in TABLE2_DMLAB:
        cell += ' (paper %.1f)' % PAPER_TABLE2[(correction, bool(proportion))][
            TABLE2_DMLAB.index(level)]
      cells.append(cell)
    lines.append('| ' + ' | '.join(cells) + ' |')
  lines.append('')
  lines.append('Final return: the mean return of the last 100 episodes of a '
               'run, then mean ± standard deviation over %d seeds (%s). '
               'Replay: %g of each batch from a buffer of trajectories. '
               'Frames per run: %s; flags of every run: %s.' % (
                   len(seeds), ','.join(map(str, seeds)), replay_proportion,
                   args.frames or 'the level\'s default',
                   ' '.join(args.extra) or 'none'))
  return '\n'.join(lines) + '\n'


def plot_curves(args, output):
  """One panel per level; a line per setting, the mean over seeds."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figure, axes = plt.subplots(1, len(args.levels), squeeze=False,
                              figsize=(6 * len(args.levels), 4.5))
  colors = dict(zip([c for c, _ in CORRECTIONS], plt.cm.tab10.colors))
  for ax, level in zip(axes[0], args.levels):
    for correction, proportion in settings(args.replay_proportion):
      curves = [read_curve(run_dir(args.output, level, correction,
                                   proportion, seed))
                for seed in args.seeds]
      end = max(frames[-1] for frames, _ in curves if frames.size)
      grid = np.linspace(0, end, 60)
      stacked = [np.interp(grid, frames[np.isfinite(r)], r[np.isfinite(r)],
                           left=np.nan)
                 for frames, r in curves if np.isfinite(r).any()]
      with warnings.catch_warnings():  # No episode yet at the first points.
        warnings.simplefilter('ignore', RuntimeWarning)
        mean = np.nanmean(stacked, axis=0)
      ax.plot(grid, mean, color=colors[correction],
              linestyle='--' if proportion else '-',
              label='%s%s' % (dict(CORRECTIONS)[correction],
                              ', replay' if proportion else ''))
    ax.set_title(level)
    ax.set_xlabel('environment frames')
    ax.set_ylabel('mean return, last 100 episodes')
    ax.legend(fontsize=8)
  figure.tight_layout()
  figure.savefig(output, format='png', dpi=100)
  plt.close(figure)


def write_outputs(args):
  results = final_returns(args)
  table = markdown_table(results, args)

  files.write_text(os.path.join(args.output, 'table2.md'), table)
  files.write_text(os.path.join(args.output, 'results.json'), json.dumps(
      {level: {'%s,replay=%g' % k: v for k, v in r.items()}
       for level, r in results.items()}, indent=2) + '\n')
  files.write_atomically(os.path.join(args.output, 'curves.png'),
                         lambda f: plot_curves(args, f))
  print(table)
  print('Wrote %s/{table2.md,curves.png,results.json}' % args.output)


def run(args):
  """Trains the runs not yet done, then writes the outputs."""
  os.makedirs(args.output, exist_ok=True)
  for level in args.levels:
    for seed in args.seeds:
      for correction, proportion in settings(args.replay_proportion):
        train(args, level, correction, proportion, seed)
  write_outputs(args)


def main(argv):
  """app.run's main: argv holds the program and the flags after `--`."""
  run(check_args(flags.FLAGS, argv[1:]))


if __name__ == '__main__':
  define_flags()
  import console  # pylint: disable=g-import-not-at-top
  app.run(main, flags_parser=console.parse_flags)
