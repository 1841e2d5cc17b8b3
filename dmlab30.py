"""DMLab-30: the 30 levels, their human/random scores and the paper's scores.

Scoring follows the IMPALA release (deepmind/scalable_agent `dmlab30.py`):
an agent is trained on the `*_train` version of a level and evaluated on its
`*_test` version (2 of the 30 levels have distinct versions; the other 28 are
the same level), and the suite metric is the mean over the 30 levels of the
human-normalised score, each capped at 100% (paper Table 3, Table B.1):

    HNS(level) = 100 * (score - random) / (human - random)
    suite      = (1/30) * sum_levels min(per_level_cap, HNS(level))

Sources of the figures below:
  * `LEVEL_MAPPING`, `HUMAN_SCORES`, `RANDOM_SCORES`: the release's
    `dmlab30.py` (identical in google-research/seed_rl `dmlab/games.py`).
  * `PAPER_SCORES`: IMPALA paper (Espeholt et al. 2018, arXiv 1802.01561),
    Appendix B, Table B.1 "DMLab-30 test scores": the paper's own rounded
    human (h) and random (r) values and the per-level scores of the columns
    "Experts" (= Table 3 "IMPALA-Experts, deep", mean capped 44.5%) and
    "IMPALA" (= Table 3 "IMPALA, deep, PBT", mean capped 49.4%); 500 test
    episodes per level.  The paper spells 'pyschlab_*' and
    'lasertag_three_oponents_large'; names are normalised here.
    Cross-checked against the independent transcription in
    seungjaeryanlee/rldb (`db/paper__impala`).

Where paper and release disagree
--------------------------------
1. The lasertag rows.  Table B.1's rows labelled lasertag_one_opponent_large,
   lasertag_three_opponents_large, lasertag_one_opponent_small and
   lasertag_three_opponents_small carry the human/random values that the
   release assigns to one_opponent_small, three_opponents_small,
   one_opponent_large and three_opponents_large respectively: small and large
   are swapped between the two sources, and which side is right is not known.
   USED HERE: the release's `HUMAN_SCORES`/`RANDOM_SCORES` for all scoring of
   our runs (as the release itself scores).  `PAPER_SCORES` keeps the paper's
   rows exactly as printed, under the paper's own row labels (agent scores
   and the paper's h/r together), so the paper's 49.4% / 44.5% reproduce from
   `PAPER_SCORES` alone (49.34% / 44.44%).  Scoring the paper's agent scores
   with the release's h/r instead gives 50.06% / 45.74%.
2. The "optimistic asymmetric" reward clipping used for DMLab-30 (paper
   Table D.3).  Paper Figure D.1 prints
       0.3 * min(tanh(r), 0) + 5.0 * max(tanh(r), 0),
   the release's `--reward_clipping=soft_asymmetric` computes
       s = tanh(r / 5);  clipped = 5 * (0.3 * s if r < 0 else s).
   USED HERE: the release's formula, in `soft_asymmetric_clip` below.
"""

import collections
import collections.abc

import numpy as np

# The prefix under which DeepMind Lab ships these levels.
LEVEL_PREFIX = 'contributed/dmlab30/'

