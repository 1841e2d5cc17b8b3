r"""Compares the test results of our runs with the paper's published scores.

    python report.py --results=<logdir>/test_results.json[,<more runs>...] \
        --output=<dir> [--paper_column=COLUMN]
    python report.py --curves=[LABEL=]<logdir>[,...] --output=<dir> \
        [--thresholds=-15,0,15,18] [--network=shallow]

With --results: writes `<dir>/comparison.md` (one row per level: our mean
return +- standard error, our human-normalised score (HNS), the paper's score
for the matching agent variant and the ratio, then the suite metric) and
`<dir>/comparison.png` (a bar chart, ours vs the paper per level). Several
results files of one agent variant are aggregated across runs. The files are
experiment.py's test mode's (test_results.py); levels, scores and the paper
column that matches an agent variant are scores.py's (--paper_column
overrides it, or 'none'); anything without published per-level scores (shallow
DMLab, shallow multi-task Atari, catch, DMLab levels outside DMLab-30) says so
in the table.

With --curves: learning curves from the runs' progress.csv (curves.py).

Lists are comma-separated (absl's list flags). A bad command line is one line
`report.py: error: ...` and exit status 2.
"""

import collections
import functools
import os
import sys

from absl import app
from absl import flags
import numpy as np

import atari57
import console
import curves
import dmlab30
import scores
import test_results

# absl's global flags when this is the program; its own set when imported:
# config.py defines another --network in the global flags, and the tests
# import both.
FLAGS = flags.FLAGS if __name__ == '__main__' else flags.FlagValues()

flags.DEFINE_list(
    'results', None, 'test_results.json files (or log dirs containing one); '
    'several files of the same agent variant are aggregated across runs.',
    flag_values=FLAGS)
flags.DEFINE_list(
    'curves', None, 'Training logdirs, each LOGDIR or LABEL=LOGDIR: learning '
    'curves from their progress.csv (curves.md and curves.png; see '
    'curves.py); runs with one LABEL are seeds of one configuration.',
    flag_values=FLAGS)
flags.DEFINE_string('output', None, 'Folder for comparison.md and '
                    'comparison.png (or curves.md and curves.png).',
                    flag_values=FLAGS)
flags.DEFINE_string(
    'thresholds', None, 'With --curves: returns R1,R2,... whose frames and '
    'wall time to reach are tabled (default: per level, '
    'curves.DEFAULT_THRESHOLDS).', flag_values=FLAGS)
flags.DEFINE_enum('network', 'shallow', ['shallow', 'deep'], 'With --curves: '
                  'the agent, for the paper\'s reference score.',
                  flag_values=FLAGS)
flags.DEFINE_string(
    'paper_column', None, 'Override the paper column: one of %s, or "none".' %
    ', '.join(atari57.PAPER_COLUMNS + dmlab30.PAPER_COLUMNS),
    flag_values=FLAGS)


def _standard_error(values):
  values = np.asarray(values, dtype=np.float64)
  if values.size < 2:
    return None
  return float(np.std(values, ddof=1) / np.sqrt(values.size))


Row = collections.namedtuple(
    'Row', 'key episodes runs mean se_episodes se_runs hns hns_error '
    'paper paper_hns ratio runs_missing')

Suite = collections.namedtuple(
    'Suite', 'name metric value se_runs num_runs num_levels suite_size '
    'paper_same_levels paper_printed mean_hns paper_mean_same_levels '
    'paper_mean_printed')

Comparison = collections.namedtuple(
    'Comparison', 'runs domain agent paper_column paper_note rows missing '
    'suite')


