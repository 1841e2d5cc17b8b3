# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Learning curves from the `progress.csv` of one or more training runs.

    python report.py --curves=<logdir>[,<more logdirs>...] --output=<dir> \
        [--thresholds=-15,0,15,18] [--network=shallow]

A logdir may be given as LABEL=LOGDIR: runs of one label are seeds of one
configuration, and each label gets its own line (controlled comparisons).
The command writes `<dir>/curves.png`: per level, the mean episode return (the
learner's mean over the last 100 games, progress.py) against environment
frames and against training wall time, the mean over runs with the range
(min to max) across runs shaded, and the paper's final score as a dashed
line (Table C.1's expert column for the network, Table B.1 for DMLab-30
levels); and `<dir>/curves.md`: per level, the frames and the wall time at
which each run first reached each threshold return.

Runs are grouped by the `level_name` column of their progress.csv. Wall time
is training time from the first progress row (the start-up before it is not
counted); the gap between a stopped run and its resumption counts as one
progress interval. A threshold counts as reached
only once the mean covers at least `MIN_EPISODES` games (the issue's "over
100 episodes").
"""

import collections
import csv
import os

import numpy as np

import files
import levels as levels_lib
import scores

# A run reaches a return once its mean covers this many games.
MIN_EPISODES = 100
# Returns to reach, per level, when --thresholds is not given.
DEFAULT_THRESHOLDS = {
    'atari/pong': (-15., 0., 15., 18.),
    'atari/breakout': (10., 50., 100., 300.),
    'catch': (0., .5, .9),
}

# One run: 1-D arrays over its progress rows (frames increasing); `label`
# names its configuration (runs of one label are seeds of one setting).
Curve = collections.namedtuple(
    'Curve', 'logdir label level_name frames seconds returns episodes')


def parse_thresholds(text):
  """'-15,0,15' -> (-15., 0., 15.); None stays None (the defaults)."""
  if text is None:
    return None
  try:
    return tuple(float(x) for x in text.split(','))
  except ValueError:
    raise ValueError('thresholds: expected returns separated by commas, got '
                     '%r' % text)


def training_seconds(wall_time, learner_steps):
  """Seconds of training at each row. A resumed run restarts its learner
  step count; the time between its stop and its resumption counts as one
  (median) progress interval."""
  wall_time = np.asarray(wall_time, np.float64)
  steps = np.diff(wall_time)
  restarts = np.diff(learner_steps) < 0
  interval = np.median(steps[~restarts]) if (~restarts).any() else 0.
  steps = np.where(restarts, interval, steps)
  return np.concatenate([[0.], np.cumsum(steps)])


def superseded_rows_dropped(frames):
  """Indices of the rows that stand, frames increasing. A run that died
  without its final checkpoint resumes from an older one and writes its
  frames again from there; its rows after that checkpoint are superseded
  by the later ones (the time they took still counts as training time:
  it was spent)."""
  frames = np.asarray(frames, np.float64)
  later_min = np.minimum.accumulate(frames[::-1])[::-1]
  later_min = np.append(later_min[1:], np.inf)
  return [int(i) for i in np.flatnonzero(frames < later_min)]


def split_label(argument):
  """'LABEL=LOGDIR' -> (LABEL, LOGDIR); a plain LOGDIR has the label ''."""
  label, sep, logdir = argument.partition('=')
  if not sep or os.path.isdir(argument):
    return '', argument
  return label, logdir


def read_curve(argument):
  """The rows of `<logdir>/progress.csv` with a mean return, as a Curve.
  `argument` is a logdir or LABEL=LOGDIR."""
  label, logdir = split_label(argument)
  path = os.path.join(logdir, 'progress.csv')
  if not os.path.exists(path):
    raise ValueError('%s: no progress.csv (not a training logdir?)' % logdir)
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))
  seconds = training_seconds([float(r['wall_time']) for r in rows],
                             [int(r['learner_steps']) for r in rows])
  current = superseded_rows_dropped([float(r['frames']) for r in rows])
  keep = [i for i in current
          if rows[i].get('mean_episode_return') not in (None, '', 'nan')]
  if not keep:
    raise ValueError('%s has no row with a mean return yet' % path)
  rows = [rows[i] for i in keep]
  level_names = {row.get('level_name') or '' for row in rows} - {''}
  if len(level_names) > 1:
    raise ValueError('%s mixes levels %s' % (path, sorted(level_names)))
  return Curve(logdir, label, level_names.pop() if level_names else 'unknown',
               np.array([float(r['frames']) for r in rows]), seconds[keep],
               np.array([float(r['mean_episode_return']) for r in rows]),
               np.array([int(r['episodes']) for r in rows]))


def group_by_level(curves):
  """{level_name: {label: [Curve]}} in the order they first appear."""
  groups = collections.OrderedDict()
  for curve in curves:
    groups.setdefault(curve.level_name, collections.OrderedDict()).setdefault(
        curve.label, []).append(curve)
  return groups


def first_reaching(curve, threshold):
  """(frames, seconds) of the first row with mean return >= threshold over
  at least MIN_EPISODES games, or None."""
  reached = (curve.returns >= threshold) & (curve.episodes >= MIN_EPISODES)
  if not reached.any():
    return None
  i = int(np.argmax(reached))
  return curve.frames[i], curve.seconds[i]


def mean_and_range(curves, x_field, num_points=200):
  """(grid, mean, low, high) of the runs' returns interpolated on a common
  x grid; NaN where fewer than all runs reach that x."""
  xs = [getattr(c, x_field) for c in curves]
  grid = np.linspace(0., max(x[-1] for x in xs), num_points)
  values = np.array([np.where(grid <= x[-1], np.interp(grid, x, c.returns),
                              np.nan) for x, c in zip(xs, curves)])
  covered = ~np.isnan(values).any(axis=0)
  masked = np.where(covered, values, 0.)
  nan = np.where(covered, 0., np.nan)
  return (grid, masked.mean(0) + nan, masked.min(0) + nan,
          masked.max(0) + nan)


def paper_score(level_name, network):
  """(score, label): the paper's final score for this level and network, or
  (None, reason)."""
  try:
    level_set = levels_lib.resolve(level_name)
  except ValueError as e:
    return None, str(e)
  if level_set.multitask or level_set.domain == 'catch':
    return None, 'no published per-level curve reference'
  column, title = scores.choose_paper_column(
      level_set.domain, dict(network=network, multitask=False))
  key = scores.level_key(level_set.domain, level_set.levels[0])
  score = scores.paper_score(level_set.domain, column, key)
  return score, 'paper: %s' % title if score is not None else title


def _plot_level(axes, by_label, score, label):
  for ax, x_field, scale, unit in zip(
      axes, ('frames', 'seconds'), (1e6, 60.), ('frames (millions)',
                                                'training wall time (min)')):
    for run_label, curves in by_label.items():
      grid, mean, low, high = mean_and_range(curves, x_field)
      line, = ax.plot(grid / scale, mean, label='%s mean of %d run(s)' % (
          run_label, len(curves)))
      if len(curves) > 1:
        ax.fill_between(grid / scale, low, high, alpha=.25,
                        color=line.get_color(), label='%s min-max' % run_label)
    if score is not None:
      ax.axhline(score, color='k', linestyle='--', label=label)
    ax.set_xlabel(unit)
    ax.set_ylabel('mean return (last 100 games)')
    ax.grid(alpha=.3)
  axes[0].legend(loc='best', fontsize='small')


def plot_curves(groups, path, network):
  """One row of two plots (frames, wall time) per level; writes a PNG."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(len(groups), 2, squeeze=False,
                           figsize=(10, 3.2 * len(groups)))
  for row, (level, by_label) in zip(axes, groups.items()):
    _plot_level(row, by_label, *paper_score(level, network))
    row[0].set_title(level)
    row[1].set_title(level)
  fig.tight_layout()
  files.write_atomically(
      path, lambda f: fig.savefig(f, format='png', dpi=80))
  plt.close(fig)


def _format_frames(frames):
  return '%.2fM' % (frames / 1e6) if frames >= 1e6 else '%.1fK' % (
      frames / 1e3)


def _format_seconds(seconds):
  return '%.1f min' % (seconds / 60.) if seconds >= 120 else '%.0f s' % seconds


def _format_reach(reach):
  if reach is None:
    return 'not reached'
  frames, seconds = reach
  return '%s frames, %s' % (_format_frames(frames), _format_seconds(seconds))


def threshold_table(title, curves, thresholds):
  """Markdown: per threshold, each run's frames and wall time to reach it."""
  lines = ['## %s' % title, '',
           '| return | runs reaching | mean frames | mean wall time | '
           'per run |', '|---|---|---|---|---|']
  for threshold in thresholds:
    reaches = [first_reaching(c, threshold) for c in curves]
    hits = [r for r in reaches if r is not None]
    lines.append('| %g | %d/%d | %s | %s | %s |' % (
        threshold, len(hits), len(curves),
        _format_frames(np.mean([r[0] for r in hits])) if hits else '-',
        _format_seconds(np.mean([r[1] for r in hits])) if hits else '-',
        '; '.join(_format_reach(r) for r in reaches)))
  lines += ['', 'Runs (last row: frames, wall time, mean return):', '']
  lines += ['- `%s`: %s, %s, %.2f' % (
      c.logdir, _format_frames(c.frames[-1]), _format_seconds(c.seconds[-1]),
      c.returns[-1]) for c in curves]
  return '\n'.join(lines) + '\n'


def write_curves(logdirs, output_dir, thresholds=None, network='shallow'):
  """Reads the runs (each a logdir or LABEL=LOGDIR), writes curves.md and
  curves.png; returns both paths."""
  groups = group_by_level([read_curve(logdir) for logdir in logdirs])
  os.makedirs(output_dir, exist_ok=True)
  md_path = os.path.join(output_dir, 'curves.md')
  png_path = os.path.join(output_dir, 'curves.png')
  sections = ['# Learning curves', '',
              'A return is reached at the first progress row whose mean '
              'over the last %d games is at least that return.' % MIN_EPISODES,
              '']
  for level, by_label in groups.items():
    level_thresholds = (thresholds if thresholds is not None else
                        DEFAULT_THRESHOLDS.get(level, ()))
    for label, curves in by_label.items():
      sections.append(threshold_table(
          '%s %s' % (level, label) if label else level, curves,
          level_thresholds))
  text = '\n'.join(sections)
  files.write_text(md_path, text)
  plot_curves(groups, png_path, network)
  return md_path, png_path