# Train level name -> test level name (release `dmlab30.LEVEL_MAPPING`).
LEVEL_MAPPING = collections.OrderedDict([
    ('rooms_collect_good_objects_train', 'rooms_collect_good_objects_test'),
    ('rooms_exploit_deferred_effects_train',
     'rooms_exploit_deferred_effects_test'),
    ('rooms_select_nonmatching_object', 'rooms_select_nonmatching_object'),
    ('rooms_watermaze', 'rooms_watermaze'),
    ('rooms_keys_doors_puzzle', 'rooms_keys_doors_puzzle'),
    ('language_select_described_object', 'language_select_described_object'),
    ('language_select_located_object', 'language_select_located_object'),
    ('language_execute_random_task', 'language_execute_random_task'),
    ('language_answer_quantitative_question',
     'language_answer_quantitative_question'),
    ('lasertag_one_opponent_small', 'lasertag_one_opponent_small'),
    ('lasertag_three_opponents_small', 'lasertag_three_opponents_small'),
    ('lasertag_one_opponent_large', 'lasertag_one_opponent_large'),
    ('lasertag_three_opponents_large', 'lasertag_three_opponents_large'),
    ('natlab_fixed_large_map', 'natlab_fixed_large_map'),
    ('natlab_varying_map_regrowth', 'natlab_varying_map_regrowth'),
    ('natlab_varying_map_randomized', 'natlab_varying_map_randomized'),
    ('skymaze_irreversible_path_hard', 'skymaze_irreversible_path_hard'),
    ('skymaze_irreversible_path_varied', 'skymaze_irreversible_path_varied'),
    ('psychlab_arbitrary_visuomotor_mapping',
     'psychlab_arbitrary_visuomotor_mapping'),
    ('psychlab_continuous_recognition', 'psychlab_continuous_recognition'),
    ('psychlab_sequential_comparison', 'psychlab_sequential_comparison'),
    ('psychlab_visual_search', 'psychlab_visual_search'),
    ('explore_object_locations_small', 'explore_object_locations_small'),
    ('explore_object_locations_large', 'explore_object_locations_large'),
    ('explore_obstructed_goals_small', 'explore_obstructed_goals_small'),
    ('explore_obstructed_goals_large', 'explore_obstructed_goals_large'),
    ('explore_goal_locations_small', 'explore_goal_locations_small'),
    ('explore_goal_locations_large', 'explore_goal_locations_large'),
    ('explore_object_rewards_few', 'explore_object_rewards_few'),
    ('explore_object_rewards_many', 'explore_object_rewards_many'),
])

# The 30 test level names, in the release's order.
TEST_LEVELS = tuple(LEVEL_MAPPING.values())

# Every train and test level name (32 names: 30 levels, 2 with distinct
# train/test versions), sorted.
ALL_LEVELS = tuple(sorted(set(LEVEL_MAPPING) | set(LEVEL_MAPPING.values())))

# Human scores, keyed by test level name (release `dmlab30.HUMAN_SCORES`).
HUMAN_SCORES = {
    'rooms_collect_good_objects_test': 10,
    'rooms_exploit_deferred_effects_test': 85.65,
    'rooms_select_nonmatching_object': 65.9,
    'rooms_watermaze': 54,
    'rooms_keys_doors_puzzle': 53.8,
    'language_select_described_object': 389.5,
    'language_select_located_object': 280.7,
    'language_execute_random_task': 254.05,
    'language_answer_quantitative_question': 184.5,
    'lasertag_one_opponent_small': 12.65,
    'lasertag_three_opponents_small': 18.55,
    'lasertag_one_opponent_large': 18.6,
    'lasertag_three_opponents_large': 31.5,
    'natlab_fixed_large_map': 36.9,
    'natlab_varying_map_regrowth': 24.45,
    'natlab_varying_map_randomized': 42.35,
    'skymaze_irreversible_path_hard': 100,
    'skymaze_irreversible_path_varied': 100,
    'psychlab_arbitrary_visuomotor_mapping': 58.75,
    'psychlab_continuous_recognition': 58.3,
    'psychlab_sequential_comparison': 39.5,
    'psychlab_visual_search': 78.5,
    'explore_object_locations_small': 74.45,
    'explore_object_locations_large': 65.65,
    'explore_obstructed_goals_small': 206,
    'explore_obstructed_goals_large': 119.5,
    'explore_goal_locations_small': 267.5,
    'explore_goal_locations_large': 194.5,
    'explore_object_rewards_few': 77.7,
    'explore_object_rewards_many': 106.7,
}