def build_comparison(runs, paper_column=None):
  """Aggregates runs into per-level rows and a suite summary.

  Args:
    runs: a list of `test_results.Run`s (`test_results.load_results`), same
      domain and agent.
    paper_column: None to choose by agent variant, 'none' for no paper
      column, or a column name of the domain.

  Per level, with k runs that have episodes for it: mean = mean of the
  per-run means; se_episodes = standard error of that mean from episode
  noise, sqrt(sum_i se_i^2) / k with se_i = std_i / sqrt(n_i); se_runs =
  std(run means) / sqrt(k) for k >= 2.
  """
  if not runs:
    raise ValueError('no results given')
  seen = {}
  for run in runs:
    real = os.path.realpath(run.path)
    if real in seen:
      raise test_results.ResultsError(
          '%s is given twice (as %s and %s); each results file counts as one '
          'run' % (real, seen[real], run.path))
    seen[real] = run.path
  first = runs[0]
  for run in runs[1:]:
    for field in ('domain', 'agent'):
      if getattr(run, field) != getattr(first, field):
        raise test_results.ResultsError(
            'results files disagree on %s: %s has %r, %s has %r; compare one '
            'agent variant per report' %
            (field, first.path, getattr(first, field), run.path,
             getattr(run, field)))
  domain, agent = first.domain, first.agent

  if paper_column is None:
    column, note = scores.choose_paper_column(domain, agent, first.level_name)
  elif paper_column == scores.NO_PAPER_COLUMN:
    column, note = None, 'no paper column requested (--paper_column=none)'
  elif paper_column in scores.paper_columns(domain):
    column, note = paper_column, scores.PAPER_COLUMN_TITLES[paper_column] + (
        ' (chosen with --paper_column)')
  else:
    raise ValueError('--paper_column=%r is not a paper column for domain %r; '
                     'choose from %s' % (paper_column, domain, ', '.join(
                         scores.paper_columns(domain) +
                         (scores.NO_PAPER_COLUMN,))))

  # Rows: every level any run was asked to evaluate, in suite order.
  wanted = []
  for run in runs:
    for key in scores.expected_levels(domain, run.level_name):
      if key not in wanted:
        wanted.append(key)
  order = {key: i for i, key in enumerate(scores.suite_order(domain))}
  wanted.sort(key=lambda k: order.get(k, len(order)))

  rows, missing = [], []
  for key in wanted:
    asked = [run for run in runs
             if key in scores.expected_levels(domain, run.level_name)]
    per_run = [run.levels[key] for run in asked if run.levels.get(key)]
    paper = scores.paper_score(domain, column, key)
    paper_hns = scores.level_hns(domain, key, paper)
    if not per_run:
      missing.append(key)
      rows.append(Row(key, 0, 0, None, None, None, None, None, paper,
                      paper_hns, None, len(asked)))
      continue
    means = [float(np.mean(r)) for r in per_run]
    ses = [_standard_error(r) for r in per_run]
    mean = float(np.mean(means))
    se_episodes = (None if any(s is None for s in ses) else
                   float(np.sqrt(np.sum(np.square(ses))) / len(ses)))
    se_runs = _standard_error(means)
    hns = scores.level_hns(domain, key, mean)
    error = se_runs if se_runs is not None else se_episodes
    hns_error = None
    if hns is not None and error is not None:
      hns_error = abs(scores.level_hns(domain, key, mean + error) - hns)
    ratio = mean / paper if paper is not None and paper > 0 else None
    rows.append(Row(key, sum(len(r) for r in per_run), len(per_run), mean,
                    se_episodes, se_runs, hns, hns_error, paper, paper_hns,
                    ratio, len(asked) - len(per_run)))

  return Comparison(runs=runs, domain=domain, agent=agent,
                    paper_column=column, paper_note=note, rows=rows,
                    missing=missing, suite=_build_suite(domain, runs, rows,
                                                        column, agent))


