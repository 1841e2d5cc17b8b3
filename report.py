r"""Compares test results of our runs with the paper's published scores.

    python report.py --results <logdir>/test_results.json [more runs ...] \
        --output <dir> [--paper_column COLUMN]

writes `<dir>/comparison.md` (one row per level: our mean return +- standard
error, our human-normalised score (HNS), the paper's score for the matching
agent variant and the ratio, then the suite metric) and `<dir>/comparison.png`
(a bar chart, ours vs the paper per level).

This module also owns the test-results file format ("impala-tf/test_results/
v1") that experiment.py's test mode writes: build it with
`make_test_results` (which calls `level_summaries` and `suite_summary`), so
that the writer and this report score returns the same way.

    {
      "format": "impala-tf/test_results/v1",
      "level_name": "atari57",     # the --level_name flag value
      "domain": "atari",           # 'atari' | 'dmlab' | 'catch'
      "agent": {"network": "deep", "core": "feedforward", "multitask": true},
      "frames": 200000000,         # environment frames of the checkpoint
      "levels": {"atari/pong": {"episode_returns": [20.0, 21.0],
                                "mean": 20.5,
                                "human_normalized_score": 116.9}, ...},
      "suite": {"metric": "median_human_normalized_score", "value": 59.7,
                "num_levels": 57}  # or null
    }

Level keys: 'atari/<rom id>' for Atari, the test level name for DMLab-30
levels (e.g. 'rooms_collect_good_objects_test'), the level name for other
DMLab levels, 'catch' for catch.

Paper column for each agent variant (override with --paper_column):
  * Atari, one game per run ('atari/<game>'): Table C.1 'IMPALA shallow' or
    'IMPALA deep' experts, by network;
  * Atari-57 multi-task, deep: Table C.1 'IMPALA deep, multi-task';
  * DMLab-30 multi-task, deep: Table B.1 'IMPALA' (deep, PBT);
  * one DMLab-30 level, deep: Table B.1 'Experts';
  * anything else (shallow DMLab, shallow multi-task Atari, catch, DMLab
    levels outside DMLab-30): no published per-level scores; said so in the
    table.
"""

import argparse
import collections
import collections.abc
import json
import math
import os
import sys

import numpy as np

import atari57
import dmlab30
import levels as levels_lib

FORMAT = 'impala-tf/test_results/v1'
DOMAINS = ('atari', 'dmlab', 'catch')
ATARI57 = 'atari57'
DMLAB30 = 'dmlab30'
CATCH = 'catch'
MEDIAN_HNS = 'median_human_normalized_score'
MEAN_CAPPED_HNS = 'mean_capped_human_normalized_score'
DMLAB_PER_LEVEL_CAP = 100.0
NO_PAPER_COLUMN = 'none'

_PAPER_COLUMN_TITLES = {
    'impala_shallow_experts': 'Table C.1 "IMPALA (shallow)", one expert per '
                              'game',
    'impala_deep_experts': 'Table C.1 "IMPALA (deep)", one expert per game',
    'impala_deep_multitask': 'Table C.1 "IMPALA (deep, multi-task)"',
    'reactor': 'Table C.1 "Reactor"',
    'acktr': 'Table C.1 "ACKTR"',
    'impala_experts_deep': 'Table B.1 "Experts" (IMPALA-Experts, deep)',
    'impala_deep_pbt': 'Table B.1 "IMPALA" (IMPALA, deep, PBT)',
}


class ResultsError(ValueError):
  """A results file is not ours, or is inconsistent."""


# ----------------------------------------------------------------------------
# Level names.


def _check_domain(domain):
  if domain not in DOMAINS:
    raise ValueError('domain must be one of %s, got %r' % (DOMAINS, domain))


def _is_dmlab30_level(name):
  try:
    dmlab30.to_test_level(name)
    return True
  except ValueError:
    return False