# Random-agent scores, keyed by test level name (release
# `dmlab30.RANDOM_SCORES`).
RANDOM_SCORES = {
    'rooms_collect_good_objects_test': 0.073,
    'rooms_exploit_deferred_effects_test': 8.501,
    'rooms_select_nonmatching_object': 0.312,
    'rooms_watermaze': 4.065,
    'rooms_keys_doors_puzzle': 4.135,
    'language_select_described_object': -0.07,
    'language_select_located_object': 1.929,
    'language_execute_random_task': -5.913,
    'language_answer_quantitative_question': -0.33,
    'lasertag_one_opponent_small': -0.224,
    'lasertag_three_opponents_small': -0.214,
    'lasertag_one_opponent_large': -0.083,
    'lasertag_three_opponents_large': -0.102,
    'natlab_fixed_large_map': 2.173,
    'natlab_varying_map_regrowth': 2.989,
    'natlab_varying_map_randomized': 7.346,
    'skymaze_irreversible_path_hard': 0.1,
    'skymaze_irreversible_path_varied': 14.4,
    'psychlab_arbitrary_visuomotor_mapping': 0.163,
    'psychlab_continuous_recognition': 0.224,
    'psychlab_sequential_comparison': 0.129,
    'psychlab_visual_search': 0.085,
    'explore_object_locations_small': 3.575,
    'explore_object_locations_large': 4.673,
    'explore_obstructed_goals_small': 6.76,
    'explore_obstructed_goals_large': 2.61,
    'explore_goal_locations_small': 7.66,
    'explore_goal_locations_large': 3.14,
    'explore_object_rewards_few': 2.073,
    'explore_object_rewards_many': 2.438,
}

# The agent columns of Table B.1 (keys of each `PAPER_SCORES` entry besides
# 'human' and 'random').  Per-level scores for A3C, IMPALA shallow and IMPALA
# deep without PBT were not published.
PAPER_COLUMNS = ('impala_experts_deep', 'impala_deep_pbt')

# Table 3: the printed suite scores (mean capped human-normalised score on the
# test levels) of the agents whose per-level scores are in Table B.1.
PAPER_SUITE_SCORES = {
    'impala_experts_deep': 44.5,
    'impala_deep_pbt': 49.4,
}


def _paper(human, random, experts, impala):
  return {'human': human, 'random': random,
          'impala_experts_deep': experts, 'impala_deep_pbt': impala}


# Paper Table B.1, row by row, keyed by the paper's row label (as a test level
# name).  'human'/'random' are the paper's own rounded h/r columns.  NOTE the
# four lasertag rows: their h/r are the release's values for the level with
# small and large swapped (see the module docstring); kept as printed.
PAPER_SCORES = {
    'rooms_collect_good_objects_test': _paper(10.0, 0.1, 9.0, 5.8),
    'rooms_exploit_deferred_effects_test': _paper(85.7, 8.5, 15.6, 11.0),
    'rooms_select_nonmatching_object': _paper(65.9, 0.3, 7.3, 26.1),
    'rooms_watermaze': _paper(54.0, 4.1, 26.9, 31.1),
    'rooms_keys_doors_puzzle': _paper(53.8, 4.1, 28.0, 24.3),
    'language_select_described_object': _paper(389.5, -0.1, 324.6, 593.1),
    'language_select_located_object': _paper(280.7, 1.9, 189.0, 301.7),
    'language_execute_random_task': _paper(254.1, -5.9, -49.9, 66.8),
    'language_answer_quantitative_question': _paper(184.5, -0.3, 219.4,
                                                    264.0),
    'lasertag_one_opponent_small': _paper(18.6, -0.1, -0.1, 2.5),
    'lasertag_three_opponents_small': _paper(31.5, -0.1, 19.1, 11.3),
    'lasertag_one_opponent_large': _paper(12.7, -0.2, -0.2, 0.3),
    'lasertag_three_opponents_large': _paper(18.6, -0.2, -0.1, 4.1),
    'natlab_fixed_large_map': _paper(36.9, 2.2, 34.7, 12.2),
    'natlab_varying_map_regrowth': _paper(24.4, 3.0, 20.7, 15.9),
    'natlab_varying_map_randomized': _paper(42.4, 7.3, 36.1, 29.0),
    'skymaze_irreversible_path_hard': _paper(100.0, 0.1, 13.6, 30.0),
    'skymaze_irreversible_path_varied': _paper(100.0, 14.4, 45.1, 53.6),
    'psychlab_arbitrary_visuomotor_mapping': _paper(58.8, 0.2, 16.4, 14.3),
    'psychlab_continuous_recognition': _paper(58.3, 0.2, 29.9, 29.9),
    'psychlab_sequential_comparison': _paper(39.5, 0.1, 0.0, 0.0),
    'psychlab_visual_search': _paper(78.5, 0.1, 0.0, 0.0),
    'explore_object_locations_small': _paper(74.5, 3.6, 57.8, 62.6),
    'explore_object_locations_large': _paper(65.7, 4.7, 37.0, 51.1),
    'explore_obstructed_goals_small': _paper(206.0, 6.8, 135.2, 188.8),
    'explore_obstructed_goals_large': _paper(119.5, 2.6, 39.5, 71.0),
    'explore_goal_locations_small': _paper(267.5, 7.7, 209.4, 252.5),
    'explore_goal_locations_large': _paper(194.5, 3.1, 83.1, 125.3),
    'explore_object_rewards_few': _paper(77.7, 2.1, 39.8, 43.2),
    'explore_object_rewards_many': _paper(106.7, 2.4, 58.7, 62.6),
}