def _build_suite(domain, runs, rows, column, agent=None):
  suites = {scores.suite_of(domain, row.key) for row in rows}
  if len(suites) != 1 or None in suites:
    return None
  name = suites.pop()
  if name == scores.ATARI57:
    metric, size = scores.MEDIAN_HNS, len(atari57.GAMES)
  else:
    metric, size = scores.MEAN_CAPPED_HNS, len(dmlab30.TEST_LEVELS)
  evaluated = [row for row in rows if row.hns is not None]
  value = (scores.suite_value(metric, [r.hns for r in evaluated])
           if evaluated else None)
  mean_hns = (float(np.mean([r.hns for r in evaluated]))
              if evaluated and name == scores.ATARI57 else None)
  # Per-run suite values, for runs of the whole suite (not single levels).
  per_run = []
  for run in runs:
    summary = scores.suite_summary(domain, run.level_name, run.levels)
    if summary is not None and summary['value'] is not None:
      per_run.append(summary['value'])
  se_runs = _standard_error(per_run)
  paper_same = paper_mean_same = paper_printed = paper_mean_printed = None
  if column is not None and evaluated:
    paper_hns = [r.paper_hns for r in evaluated]
    if all(h is not None for h in paper_hns):
      paper_same = scores.suite_value(metric, paper_hns)
      if name == scores.ATARI57:
        paper_mean_same = float(np.mean(paper_hns))
    if name == scores.ATARI57:
      paper_printed = atari57.PAPER_SUITE_SCORES[column]['median']
      paper_mean_printed = atari57.PAPER_SUITE_SCORES[column]['mean']
    else:
      paper_printed = dmlab30.PAPER_SUITE_SCORES[column]
  reference = scores.baseline_suite_reference(domain, agent or {})
  if reference and evaluated:  # A3C: the paper's suite figure, printed only.
    if reference[1] == 'mean_hns' and name == scores.ATARI57:
      paper_mean_printed = reference[2]
    elif reference[1] == metric:
      paper_printed = reference[2]
  return Suite(name=name, metric=metric, value=value, se_runs=se_runs,
               num_runs=len(per_run), num_levels=len(evaluated),
               suite_size=size, paper_same_levels=paper_same,
               paper_printed=paper_printed, mean_hns=mean_hns,
               paper_mean_same_levels=paper_mean_same,
               paper_mean_printed=paper_mean_printed)


# ----------------------------------------------------------------------------
# Output.


def _fmt(x):
  if x is None:
    return '—'
  if abs(x) >= 1000:
    return format(x, ',.0f')
  if abs(x) >= 10:
    return format(x, '.1f')
  return format(x, '.2f')


def _ratio(a, b):
  return a / b if a is not None and b is not None and b > 0 else None