def level_key(domain, name):
  """The key of a level in a results file ('atari/pong', a test level...).

  Raises:
    ValueError: if `name` does not belong to `domain`.
  """
  _check_domain(domain)
  if domain == 'atari':
    return atari57.to_level_name(name)
  if domain == 'dmlab':
    if not isinstance(name, str) or not name:
      raise ValueError('DMLab level name must be a non-empty string, got %r' %
                       (name,))
    if name in (DMLAB30, ATARI57, CATCH) or name.startswith('atari/'):
      raise ValueError('%r is not a DMLab level' % name)
    if _is_dmlab30_level(name):
      return dmlab30.to_test_level(name)
    return name
  if name != CATCH:
    raise ValueError('the catch domain has one level, %r; got %r' %
                     (CATCH, name))
  return CATCH


def expected_levels(domain, level_name):
  """The level keys a test run of `--level_name=level_name` evaluates.

  The levels come from `levels.resolve`, the project's one resolver of
  `--level_name`, in test mode's form (`levels.evaluation_level`).
  """
  _check_domain(domain)
  level_set = levels_lib.resolve(level_name)
  if level_set.domain != domain:
    raise ValueError('--level_name=%s is a %s level set, not %s' %
                     (level_name, level_set.domain, domain))
  return [level_key(domain, levels_lib.evaluation_level(level))
          for level in level_set.levels]


def _suite_of(domain, key):
  """('atari57' | 'dmlab30' | None) for a level key."""
  if domain == 'atari':
    return ATARI57
  if domain == 'dmlab' and key in dmlab30.HUMAN_SCORES:
    return DMLAB30
  return None


def _suite_order(domain):
  if domain == 'atari':
    return expected_levels('atari', ATARI57)
  if domain == 'dmlab':
    return expected_levels('dmlab', DMLAB30)
  return [CATCH]


# ----------------------------------------------------------------------------
# Scoring: shared by experiment.py (writer) and this report (reader).


def level_hns(domain, key, score):
  """Uncapped human-normalised score in percent, or None where undefined."""
  if score is None:
    return None
  if domain == 'atari':
    return atari57.human_normalized_score(key, score)
  if domain == 'dmlab' and key in dmlab30.HUMAN_SCORES:
    return dmlab30.human_normalized_score(key, score)
  return None


def _as_returns(name, returns):
  values = np.asarray(returns, dtype=np.float64).reshape(-1)
  if not np.all(np.isfinite(values)):
    raise ValueError('episode returns of level %r must be finite numbers' %
                     name)
  return [float(v) for v in values]


def level_summaries(domain, level_returns):
  """Per-level entries of a results file.

  Args:
    domain: 'atari', 'dmlab' or 'catch'.
    level_returns: mapping from level name (any accepted spelling: 'pong' or
      'atari/pong'; a DMLab train or test name) to a list of episode returns.

  Returns:
    An OrderedDict {level key: {"episode_returns": [...], "mean": float or
    None, "human_normalized_score": float or None}}; the HNS is uncapped
    (None for catch and DMLab levels outside DMLab-30).
  """
  _check_domain(domain)
  if not isinstance(level_returns, collections.abc.Mapping):
    raise ValueError('level_returns must be a mapping from level name to a '
                     'list of episode returns, got %s' %
                     type(level_returns).__name__)
  summaries = collections.OrderedDict()
  for name, returns in level_returns.items():
    key = level_key(domain, name)
    if key in summaries:
      raise ValueError('level_returns gives level %r twice' % key)
    values = _as_returns(name, returns)
    mean = float(np.mean(values)) if values else None
    summaries[key] = {
        'episode_returns': values,
        'mean': mean,
        'human_normalized_score': level_hns(domain, key, mean),
    }
  return summaries


def _suite_value(metric, hns_values):
  values = np.asarray(hns_values, dtype=np.float64)
  if metric == MEDIAN_HNS:
    return float(np.median(values))
  if metric == MEAN_CAPPED_HNS:
    return float(np.mean(np.minimum(values, DMLAB_PER_LEVEL_CAP)))
  raise ValueError('unknown suite metric %r' % metric)


def suite_metric(domain, level_name):
  """The suite metric name for a run, or None for a single-level run."""
  _check_domain(domain)
  if domain == 'atari' and level_name == ATARI57:
    return MEDIAN_HNS
  if domain == 'dmlab' and level_name == DMLAB30:
    return MEAN_CAPPED_HNS
  return None


