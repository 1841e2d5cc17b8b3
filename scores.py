# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Level keys, human-normalised scores, suite metrics, the paper's columns.

What the writer of test results (experiment.py's test mode), the console
(progress.py), the report (report.py) and the learning curves (curves.py)
share, so that they score returns the same way.

Level keys: 'atari/<rom id>' for Atari, the test level name for DMLab-30
levels (e.g. 'rooms_collect_good_objects_test'), the level name for other
DMLab levels, 'catch' for catch.

Human-normalised score (HNS), uncapped, in percent: 100 x (score - random) /
(human - random), with atari57.py's and dmlab30.py's human and random scores;
undefined for catch and DMLab levels outside DMLab-30. Suite metrics: the
median HNS over the games for Atari-57 (paper Table 4), the mean HNS capped
at 100 per level for DMLab-30 (paper Table 3).

Paper column for each agent variant (`choose_paper_column`):
  * Atari, one game per run ('atari/<game>'): Table C.1 'IMPALA shallow' or
    'IMPALA deep' experts, by network;
  * Atari-57 multi-task, deep: Table C.1 'IMPALA deep, multi-task';
  * DMLab-30 multi-task, deep: Table B.1 'IMPALA' (deep, PBT);
  * one DMLab-30 level, deep: Table B.1 'Experts';
  * anything else (shallow DMLab, shallow multi-task Atari, catch, DMLab
    levels outside DMLab-30): no published per-level scores.
The paper's baselines (`"architecture"` in the agent, --agent) have no
per-level scores in the paper: A3C has suite-level figures only
(`baseline_suite_reference`: Table 3 "A3C, deep" on DMLab-30, Table 4 "A3C,
shallow/deep, experts" on Atari-57), batched A2C none.
"""

import collections
import collections.abc

import numpy as np

import atari57
import dmlab30
import levels as levels_lib

DOMAINS = ('atari', 'dmlab', 'catch')
ATARI57 = 'atari57'
DMLAB30 = 'dmlab30'
CATCH = 'catch'
MEDIAN_HNS = 'median_human_normalized_score'
MEAN_CAPPED_HNS = 'mean_capped_human_normalized_score'
DMLAB_PER_LEVEL_CAP = 100.0
NO_PAPER_COLUMN = 'none'

PAPER_COLUMN_TITLES = {
    'impala_shallow_experts': 'Table C.1 "IMPALA (shallow)", one expert per '
                              'game',
    'impala_deep_experts': 'Table C.1 "IMPALA (deep)", one expert per game',
    'impala_deep_multitask': 'Table C.1 "IMPALA (deep, multi-task)"',
    'reactor': 'Table C.1 "Reactor"',
    'acktr': 'Table C.1 "ACKTR"',
    'impala_experts_deep': 'Table B.1 "Experts" (IMPALA-Experts, deep)',
    'impala_deep_pbt': 'Table B.1 "IMPALA" (IMPALA, deep, PBT)',
}


# ----------------------------------------------------------------------------
# Level names.


def check_domain(domain):
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
  check_domain(domain)
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
  check_domain(domain)
  level_set = levels_lib.resolve(level_name)
  if level_set.domain != domain:
    raise ValueError('--level_name=%s is a %s level set, not %s' %
                     (level_name, level_set.domain, domain))
  return [level_key(domain, levels_lib.evaluation_level(level))
          for level in level_set.levels]


def suite_of(domain, key):
  """('atari57' | 'dmlab30' | None) for a level key."""
  if domain == 'atari':
    return ATARI57
  if domain == 'dmlab' and key in dmlab30.HUMAN_SCORES:
    return DMLAB30
  return None


def suite_order(domain):
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
  check_domain(domain)
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


def suite_value(metric, hns_values):
  values = np.asarray(hns_values, dtype=np.float64)
  if metric == MEDIAN_HNS:
    return float(np.median(values))
  if metric == MEAN_CAPPED_HNS:
    return float(np.mean(np.minimum(values, DMLAB_PER_LEVEL_CAP)))
  raise ValueError('unknown suite metric %r' % metric)


def suite_metric(domain, level_name):
  """The suite metric name for a run, or None for a single-level run."""
  check_domain(domain)
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
      'value': suite_value(metric, hns) if hns else None,
      'num_levels': len(hns),
  }


def mean_capped_hns(domain, level_returns):
  """The mean over levels of the HNS capped at 100 per level, or None
  without returns: the fitness of the paper's PBT on both suites (Appendix
  F, Table G.1), whatever the suite's own metric."""
  hns = [s['human_normalized_score']
         for s in level_summaries(domain, level_returns).values()
         if s['human_normalized_score'] is not None]
  return suite_value(MEAN_CAPPED_HNS, hns) if hns else None


def choose_paper_column(domain, agent, level_name=None):
  """The paper column that matches an agent variant.

  Returns:
    (column, explanation): column is a key of `atari57.PAPER_COLUMNS` or
    `dmlab30.PAPER_COLUMNS`, or None with the reason why none matches.
  """
  check_domain(domain)
  network = agent.get('network')
  multitask = agent.get('multitask')
  if multitask is None:
    multitask = level_name in (ATARI57, DMLAB30)
  architecture = agent.get('architecture', 'impala')
  if architecture == 'a3c':
    return None, ('the paper gives no per-level A3C scores, only suite '
                  'figures (Table 3 "A3C, deep" on DMLab-30; Table 4 "A3C, '
                  'shallow/deep, experts" on Atari-57)')
  if architecture != 'impala':
    return None, ('the paper publishes no scores for batched A2C (%s): '
                  'Table 1 gives its throughput only' % architecture)
  if domain == 'catch':
    return None, 'the paper publishes no scores for catch'
  if domain == 'atari':
    if multitask:
      if network == 'deep':
        return 'impala_deep_multitask', PAPER_COLUMN_TITLES[
            'impala_deep_multitask']
      return None, ('the paper publishes multi-task Atari scores only for the '
                    'deep network (agent network: %r)' % network)
    if network in ('shallow', 'deep'):
      column = 'impala_%s_experts' % network
      return column, PAPER_COLUMN_TITLES[column]
    return None, 'no published Atari column for network %r' % network
  if network != 'deep':
    return None, ('per-level DMLab scores were published only for the deep '
                  'network (Table B.1); agent network: %r' % network)
  column = 'impala_deep_pbt' if multitask else 'impala_experts_deep'
  return column, PAPER_COLUMN_TITLES[column]


# The paper's suite-level A3C figures (no per-level ones exist):
# {(domain, network, multitask): (source, metric, value in %)}.
A3C_SUITE_SCORES = {
    ('dmlab', 'deep', True): ('Table 3 "A3C, deep"', MEAN_CAPPED_HNS, 23.8),
    ('atari', 'shallow', False): ('Table 4 "A3C, shallow, experts"',
                                  'mean_hns', 285.9),
    ('atari', 'deep', False): ('Table 4 "A3C, deep, experts"', 'mean_hns',
                               503.6),
}


def baseline_suite_reference(domain, agent):
  """The paper's suite figure for an `a3c` agent variant: (source, metric,
  value), metric MEAN_CAPPED_HNS or 'mean_hns' (Table 4's mean); None where
  the paper gives none (other architectures and variants)."""
  if agent.get('architecture') != 'a3c':
    return None
  return A3C_SUITE_SCORES.get((domain, agent.get('network'),
                               bool(agent.get('multitask'))))


def paper_columns(domain):
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