def to_test_level(level_name):
  """Returns the test level name for a DMLab-30 train or test level name.

  Args:
    level_name: e.g. 'rooms_collect_good_objects_train',
      'rooms_collect_good_objects_test' or 'rooms_watermaze', optionally with
      the 'contributed/dmlab30/' prefix.

  Raises:
    ValueError: if `level_name` is not one of the DMLab-30 levels.
  """
  if not isinstance(level_name, str):
    raise ValueError('level_name must be a string, got %r' % (level_name,))
  name = level_name
  if name.startswith(LEVEL_PREFIX):
    name = name[len(LEVEL_PREFIX):]
  if name in LEVEL_MAPPING:
    return LEVEL_MAPPING[name]
  if name in HUMAN_SCORES:
    return name
  raise ValueError('level_name %r is not a DMLab-30 level (expected one of '
                   'the 30 train or test names, e.g. %r)' %
                   (level_name, TEST_LEVELS[0]))


def human_normalized_score(level_name, score, per_level_cap=None):
  """Human-normalised score of one level, in percent.

  `100 * (score - random) / (human - random)` with the release's
  `HUMAN_SCORES`/`RANDOM_SCORES`, then `min(., per_level_cap)` if a cap is
  given (Table B.1 caps at 100).

  Args:
    level_name: a DMLab-30 train or test level name (see `to_test_level`).
    score: the mean episode return on the level.
    per_level_cap: None, or a cap in percent (e.g. 100).
  """
  name = to_test_level(level_name)
  _check_cap(per_level_cap)
  human, random = HUMAN_SCORES[name], RANDOM_SCORES[name]
  hns = 100.0 * (float(score) - random) / (human - random)
  if per_level_cap is not None:
    hns = min(hns, float(per_level_cap))
  return hns


def _check_cap(per_level_cap):
  if per_level_cap is not None and (
      isinstance(per_level_cap, bool) or
      not isinstance(per_level_cap, (int, float, np.number))):
    raise ValueError('per_level_cap must be None or a number (e.g. 100), got '
                     '%r' % (per_level_cap,))


def _transform_level_returns(level_returns):
  """Re-keys {train or test level name: returns} by test level name.

  Returns an OrderedDict in `TEST_LEVELS` order.  Names outside DMLab-30 are
  ignored, as in the release.  Raises ValueError naming every missing level,
  every level without returns, and any level given under both its train and
  its test name.
  """
  if not isinstance(level_returns, collections.abc.Mapping):
    raise ValueError('level_returns must be a mapping from level name to a '
                     'list of episode returns, got %s' %
                     type(level_returns).__name__)
  by_test_name = {}
  given_as = {}
  for level_name, returns in level_returns.items():
    try:
      name = to_test_level(level_name)
    except ValueError:
      continue  # Not a DMLab-30 level: ignored, as in the release.
    if name in by_test_name:
      raise ValueError(
          'level_returns gives level %r twice, as %r and %r' %
          (name, given_as[name], level_name))
    by_test_name[name] = returns
    given_as[name] = level_name
  missing = [name for name in TEST_LEVELS if name not in by_test_name]
  if missing:
    raise ValueError('level_returns is missing %d of the 30 DMLab-30 levels: '
                     '%s' % (len(missing), ', '.join(missing)))
  empty = [name for name in TEST_LEVELS if np.size(by_test_name[name]) == 0]
  if empty:
    raise ValueError('level_returns has no episode returns for level(s): %s' %
                     ', '.join(empty))
  return collections.OrderedDict(
      (name, by_test_name[name]) for name in TEST_LEVELS)