def suite_summary(domain, level_name, level_returns):
  """The "suite" entry of a results file.

  For '--level_name=atari57' the median HNS over the games (paper Table 4),
  for 'dmlab30' the mean HNS capped at 100 per level (paper Table 3, the
  release's `compute_human_normalized_score(..., per_level_cap=100)`); None
  for single-level runs.  Levels without returns are left out and counted in
  neither `value` nor `num_levels`, so a partial evaluation shows as
  num_levels < 57 (or < 30).

  Returns:
    None or {"metric": str, "value": float or None, "num_levels": int}.
  """
  metric = suite_metric(domain, level_name)
  if metric is None:
    return None
  summaries = level_summaries(domain, level_returns)
  expected = set(expected_levels(domain, level_name))
  extra = [key for key in summaries if key not in expected]
  if extra:
    raise ValueError('level_returns has levels outside %s: %s' %
                     (level_name, ', '.join(extra)))
  hns = [s['human_normalized_score'] for s in summaries.values()
         if s['mean'] is not None]
  return {
      'metric': metric,
      'value': _suite_value(metric, hns) if hns else None,
      'num_levels': len(hns),
  }


def mean_capped_hns(domain, level_returns):
  """The mean over levels of the HNS capped at 100 per level, or None
  without returns: the fitness of the paper's PBT on both suites (Appendix
  F, Table G.1), whatever the suite's own metric."""
  hns = [s['human_normalized_score']
         for s in level_summaries(domain, level_returns).values()
         if s['human_normalized_score'] is not None]
  return _suite_value(MEAN_CAPPED_HNS, hns) if hns else None


def _check_level_name(domain, level_name):
  if not isinstance(level_name, str) or not level_name:
    raise ValueError('level_name must be a non-empty string, got %r' %
                     (level_name,))
  try:
    expected_levels(domain, level_name)
  except ValueError as e:
    raise ValueError('level_name %r does not belong to domain %r (%s)' %
                     (level_name, domain, e)) from None


def _check_agent(agent):
  if not isinstance(agent, collections.abc.Mapping):
    raise ValueError('agent must be a dict like {"network": "deep", "core": '
                     '"feedforward", "multitask": true}, got %r' % (agent,))
  for field, kind in (('network', str), ('core', str), ('multitask', bool)):
    if field not in agent:
      raise ValueError('agent lacks the field %r: %r' % (field, agent))
    if not isinstance(agent[field], kind):
      raise ValueError('agent[%r] must be a %s, got %r' %
                       (field, kind.__name__, agent[field]))


def make_test_results(level_name, domain, agent, frames, level_returns):
  """The test-results dict that experiment.py's test mode writes as JSON.

  Args:
    level_name: the --level_name flag value ('atari/pong', 'atari57',
      'dmlab30', a DMLab level, 'catch').
    domain: 'atari', 'dmlab' or 'catch'.
    agent: {"network": str, "core": str, "multitask": bool}.
    frames: environment frames of the evaluated checkpoint (int >= 0).
    level_returns: {level name: list of episode returns}.

  Returns:
    A JSON-serialisable dict in the "impala-tf/test_results/v1" format.
  """
  _check_domain(domain)
  _check_level_name(domain, level_name)
  _check_agent(agent)
  if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) \
      or frames < 0:
    raise ValueError('frames must be an int >= 0, got %r' % (frames,))
  levels = level_summaries(domain, level_returns)
  expected = set(expected_levels(domain, level_name))
  extra = [key for key in levels if key not in expected]
  if extra:
    raise ValueError('level_returns has levels that --level_name=%s does not '
                     'evaluate: %s' % (level_name, ', '.join(extra)))
  return {
      'format': FORMAT,
      'level_name': level_name,
      'domain': domain,
      'agent': dict(agent),
      'frames': int(frames),
      'levels': dict(levels),
      'suite': suite_summary(domain, level_name, level_returns),
  }


def write_test_results(path, results):
  """Writes a `make_test_results` dict as JSON (creating parent folders)."""
  directory = os.path.dirname(path)
  if directory:
    os.makedirs(directory, exist_ok=True)
  with open(path, 'w') as f:
    json.dump(results, f, indent=2, allow_nan=False)
    f.write('\n')


# ----------------------------------------------------------------------------
# Reading results files.