def render_markdown(comparison):
  """The text of comparison.md."""
  c = comparison
  multi = len(c.runs) > 1
  has_hns = any(row.hns is not None or row.paper_hns is not None
                for row in c.rows)
  lines = ['# IMPALA: our test results vs the paper', '']
  for run in c.runs:
    frames = 'unknown' if run.frames is None else format(run.frames, ',')
    lines.append('- Results: `%s` (level_name `%s`, %s frames)' %
                 (run.path, run.level_name, frames))
  lines.append('- Domain `%s`; agent: %s' % (c.domain, ', '.join(
      '%s=%s' % (k, c.agent[k]) for k in sorted(c.agent))))
  if c.paper_column:
    lines.append('- Paper column: `%s`: %s' % (c.paper_column, c.paper_note))
  else:
    lines.append('- Paper column: none: %s' % c.paper_note)
  if c.domain == 'atari':
    lines.append('- Human/random scores: dqn_zoo no-op starts (atari57.py); '
                 'paper: IMPALA paper Table C.1, 200 episodes, no-op starts.')
  elif c.domain == 'dmlab':
    lines.append('- Human/random scores: the release\'s dmlab30.py (also '
                 'for the paper\'s scores in "Paper HNS"); paper: Table B.1, '
                 '500 test episodes per level.')
  lines.append('')

  header = ['Level', 'Episodes', 'Ours: mean ± s.e. (episodes)']
  if multi:
    header.append('± s.e. (across runs)')
  if has_hns:
    header.append('Ours HNS %')
  header += ['Paper', 'Paper HNS %'] if has_hns else ['Paper']
  header.append('Ours / paper')
  lines.append('| ' + ' | '.join(header) + ' |')
  lines.append('|' + '---|' * len(header))
  for row in c.rows:
    paper = _fmt(row.paper) if row.paper is not None else (
        'not published' if c.paper_column is None else 'N/A')
    if row.mean is None:
      cells = ['`%s`' % row.key, '0', '**missing**']
      if multi:
        cells.append('')
      if has_hns:
        cells.append('')
    else:
      episodes = str(row.episodes)
      if row.runs > 1 or row.runs_missing:
        episodes += ' (%d run%s' % (row.runs, 's' if row.runs > 1 else '')
        episodes += ('; missing in %d)' % row.runs_missing
                     if row.runs_missing else ')')
      se = ' ± %s' % _fmt(row.se_episodes) if row.se_episodes is not None \
          else ''
      cells = ['`%s`' % row.key, episodes, _fmt(row.mean) + se]
      if multi:
        cells.append('± ' + _fmt(row.se_runs) if row.se_runs is not None
                     else '—')
      if has_hns:
        cells.append(_fmt(row.hns))
    cells.append(paper)
    if has_hns:
      cells.append(_fmt(row.paper_hns))
    cells.append(_fmt(row.ratio) if row.ratio is not None else '—')
    lines.append('| ' + ' | '.join(cells) + ' |')

  s = c.suite
  if s is not None:
    label = ('median HNS' if s.metric == scores.MEDIAN_HNS
             else 'mean capped HNS (cap 100 per level)')
    count = '%d of %d %s evaluated' % (
        s.num_levels, s.suite_size,
        'games' if s.name == scores.ATARI57 else 'levels')
    lines.append(_summary_row(
        'Suite %s: %s, %s' % (s.name, label, count), s.value,
        s.se_runs if multi else None, s.paper_same_levels, s.paper_printed,
        multi, c.paper_column))
    if s.name == scores.ATARI57:
      lines.append(_summary_row(
          'Suite atari57: mean HNS, %s' % count, s.mean_hns, None,
          s.paper_mean_same_levels, s.paper_mean_printed, multi,
          c.paper_column))
  else:
    label = '**No suite metric** (%d of %d level%s evaluated)' % (
        len(c.rows) - len(c.missing), len(c.rows),
        '' if len(c.rows) == 1 else 's')
    lines.append('| ' + ' | '.join([label] + [''] * (len(header) - 1)) +
                 ' |')

  lines += ['', '## Notes', '']
  if c.missing:
    lines.append('- **Missing** (no episodes in any results file): ' +
                 ', '.join('`%s`' % k for k in c.missing) + '.')
  lines.append('- s.e. (episodes): standard error of the mean from episode '
               'noise%s.' % (
                   ' (sqrt of the sum of squared per-run s.e. / runs)'
                   if multi else ''))
  if multi:
    lines.append('- ± s.e. (across runs): standard deviation of the per-run '
                 'means / sqrt(runs); the mean is the mean of the per-run '
                 'means. In a suite row: over the per-run suite values of '
                 'the runs that evaluated the whole suite.')
  if has_hns:
    lines.append('- HNS = 100 × (score − random) / (human − random), '
                 'uncapped in the rows.')
  lines.append('- Ours / paper: ratio of mean returns, shown only where the '
               'paper\'s score is > 0.')
  if s is not None:
    lines.append('- Suite rows: "Paper" is the paper\'s column scored the '
                 'same way over the same evaluated levels; "printed" is the '
                 'value printed in the paper (Table 3 or 4) for the whole '
                 'suite.')
  if c.domain == 'atari' and s is not None:
    lines.append('- The paper\'s printed Atari means do not reproduce from '
                 'Table C.1 with these human/random scores (Video Pinball; '
                 'see atari57.py); the median is the suite metric.')
  if c.domain == 'dmlab' and c.paper_column is not None:
    lines.append('- Lasertag: Table B.1\'s small/large lasertag rows carry '
                 'the release\'s human/random values with small and large '
                 'swapped (see dmlab30.py). Paper scores are kept under the '
                 'paper\'s row labels and scored with the release\'s values, '
                 'so the full-suite "Paper" value is 50.1% rather than the '
                 'printed 49.4% (44.5% Experts -> 45.7%).')
  lines += baseline_notes(c)
  lines += differences_from_paper(c)
  lines.append('')
  return '\n'.join(lines)


