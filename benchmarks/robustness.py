# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
r"""Robustness to hyperparameters (paper Figure 4, right), rerun.

    python benchmarks/robustness.py --logdir=/tmp/robustness/catch
    python benchmarks/robustness.py --level_name=atari/pong \
        --frames=20000000 --logdir=/data/robustness/pong
    python benchmarks/robustness.py --level_name=seekavoid_arena_01 \
        --frames=200000000 --logdir=/data/robustness/seekavoid  # the paper's
    python benchmarks/robustness.py --agents=impala,a3c --num_combinations=8 \
        --frames=100000 --logdir=/tmp/robustness/quick -- --num_actors=4
    python benchmarks/robustness.py --helpfull   # every flag

(experiment.py's flags go after `--`, to every run.)

Samples `--num_combinations` hyperparameter combinations (24, as the paper)
once from Table D.1's ranges, the same for every architecture (`--seed`
fixes them): learning rate and entropy cost log-uniform, RMSProp epsilon one
of four values. Then trains each architecture of `--agents` (experiment.py
`--agent=X`) with each combination for `--frames` frames (the runs' own
`--total_environment_frames`, so that the learning rate anneals to 0 over
the budget; default: the level's), one run at a time, in
`<logdir>/<agent>/combo_<i>` (console in train.log there), through
benchmarks/learning.py's machinery: rerunning the same command continues
unfinished runs from their checkpoints and skips finished ones. Finally

  <logdir>/robustness.md   the combinations with their hyperparameters and
                           each architecture's final return with each; the
                           final returns sorted, best first (the figure's
                           points); per architecture how many runs reached
                           `--threshold`, the median, the best;
  <logdir>/robustness.png  per architecture the final returns sorted
                           descending against the combination's rank, as in
                           Figure 4 (right);
  <logdir>/combinations.json  the sampled combinations (a rerun with
                           another --seed or --num_combinations is refused).

A run's final return is the mean return of its last 100 episodes at its end
(the last progress.csv row with one, curves.read_curve). An architecture
that is robust keeps a flat, high line over many combinations.
"""

import functools
import json
import math
import os
import sys
import types

from absl import app
from absl import flags
import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import console  # pylint: disable=g-import-not-at-top,wrong-import-position
import curves  # pylint: disable=g-import-not-at-top,wrong-import-position
import files  # pylint: disable=g-import-not-at-top,wrong-import-position
import learning  # pylint: disable=g-import-not-at-top,wrong-import-position
import table1  # pylint: disable=g-import-not-at-top,wrong-import-position

PROGRAM = 'benchmarks/robustness.py'
# Table D.1 (Espeholt et al. 2018): the ranges of the hyperparameter sweep,
# "an identical set of 24 pre-sampled hyperparameter combinations".
LEARNING_RATE_RANGE = (5e-6, 5e-3)  # Log uniform.
ENTROPY_COST_RANGE = (5e-5, 1e-2)  # Log uniform.
EPSILONS = (1e-1, 1e-3, 1e-5, 1e-7)  # RMSProp epsilon, categorical.
# Flags set here for each run.
_OWN_FLAGS = ('--level_name', '--seed', '--logdir', '--agent',
              '--learning_rate', '--entropy_cost', '--epsilon',
              '--total_environment_frames')


def _log_uniform(rng, low, high):
  return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def sample_combinations(num_combinations, seed):
  """`num_combinations` dicts of learning_rate, entropy_cost, epsilon drawn
  from Table D.1's ranges; the same for the same seed."""
  rng = np.random.RandomState(seed)
  combinations = []
  for _ in range(num_combinations):
    combinations.append(dict(
        learning_rate=_log_uniform(rng, *LEARNING_RATE_RANGE),
        entropy_cost=_log_uniform(rng, *ENTROPY_COST_RANGE),
        epsilon=EPSILONS[rng.randint(len(EPSILONS))]))
  return combinations


def combination_flags(combination):
  return ['--%s=%r' % (name, combination[name])
          for name in ('learning_rate', 'entropy_cost', 'epsilon')]