Run = collections.namedtuple(
    'Run', 'path level_name domain agent frames levels suite')


def load_results(path):
  """Reads and validates one results file (or `<logdir>/test_results.json`).

  Returns:
    A `Run`; `levels` maps level key -> list of episode returns (possibly
    empty), re-keyed to canonical names.

  Raises:
    ResultsError: naming the file and what is wrong with it.
  """
  if os.path.isdir(path):
    path = os.path.join(path, 'test_results.json')

  def fail(message):
    raise ResultsError('%s: %s' % (path, message))

  try:
    with open(path) as f:
      text = f.read()
  except OSError as e:
    fail('cannot read results file (%s)' % e.strerror)
  try:
    data = json.loads(text)
  except ValueError:
    fail('not an impala-tf test results file: not valid JSON')
  if not isinstance(data, dict) or 'format' not in data:
    fail('not an impala-tf test results file: no "format" field (expected '
         '"format": "%s", as written by experiment.py in test mode)' % FORMAT)
  if data['format'] != FORMAT:
    fail('not an impala-tf test results file: format %r, expected %r' %
         (data['format'], FORMAT))
  for field in ('level_name', 'domain', 'agent', 'frames', 'levels'):
    if field not in data:
      fail('missing field %r' % field)
  domain, level_name = data['domain'], data['level_name']
  try:
    _check_domain(domain)
    _check_level_name(domain, level_name)
    _check_agent(data['agent'])
  except ValueError as e:
    fail(str(e))
  frames = data['frames']
  if frames is not None and (isinstance(frames, bool) or
                             not isinstance(frames, int) or frames < 0):
    fail('"frames" must be an int >= 0 or null, got %r' % (frames,))
  if not isinstance(data['levels'], dict):
    fail('"levels" must be an object {level: {"episode_returns": [...]}}')
  expected = expected_levels(domain, level_name)
  levels = collections.OrderedDict()
  for name, entry in data['levels'].items():
    try:
      key = level_key(domain, name)
    except ValueError as e:
      fail('level %r: %s' % (name, e))
    if key not in expected:
      fail('level %r is not evaluated by level_name %r' % (name, level_name))
    if key in levels:
      fail('level %r appears twice' % key)
    if not isinstance(entry, dict) or not isinstance(
        entry.get('episode_returns'), list):
      fail('level %r has no "episode_returns" list' % name)
    returns = entry['episode_returns']
    if not all(isinstance(r, (int, float)) and not isinstance(r, bool) and
               math.isfinite(r) for r in returns):
      fail('level %r: "episode_returns" must be finite numbers' % name)
    levels[key] = [float(r) for r in returns]
  return Run(path=path, level_name=level_name, domain=domain,
             agent=dict(data['agent']), frames=frames, levels=levels,
             suite=data.get('suite'))


# ----------------------------------------------------------------------------
# The comparison.


def choose_paper_column(domain, agent, level_name=None):
  """The paper column that matches an agent variant.

  Returns:
    (column, explanation): column is a key of `atari57.PAPER_COLUMNS` or
    `dmlab30.PAPER_COLUMNS`, or None with the reason why none matches.
  """
  _check_domain(domain)
  network = agent.get('network')
  multitask = agent.get('multitask')
  if multitask is None:
    multitask = level_name in (ATARI57, DMLAB30)
  if domain == 'catch':
    return None, 'the paper publishes no scores for catch'
  if domain == 'atari':
    if multitask:
      if network == 'deep':
        return 'impala_deep_multitask', _PAPER_COLUMN_TITLES[
            'impala_deep_multitask']
      return None, ('the paper publishes multi-task Atari scores only for the '
                    'deep network (agent network: %r)' % network)
    if network in ('shallow', 'deep'):
      column = 'impala_%s_experts' % network
      return column, _PAPER_COLUMN_TITLES[column]
    return None, 'no published Atari column for network %r' % network
  if network != 'deep':
    return None, ('per-level DMLab scores were published only for the deep '
                  'network (Table B.1); agent network: %r' % network)
  column = 'impala_deep_pbt' if multitask else 'impala_experts_deep'
  return column, _PAPER_COLUMN_TITLES[column]