def baseline_notes(comparison):
  """Notes on runs of the paper's baselines (--agent; markdown lines)."""
  c = comparison
  architecture = c.agent.get('architecture', 'impala')
  if architecture == 'impala':
    return []
  if architecture != 'a3c':
    return ['- **Batched A2C (%s): the paper publishes no scores** (Table 1 '
            'gives its throughput only); there is nothing to compare '
            'against.' % architecture]
  reference = scores.baseline_suite_reference(c.domain, c.agent)
  return ['- **A3C: the paper gives no per-level A3C scores.** %s' % (
      'Its suite figure, %s: %s%%, is the "printed" value in the suite row '
      '(for the whole suite; ours over the levels evaluated).' % (
          reference[0], _fmt(reference[2])) if reference else
      'Its suite figures (Table 3 "A3C, deep" on DMLab-30: 23.8%; Table 4 '
      '"A3C, shallow/deep, experts" on Atari-57: mean HNS 285.9%/503.6%) '
      'are for other agent variants than these runs.')]


# The paper's agents trained with population-based training (Appendix F):
# the Atari-57 multi-task agent (Table G.1) and the DMLab-30 agents of
# Table 3 "IMPALA, deep, PBT" (Table B.1 "IMPALA").
_PBT_AGENTS = {
    'atari': 'Atari-57 multi-task agent (Table C.1 "IMPALA (deep, '
             'multi-task)") was trained with PBT (Table G.1)',
    'dmlab': 'DMLab-30 agent (Table 3 "IMPALA, deep, PBT", Table B.1 '
             '"IMPALA") was trained with PBT',
}


def differences_from_paper(comparison):
  """Notes on how the runs' agent differs from the paper's (markdown lines).

  A suite run, or a comparison with a PBT-trained paper column, trained
  without population-based training says so: the paper's agents for both
  suites come from a population of 24 (Appendix F). Results record PBT as
  `agent.pbt: true`; without it a run counts as trained without PBT.
  """
  c = comparison
  pbt_column = c.paper_column in ('impala_deep_multitask', 'impala_deep_pbt')
  if c.domain not in _PBT_AGENTS or c.agent.get('pbt'):
    return []
  if not (pbt_column or c.agent.get('multitask')):
    return []
  return ['- **Differs from the paper\'s agent: no population-based '
          'training.** These runs used fixed hyperparameters; the paper\'s '
          '%s: a population of 24 whose learning rate, entropy cost and '
          'RMSProp epsilon (for Atari also the gradient-clipping threshold) '
          'evolve (Appendix F). A single run is not expected to match it.' %
          _PBT_AGENTS[c.domain]]


def _summary_row(label, value, se_runs, paper_same, paper_printed, multi,
                 column):
  """A suite row: the suite values sit in the HNS columns."""
  cells = ['**%s**' % label, '', '']
  if multi:
    cells.append('± ' + _fmt(se_runs) if se_runs is not None else '—')
  cells.append('**%s**' % _fmt(value) if value is not None else '—')
  cells.append('')
  if column is None and paper_printed is not None:  # A3C: suite figures only.
    cells.append('printed %s' % _fmt(paper_printed))
  elif column is None:
    cells.append('not published')
  else:
    printed = ('printed %s' % _fmt(paper_printed)
               if paper_printed is not None else 'printed: n/a')
    cells.append('%s (%s)' % (_fmt(paper_same), printed))
  cells.append(_fmt(_ratio(value, paper_same)))
  return '| ' + ' | '.join(cells) + ' |'