def define_flags(flag_values=flags.FLAGS):
  """The benchmark's flags, in `flag_values`."""
  flags.DEFINE_list('agents', list(table1.DEFAULT_AGENTS), 'Comma-separated '
                    'experiment.py --agent values: ' +
                    ', '.join(table1.AGENTS) + '.', flag_values=flag_values)
  flags.DEFINE_string('level_name', 'catch', 'The level to train.',
                      flag_values=flag_values)
  flags.DEFINE_integer('num_combinations', 24, 'Hyperparameter combinations '
                       '(the paper: 24).', flag_values=flag_values)
  flags.DEFINE_integer('seed', 1, 'Seed of the combinations\' sampling.',
                       flag_values=flag_values)
  flags.DEFINE_integer('run_seed', 1, 'experiment.py --seed of every run.',
                       flag_values=flag_values)
  flags.DEFINE_integer('frames', None, 'Frame budget per run: its '
                       '--total_environment_frames (default: the level\'s).',
                       flag_values=flag_values)
  flags.DEFINE_float('threshold', None, 'Final return that counts as '
                     'learned in the summary (default: the highest of the '
                     'level\'s curves.DEFAULT_THRESHOLDS, if any).',
                     flag_values=flag_values)
  flags.DEFINE_string('logdir', None, 'Required: runs go to '
                      '<logdir>/<agent>/combo_<i>, the outputs to <logdir>.',
                      flag_values=flag_values)


def _error(message):
  """A one-line error before any run, exit status 2."""
  console.error(PROGRAM, message)


def check_args(flag_values, extra):
  """The settings from the parsed flags and the experiment.py flags after
  `--` (`extra`); one-line errors before any run."""
  args = types.SimpleNamespace(
      level_name=flag_values.level_name, frames=flag_values.frames,
      num_combinations=flag_values.num_combinations, seed=flag_values.seed,
      run_seed=flag_values.run_seed, logdir=flag_values.logdir,
      threshold=flag_values.threshold,
      agents=table1.check_agents(flag_values.agents, _error),
      extra=table1.check_extra(extra, _OWN_FLAGS, _error))
  if not args.logdir:
    _error('--logdir is required')
  if args.num_combinations < 1:
    _error('--num_combinations must be >= 1, got %d' % args.num_combinations)
  if args.frames is not None and args.frames < 1:
    _error('--frames must be >= 1, got %d' % args.frames)
  table1.check_level(args.level_name, _error)
  if args.threshold is None:
    args.threshold = max(curves.DEFAULT_THRESHOLDS.get(args.level_name, ()),
                         default=None)
  args.combinations = sample_combinations(args.num_combinations, args.seed)
  saved = os.path.join(args.logdir, 'combinations.json')
  if os.path.exists(saved):
    with open(saved) as f:
      if json.load(f) != args.combinations:
        _error('%s holds other combinations: rerun with the --seed and '
               '--num_combinations that made them, or use another --logdir'
               % saved)
  return args


def parse_args(argv):
  """Parses and checks `argv` (the arguments after the program's name)."""
  flag_values = flags.FlagValues()
  define_flags(flag_values)
  rest = console.parse_own_flags(PROGRAM, flag_values, [PROGRAM] + list(argv))
  return check_args(flag_values, rest[1:])


def run_dir(logdir, agent, i):
  return os.path.join(logdir, agent, 'combo_%d' % i)


def train_all(args):
  """Trains every (agent, combination) run not done yet."""
  budget = ([] if args.frames is None else
            ['--total_environment_frames=%d' % args.frames])
  for agent in args.agents:
    for i, combination in enumerate(args.combinations):
      run_logdir = run_dir(args.logdir, agent, i)
      command = learning.train_command(
          args.level_name, args.run_seed, run_logdir,
          table1.agent_flags(agent) + combination_flags(combination) +
          budget + args.extra)
      learning.train_unless_done('%s combo_%d' % (agent, i), command,
                                 run_logdir, None)


def final_return(run_logdir):
  """The run's final mean return of its last 100 episodes; NaN if it is
  not finished or has none."""
  if not learning.is_done(run_logdir, None):
    return float('nan')
  try:
    return float(curves.read_curve(run_logdir).returns[-1])
  except ValueError:  # No episode yet.
    return float('nan')


def final_returns(args):
  """{agent: [final return per combination]}."""
  return {agent: [final_return(run_dir(args.logdir, agent, i))
                  for i in range(len(args.combinations))]
          for agent in args.agents}


def sorted_returns(returns):
  """Best first, NaN (no result) last."""
  return sorted(returns, key=lambda r: (math.isnan(r), -r if r == r else 0))


def _cell(value):
  return '–' if math.isnan(value) else '%.3g' % value