def compute_human_normalized_score(level_returns, per_level_cap):
  """The DMLab-30 suite score: mean over the 30 levels of the per-level HNS.

  As in the release: levels with distinct train and test versions may be
  given under either name ('rooms_collect_good_objects_train' counts for
  'rooms_collect_good_objects_test'); names outside DMLab-30 are ignored.

  Args:
    level_returns: mapping from level name to a list (or array) of episode
      returns; the score of a level is the mean of its returns.
    per_level_cap: percentage cap on each level's score (100 for the paper's
      "mean capped human normalised score"), or None for no cap.

  Returns:
    The mean human-normalised score in percent, a float.

  Raises:
    ValueError: if a level is missing (all missing levels are named), has no
      returns, or is given under both its train and test name.
  """
  _check_cap(per_level_cap)
  returns_by_level = _transform_level_returns(level_returns)
  scores = [
      human_normalized_score(name, np.mean(returns), per_level_cap)
      for name, returns in returns_by_level.items()
  ]
  return float(np.mean(scores))


def soft_asymmetric_clip(rewards):
  """The release's "soft_asymmetric" reward clipping for DMLab-30.

  Release (`experiment.py`, `--reward_clipping=soft_asymmetric`):

      s = tanh(r / 5)
      clipped = 5 * s          if r >= 0
              = 5 * 0.3 * s    if r < 0     (i.e. 1.5 * tanh(r / 5))

  so positive rewards saturate softly towards +5, negative ones towards -1.5,
  and near 0 the slope is 1 for r > 0 and 0.3 for r < 0.

  How it differs from the paper: Figure D.1 prints
  `0.3 * min(tanh(r), 0) + 5.0 * max(tanh(r), 0)`, which squashes with
  tanh(r) rather than tanh(r / 5): it saturates at +5 and -0.3 and has slope
  5 (not 1) for small positive rewards.  The release's formula is the one
  used here (see also `paper_figure_d1_clip`).

  Args:
    rewards: a tf.Tensor (any shape, float dtype) or anything numpy accepts.

  Returns:
    The clipped rewards: a tf.Tensor of the same shape and dtype for a
    tf.Tensor input (works in graph and eager mode), a numpy array (float64
    unless the input is a float array) otherwise.
  """
  if _is_tf(rewards):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    squeezed = tf.tanh(rewards / 5.0)
    return tf.where(rewards < 0, 0.3 * squeezed, squeezed) * 5.0
  rewards = _as_float_array(rewards)
  squeezed = np.tanh(rewards / 5.0)
  return np.where(rewards < 0, 0.3 * squeezed, squeezed) * 5.0


def paper_figure_d1_clip(rewards):
  """Paper Figure D.1's printed formula (not used for training; see above).

  `0.3 * min(tanh(r), 0) + 5.0 * max(tanh(r), 0)`, numpy only.
  """
  squeezed = np.tanh(_as_float_array(rewards))
  return 0.3 * np.minimum(squeezed, 0.0) + 5.0 * np.maximum(squeezed, 0.0)


def _is_tf(x):
  return type(x).__module__.startswith(('tensorflow', 'tf_keras', 'keras'))


def _as_float_array(x):
  x = np.asarray(x)
  if not np.issubdtype(x.dtype, np.floating):
    x = x.astype(np.float64)
  return x