def plot_comparison(comparison, path):
  """Writes a horizontal bar chart, ours vs paper per level, to `path`."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  c = comparison
  rows = c.rows
  use_hns = all(row.hns is not None or row.mean is None for row in rows) and \
      any(row.hns is not None for row in rows)
  if use_hns:
    ours = [row.hns for row in rows]
    errors = [row.hns_error for row in rows]
    paper = [row.paper_hns for row in rows]
    xlabel = 'human-normalised score (%)'
  else:
    ours = [row.mean for row in rows]
    errors = [row.se_runs if row.se_runs is not None else row.se_episodes
              for row in rows]
    paper = [row.paper for row in rows]
    xlabel = 'mean episode return'
  labels = [row.key.replace(atari57.LEVEL_PREFIX, '') +
            (' (missing)' if row.mean is None else '') for row in rows]
  has_paper = any(p is not None for p in paper)

  n = len(rows)
  fig, ax = plt.subplots(
      figsize=(9, 1.8 + n * (0.34 if has_paper else 0.22)))
  y = np.arange(n)
  height = 0.4 if has_paper else 0.7
  offset = height / 2 if has_paper else 0.0

  def nan(values):
    return [np.nan if v is None else v for v in values]

  ax.barh(y - offset, nan(ours), height=height, color='tab:blue',
          xerr=[0 if e is None else e for e in errors], capsize=2,
          label='ours')
  if has_paper:
    ax.barh(y + offset, nan(paper), height=height, color='tab:orange',
            label='paper (%s)' % c.paper_column)
  finite = [abs(v) for v in nan(ours) + nan(paper) if np.isfinite(v)]
  if use_hns and finite and max(finite) > 1000:
    ax.set_xscale('symlog', linthresh=100)
  if use_hns:
    ax.axvline(100, color='grey', linestyle='--', linewidth=0.8)
  ax.axvline(0, color='black', linewidth=0.6)
  ax.set_yticks(y)
  ax.set_yticklabels(labels, fontsize=8)
  ax.set_ylim(n - 0.5, -0.5)  # First level on top, no empty margins.
  ax.set_xlabel(xlabel)
  title = ('IMPALA: ours vs paper (%s)' % c.domain if has_paper else
           'IMPALA: ours (%s; no published paper scores)' % c.domain)
  if c.suite is not None and c.suite.value is not None:
    title += '\n%s %s: ours %.1f%%' % (
        c.suite.name, c.suite.metric.replace('_', ' '), c.suite.value)
    if c.suite.paper_same_levels is not None:
      title += ', paper %.1f%%' % c.suite.paper_same_levels
    title += ' (%d/%d levels)' % (c.suite.num_levels, c.suite.suite_size)
  ax.set_title(title, fontsize=10)
  ax.legend(loc='lower right', fontsize=8)
  ax.grid(axis='x', alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def write_report(result_paths, output_dir, paper_column=None):
  """Loads results, writes comparison.md and comparison.png; returns both."""
  runs = [test_results.load_results(path) for path in result_paths]
  comparison = build_comparison(runs, paper_column)
  os.makedirs(output_dir, exist_ok=True)
  md_path = os.path.join(output_dir, 'comparison.md')
  png_path = os.path.join(output_dir, 'comparison.png')
  with open(md_path, 'w') as f:
    f.write(render_markdown(comparison))
  plot_comparison(comparison, png_path)
  return md_path, png_path


def main(argv):
  """Runs the report from the parsed FLAGS; returns the exit status.

  `argv`: what is left of the command line after the flags (the program
  name); app.run parses the flags, tests with `FLAGS(command_line)`.
  """
  try:
    if len(argv) > 1:
      raise ValueError('unexpected arguments: %s' % ' '.join(argv[1:]))
    if bool(FLAGS.results) == bool(FLAGS.curves):
      raise ValueError('give exactly one of --results and --curves')
    if not FLAGS.output:
      raise ValueError('--output is required')
    if FLAGS.curves:
      md_path, png_path = curves.write_curves(
          FLAGS.curves, FLAGS.output, curves.parse_thresholds(FLAGS.thresholds),
          FLAGS.network)
    else:
      md_path, png_path = write_report(FLAGS.results, FLAGS.output,
                                       FLAGS.paper_column)
  except ValueError as e:  # ResultsError included.
    print('report.py: error: %s' % e, file=sys.stderr)
    return 2
  print('wrote %s and %s' % (md_path, png_path))
  return 0


if __name__ == '__main__':
  app.run(main, flags_parser=functools.partial(console.parse_flags,
                                               program='report.py'))