def markdown(args, results):
  agents = args.agents
  lines = [
      '# Robustness to hyperparameters: %s' % args.level_name, '',
      '%d combinations from Table D.1\'s ranges (seed %d), %s frames per run '
      '(experiment.py --seed=%d; flags of every run: %s). Final return: the '
      'mean return of the last 100 episodes at the end of a run; – where a '
      'run is not finished.' % (
          len(args.combinations), args.seed,
          args.frames or 'the level\'s', args.run_seed,
          ' '.join(args.extra) or 'none'),
      '', '## Combinations', '',
      '| combination | learning rate | entropy cost | RMSProp ε | ' +
      ' | '.join(agents) + ' |', '|---' * (4 + len(agents)) + '|']
  for i, c in enumerate(args.combinations):
    lines.append('| %d | %.3g | %.3g | %g | %s |' % (
        i, c['learning_rate'], c['entropy_cost'], c['epsilon'],
        ' | '.join(_cell(results[a][i]) for a in agents)))
  lines += ['', '## Final returns, sorted (Figure 4, right)', '',
            '| rank | ' + ' | '.join(agents) + ' |',
            '|---' * (1 + len(agents)) + '|']
  columns = [sorted_returns(results[a]) for a in agents]
  for rank, row in enumerate(zip(*columns), 1):
    lines.append('| %d | %s |' % (rank, ' | '.join(map(_cell, row))))
  threshold = ('≥ %g' % args.threshold if args.threshold is not None
               else '≥ threshold (none given)')
  lines += ['', '## Summary', '',
            '| architecture | runs finished | %s | median | best |' %
            threshold, '|---|---|---|---|---|']
  for agent in agents:
    finished = [r for r in results[agent] if not math.isnan(r)]
    reached = ('–' if args.threshold is None else
               '%d' % sum(r >= args.threshold for r in finished))
    lines.append('| %s | %d of %d | %s | %s | %s |' % (
        agent, len(finished), len(results[agent]), reached,
        _cell(float(np.median(finished))) if finished else '–',
        _cell(max(finished)) if finished else '–'))
  return '\n'.join(lines) + '\n'


def plot(args, results, output):
  """Figure 4 (right): final returns sorted, against combination rank."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import matplotlib.ticker  # pylint: disable=g-import-not-at-top,unused-import
  figure, ax = plt.subplots(figsize=(6, 4.5))
  for agent in args.agents:
    returns = sorted_returns(results[agent])
    ax.plot(range(1, len(returns) + 1), returns, marker='o', markersize=3,
            label=table1.PAPER_TABLE1[agent].architecture)
  if args.threshold is not None:
    ax.axhline(args.threshold, color='gray', linestyle=':', linewidth=1)
  ax.set_title('%s, %s frames' % (args.level_name,
                                  args.frames or 'the level\'s'))
  ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
  ax.set_xlabel('hyperparameter combination (sorted by final return)')
  ax.set_ylabel('final return (mean of the last 100 episodes)')
  ax.legend(fontsize=8)
  figure.tight_layout()
  figure.savefig(output, format='png', dpi=100)
  plt.close(figure)


def write_outputs(args):
  """robustness.md and robustness.png in --logdir; returns the table."""
  results = final_returns(args)
  table = markdown(args, results)
  files.write_text(os.path.join(args.logdir, 'robustness.md'), table)
  files.write_atomically(os.path.join(args.logdir, 'robustness.png'),
                         lambda f: plot(args, results, f))
  return table


def run(args):
  """Trains the runs not yet done, then writes the outputs; a Ctrl-C ends it
  with one line, exit status 130."""
  os.makedirs(args.logdir, exist_ok=True)
  files.write_text(os.path.join(args.logdir, 'combinations.json'),
                   json.dumps(args.combinations, indent=1) + '\n')
  try:
    train_all(args)
  except KeyboardInterrupt:  # The run has stopped with its checkpoint.
    print('stopped; the same command continues from the checkpoints',
          file=sys.stderr)
    sys.exit(130)
  except RuntimeError as e:  # A run failed: learning.train says where.
    sys.exit('%s: error: %s' % (PROGRAM, e))
  print(write_outputs(args))
  print('wrote %s and %s' % (os.path.join(args.logdir, 'robustness.md'),
                             os.path.join(args.logdir, 'robustness.png')))


def main(argv):
  """app.run's main: argv holds the program and the flags after `--`."""
  run(check_args(flags.FLAGS, argv[1:]))


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=functools.partial(console.parse_flags,
                                                program=PROGRAM))