def _paper_columns(domain):
  if domain == 'atari':
    return atari57.PAPER_COLUMNS
  if domain == 'dmlab':
    return dmlab30.PAPER_COLUMNS
  return ()


def paper_score(domain, column, key):
  if column is None:
    return None
  if domain == 'atari':
    return atari57.PAPER_SCORES[atari57.to_game(key)][column]
  if domain == 'dmlab' and key in dmlab30.PAPER_SCORES:
    return dmlab30.PAPER_SCORES[key][column]
  return None


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
    runs: a list of `Run`s (from `load_results`), same domain and agent.
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
      raise ResultsError('%s is given twice (as %s and %s); each results '
                         'file counts as one run' % (real, seen[real],
                                                     run.path))
    seen[real] = run.path
  first = runs[0]
  for run in runs[1:]:
    for field in ('domain', 'agent'):
      if getattr(run, field) != getattr(first, field):
        raise ResultsError(
            'results files disagree on %s: %s has %r, %s has %r; compare one '
            'agent variant per report' %
            (field, first.path, getattr(first, field), run.path,
             getattr(run, field)))
  domain, agent = first.domain, first.agent

  if paper_column is None:
    column, note = choose_paper_column(domain, agent, first.level_name)
  elif paper_column == NO_PAPER_COLUMN:
    column, note = None, 'no paper column requested (--paper_column=none)'
  elif paper_column in _paper_columns(domain):
    column, note = paper_column, _PAPER_COLUMN_TITLES[paper_column] + (
        ' (chosen with --paper_column)')
  else:
    raise ValueError('--paper_column=%r is not a paper column for domain %r; '
                     'choose from %s' %
                     (paper_column, domain,
                      ', '.join(_paper_columns(domain) + (NO_PAPER_COLUMN,))))

  # Rows: every level any run was asked to evaluate, in suite order.
  wanted = []
  for run in runs:
    for key in expected_levels(domain, run.level_name):
      if key not in wanted:
        wanted.append(key)
  order = {key: i for i, key in enumerate(_suite_order(domain))}
  wanted.sort(key=lambda k: order.get(k, len(order)))

  rows, missing = [], []
  for key in wanted:
    asked = [run for run in runs
             if key in expected_levels(domain, run.level_name)]
    per_run = [run.levels[key] for run in asked if run.levels.get(key)]
    paper = paper_score(domain, column, key)
    paper_hns = level_hns(domain, key, paper)
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
    hns = level_hns(domain, key, mean)
    error = se_runs if se_runs is not None else se_episodes
    hns_error = None
    if hns is not None and error is not None:
      hns_error = abs(level_hns(domain, key, mean + error) - hns)
    ratio = mean / paper if paper is not None and paper > 0 else None
    rows.append(Row(key, sum(len(r) for r in per_run), len(per_run), mean,
                    se_episodes, se_runs, hns, hns_error, paper, paper_hns,
                    ratio, len(asked) - len(per_run)))

  return Comparison(runs=runs, domain=domain, agent=agent,
                    paper_column=column, paper_note=note, rows=rows,
                    missing=missing, suite=_build_suite(domain, runs, rows,
                                                        column))


def _build_suite(domain, runs, rows, column):
  suites = {_suite_of(domain, row.key) for row in rows}
  if len(suites) != 1 or None in suites:
    return None
  name = suites.pop()
  if name == ATARI57:
    metric, size = MEDIAN_HNS, len(atari57.GAMES)
  else:
    metric, size = MEAN_CAPPED_HNS, len(dmlab30.TEST_LEVELS)
  evaluated = [row for row in rows if row.hns is not None]
  value = (_suite_value(metric, [r.hns for r in evaluated])
           if evaluated else None)
  mean_hns = (float(np.mean([r.hns for r in evaluated]))
              if evaluated and name == ATARI57 else None)
  # Per-run suite values, for runs of the whole suite (not single levels).
  per_run = []
  for run in runs:
    summary = suite_summary(domain, run.level_name, run.levels)
    if summary is not None and summary['value'] is not None:
      per_run.append(summary['value'])
  se_runs = _standard_error(per_run)
  paper_same = paper_mean_same = paper_printed = paper_mean_printed = None
  if column is not None and evaluated:
    paper_hns = [r.paper_hns for r in evaluated]
    if all(h is not None for h in paper_hns):
      paper_same = _suite_value(metric, paper_hns)
      if name == ATARI57:
        paper_mean_same = float(np.mean(paper_hns))
    if name == ATARI57:
      paper_printed = atari57.PAPER_SUITE_SCORES[column]['median']
      paper_mean_printed = atari57.PAPER_SUITE_SCORES[column]['mean']
    else:
      paper_printed = dmlab30.PAPER_SUITE_SCORES[column]
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
    label = ('median HNS' if s.metric == MEDIAN_HNS
             else 'mean capped HNS (cap 100 per level)')
    count = '%d of %d %s evaluated' % (
        s.num_levels, s.suite_size,
        'games' if s.name == ATARI57 else 'levels')
    lines.append(_summary_row(
        'Suite %s: %s, %s' % (s.name, label, count), s.value,
        s.se_runs if multi else None, s.paper_same_levels, s.paper_printed,
        multi, c.paper_column))
    if s.name == ATARI57:
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
  if c.domain == 'dmlab' and c.paper_column == 'impala_deep_pbt':
    lines.append('- The paper\'s DMLab-30 IMPALA scores come from population '
                 'based training (24 agents); a single run is not expected '
                 'to match them.')
  lines.append('')
  return '\n'.join(lines)


def _summary_row(label, value, se_runs, paper_same, paper_printed, multi,
                 column):
  """A suite row: the suite values sit in the HNS columns."""
  cells = ['**%s**' % label, '', '']
  if multi:
    cells.append('± ' + _fmt(se_runs) if se_runs is not None else '—')
  cells.append('**%s**' % _fmt(value) if value is not None else '—')
  cells.append('')
  if column is None:
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
  runs = [load_results(path) for path in result_paths]
  comparison = build_comparison(runs, paper_column)
  os.makedirs(output_dir, exist_ok=True)
  md_path = os.path.join(output_dir, 'comparison.md')
  png_path = os.path.join(output_dir, 'comparison.png')
  with open(md_path, 'w') as f:
    f.write(render_markdown(comparison))
  plot_comparison(comparison, png_path)
  return md_path, png_path


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog='report.py',
      description='Compare test_results.json files of our runs with the '
                  'IMPALA paper\'s published scores.')
  inputs = parser.add_mutually_exclusive_group(required=True)
  inputs.add_argument(
      '--results', nargs='+', metavar='PATH',
      help='test_results.json files (or log dirs containing one); several '
           'files of the same agent variant are aggregated across runs')
  inputs.add_argument(
      '--curves', nargs='+', metavar='[LABEL=]LOGDIR',
      help='training logdirs: learning curves from their progress.csv '
           '(curves.md and curves.png; see curves.py); runs with one LABEL '
           'are seeds of one configuration')
  parser.add_argument('--output', required=True, metavar='DIR',
                      help='folder for comparison.md and comparison.png')
  parser.add_argument(
      '--thresholds', default=None, metavar='R1,R2,...',
      help='with --curves: returns whose frames and wall time to reach are '
           'tabled (default: per level, curves.DEFAULT_THRESHOLDS)')
  parser.add_argument(
      '--network', default='shallow', choices=('shallow', 'deep'),
      help='with --curves: the agent, for the paper\'s reference score')
  parser.add_argument(
      '--paper_column', default=None,
      help='override the paper column: one of %s, or "none"' % ', '.join(
          atari57.PAPER_COLUMNS + dmlab30.PAPER_COLUMNS))
  args = parser.parse_args(argv)
  try:
    if args.curves:
      import curves  # pylint: disable=g-import-not-at-top (curves imports us)
      md_path, png_path = curves.write_curves(
          args.curves, args.output, curves.parse_thresholds(args.thresholds),
          args.network)
    else:
      md_path, png_path = write_report(args.results, args.output,
                                       args.paper_column)
  except ValueError as e:  # ResultsError included.
    print('report.py: error: %s' % e, file=sys.stderr)
    return 2
  print('wrote %s and %s' % (md_path, png_path))
  return 0


if __name__ == '__main__':
  sys.exit(main())
