"""Atari-57: the 57 games, human/random scores and the paper's per-game scores.

Human-normalised score (paper Table 4, Appendix C):

    HNS(game) = 100 * (score - random) / (human - random)

and the suite is summarised by the median (and mean) of HNS over the 57 games.

Sources of the figures below:
  * `GAMES`: ale-py ROM ids (ale-py 0.12.1; gym id `ALE/<CamelName>-v5`).
  * `HUMAN_SCORES`, `RANDOM_SCORES`: deepmind/dqn_zoo `atari_data.py`: no-op
    starts (1 to 30 random no-ops), episodes capped at 108,000 frames; the same
    values as the no-op human table of Wang et al. (2016).  The paper
    evaluates with no-op starts too ("each episode was started with a random
    number of no-op actions (uniformly chosen from [1, 30])", Appendix C).
  * `PAPER_SCORES`: IMPALA paper (Espeholt et al. 2018, arXiv 1802.01561),
    Appendix C, Table C.1 "Atari scores after 200M steps environment steps of
    training. Up to 30 no-ops at the beginning of each episode" (mean of 200
    evaluation episodes): IMPALA shallow experts, IMPALA deep experts, IMPALA
    deep multi-task, and the Reactor and ACKTR columns of the same table
    (None where the table prints N/A).  Cross-checked against the independent
    transcription in seungjaeryanlee/rldb (`db/paper__impala`).

How the paper's Table 4 relates to these tables (see tests/scores_test.py):
  * The medians reproduce: Table C.1 scored with the dqn_zoo human/random
    values gives 59.7% (IMPALA deep multi-task, printed 59.7%) and 186.8%
    (Reactor, printed 187%); the IMPALA shallow/deep expert medians, whose
    printed cells were unreadable in our copy of the paper, recompute to
    93.2% and 191.8% (`RECOMPUTED_PAPER_MEDIANS`).
  * The printed means do NOT reproduce with the dqn_zoo values (recomputed:
    707.4%, 1592.5%, 179.4% vs printed 466.4%, 957.6%, 176.9%); they come
    within 0.35 points (466.1%, 957.3%, 176.6%) if Video Pinball is
    normalised with random = 0, so the paper probably used a different random
    score for Video Pinball.  We keep the dqn_zoo value (16256.9) and report
    medians as the suite metric.
"""

import collections.abc

import numpy as np

# Level names of Atari games in this project are 'atari/<rom id>'.
LEVEL_PREFIX = 'atari/'

# The 57 games, as ale-py ROM ids, alphabetical.
GAMES = (
    'alien', 'amidar', 'assault', 'asterix', 'asteroids', 'atlantis',
    'bank_heist', 'battle_zone', 'beam_rider', 'berzerk', 'bowling', 'boxing',
    'breakout', 'centipede', 'chopper_command', 'crazy_climber', 'defender',
    'demon_attack', 'double_dunk', 'enduro', 'fishing_derby', 'freeway',
    'frostbite', 'gopher', 'gravitar', 'hero', 'ice_hockey', 'jamesbond',
    'kangaroo', 'krull', 'kung_fu_master', 'montezuma_revenge', 'ms_pacman',
    'name_this_game', 'phoenix', 'pitfall', 'pong', 'private_eye', 'qbert',
    'riverraid', 'road_runner', 'robotank', 'seaquest', 'skiing', 'solaris',
    'space_invaders', 'star_gunner', 'surround', 'tennis', 'time_pilot',
    'tutankham', 'up_n_down', 'venture', 'video_pinball', 'wizard_of_wor',
    'yars_revenge', 'zaxxon',
)

# Human scores for no-op starts (dqn_zoo `atari_data.py`).
HUMAN_SCORES = {
    'alien': 7127.7,
    'amidar': 1719.5,
    'assault': 742.0,
    'asterix': 8503.3,
    'asteroids': 47388.7,
    'atlantis': 29028.1,
    'bank_heist': 753.1,
    'battle_zone': 37187.5,
    'beam_rider': 16926.5,
    'berzerk': 2630.4,
    'bowling': 160.7,
    'boxing': 12.1,
    'breakout': 30.5,
    'centipede': 12017.0,
    'chopper_command': 7387.8,
    'crazy_climber': 35829.4,
    'defender': 18688.9,
    'demon_attack': 1971.0,
    'double_dunk': -16.4,
    'enduro': 860.5,
    'fishing_derby': -38.7,
    'freeway': 29.6,
    'frostbite': 4334.7,
    'gopher': 2412.5,
    'gravitar': 3351.4,
    'hero': 30826.4,
    'ice_hockey': 0.9,
    'jamesbond': 302.8,
    'kangaroo': 3035.0,
    'krull': 2665.5,
    'kung_fu_master': 22736.3,
    'montezuma_revenge': 4753.3,
    'ms_pacman': 6951.6,
    'name_this_game': 8049.0,
    'phoenix': 7242.6,
    'pitfall': 6463.7,
    'pong': 14.6,
    'private_eye': 69571.3,
    'qbert': 13455.0,
    'riverraid': 17118.0,
    'road_runner': 7845.0,
    'robotank': 11.9,
    'seaquest': 42054.7,
    'skiing': -4336.9,
    'solaris': 12326.7,
    'space_invaders': 1668.7,
    'star_gunner': 10250.0,
    'surround': 6.5,
    'tennis': -8.3,
    'time_pilot': 5229.2,
    'tutankham': 167.6,
    'up_n_down': 11693.2,
    'venture': 1187.5,
    'video_pinball': 17667.9,
    'wizard_of_wor': 4756.5,
    'yars_revenge': 54576.9,
    'zaxxon': 9173.3,
}

# Random-agent scores for no-op starts (dqn_zoo `atari_data.py`).
RANDOM_SCORES = {
    'alien': 227.8,
    'amidar': 5.8,
    'assault': 222.4,
    'asterix': 210.0,
    'asteroids': 719.1,
    'atlantis': 12850.0,
    'bank_heist': 14.2,
    'battle_zone': 2360.0,
    'beam_rider': 363.9,
    'berzerk': 123.7,
    'bowling': 23.1,
    'boxing': 0.1,
    'breakout': 1.7,
    'centipede': 2090.9,
    'chopper_command': 811.0,
    'crazy_climber': 10780.5,
    'defender': 2874.5,
    'demon_attack': 152.1,
    'double_dunk': -18.6,
    'enduro': 0.0,
    'fishing_derby': -91.7,
    'freeway': 0.0,
    'frostbite': 65.2,
    'gopher': 257.6,
    'gravitar': 173.0,
    'hero': 1027.0,
    'ice_hockey': -11.2,
    'jamesbond': 29.0,
    'kangaroo': 52.0,
    'krull': 1598.0,
    'kung_fu_master': 258.5,
    'montezuma_revenge': 0.0,
    'ms_pacman': 307.3,
    'name_this_game': 2292.3,
    'phoenix': 761.4,
    'pitfall': -229.4,
    'pong': -20.7,
    'private_eye': 24.9,
    'qbert': 163.9,
    'riverraid': 1338.5,
    'road_runner': 11.5,
    'robotank': 2.2,
    'seaquest': 68.4,
    'skiing': -17098.1,
    'solaris': 1236.3,
    'space_invaders': 148.0,
    'star_gunner': 664.0,
    'surround': -10.0,
    'tennis': -23.8,
    'time_pilot': 3568.0,
    'tutankham': 11.4,
    'up_n_down': 533.4,
    'venture': 0.0,
    'video_pinball': 16256.9,
    'wizard_of_wor': 563.5,
    'yars_revenge': 3092.9,
    'zaxxon': 32.5,
}

# The agent columns of Table C.1 (keys of each `PAPER_SCORES` entry).
PAPER_COLUMNS = ('impala_shallow_experts', 'impala_deep_experts',
                 'impala_deep_multitask', 'reactor', 'acktr')

# Table 4 as printed: human-normalised median and mean over the 57 games, for
# the agents of `PAPER_COLUMNS`.  None where the printed cell could not be
# read (IMPALA expert medians) or the paper gives N/A (Reactor mean) or no
# Table 4 row (ACKTR).
PAPER_SUITE_SCORES = {
    'impala_shallow_experts': {'median': None, 'mean': 466.4},
    'impala_deep_experts': {'median': None, 'mean': 957.6},
    'impala_deep_multitask': {'median': 59.7, 'mean': 176.9},
    'reactor': {'median': 187.0, 'mean': None},
    'acktr': {'median': None, 'mean': None},
}

# Medians recomputed from Table C.1 with `HUMAN_SCORES`/`RANDOM_SCORES`
# (rounded to 0.1; tested in tests/scores_test.py).
RECOMPUTED_PAPER_MEDIANS = {
    'impala_shallow_experts': 93.2,
    'impala_deep_experts': 191.8,
    'impala_deep_multitask': 59.7,
    'reactor': 186.8,
}


def _paper(shallow_experts, deep_experts, deep_multitask, reactor, acktr):
  return {'impala_shallow_experts': shallow_experts,
          'impala_deep_experts': deep_experts,
          'impala_deep_multitask': deep_multitask,
          'reactor': reactor,
          'acktr': acktr}


# Paper Table C.1, per game (None = N/A in the table).
PAPER_SCORES = {
    'alien': _paper(1536.05, 15962.10, 2344.60, 6482.10, 3197.10),
    'amidar': _paper(497.62, 1554.79, 136.82, 833, 1059.40),
    'assault': _paper(12086.86, 19148.47, 2116.32, 11013.50, 10777.70),
    'asterix': _paper(29692.50, 300732.00, 2609.00, 36238.50, 31583.00),
    'asteroids': _paper(3508.10, 108590.05, 2011.05, 2780.40, 34171.60),
    'atlantis': _paper(773355.50, 849967.50, 460430.50, 308258, 3433182.00),
    'bank_heist': _paper(1200.35, 1223.15, 55.15, 988.70, 1289.70),
    'battle_zone': _paper(13015.00, 20885.00, 7705.00, 61220, 8910.00),
    'beam_rider': _paper(8219.92, 32463.47, 698.36, 8566.50, 13581.40),
    'berzerk': _paper(888.30, 1852.70, 647.80, 1641.40, 927.20),
    'bowling': _paper(35.73, 59.92, 31.06, 75.40, 24.30),
    'boxing': _paper(96.30, 99.96, 96.63, 99.40, 1.45),
    'breakout': _paper(640.43, 787.34, 35.67, 518.40, 735.70),
    'centipede': _paper(5528.13, 11049.75, 4916.84, 3402.80, 7125.28),
    'chopper_command': _paper(5012.00, 28255.00, 5036.00, 37568, None),
    'crazy_climber': _paper(136211.50, 136950.00, 115384.00, 194347, 150444.00),
    'defender': _paper(58718.25, 185203.00, 16667.50, 113128, None),
    'demon_attack': _paper(107264.73, 132826.98, 10095.20, 100189, 274176.70),
    'double_dunk': _paper(-0.35, -0.33, -1.92, 11.40, -0.54),
    'enduro': _paper(0.00, 0.00, 971.28, 2230.10, 0.00),
    'fishing_derby': _paper(32.08, 44.85, 35.27, 23.20, 33.73),
    'freeway': _paper(0.00, 0.00, 21.41, 31.40, 0.00),
    'frostbite': _paper(269.65, 317.75, 2744.15, 8042.10, None),
    'gopher': _paper(1002.40, 66782.30, 913.50, 69135.10, 47730.80),
    'gravitar': _paper(211.50, 359.50, 282.50, 1073.80, None),
    'hero': _paper(33853.15, 33730.55, 18818.90, 35542.20, None),
    'ice_hockey': _paper(-5.25, 3.48, -13.55, 3.40, -4.20),
    'jamesbond': _paper(440.00, 601.50, 284.00, 7869.20, 490.00),
    'kangaroo': _paper(47.00, 1632.00, 8240.50, 10484.50, 3150.00),
    'krull': _paper(9247.60, 8147.40, 10807.80, 9930.80, 9686.90),
    'kung_fu_master': _paper(42259.00, 43375.50, 41905.00, 59799.50, 34954.00),
    'montezuma_revenge': _paper(0.00, 0.00, 0.00, 2643.50, None),
    'ms_pacman': _paper(6501.71, 7342.32, 3415.05, 2724.30, None),
    'name_this_game': _paper(6049.55, 21537.20, 5719.30, 9907.20, None),
    'phoenix': _paper(33068.15, 210996.45, 7486.50, 40092.20, 133433.70),
    'pitfall': _paper(-11.14, -1.66, -1.22, -3.50, -1.10),
    'pong': _paper(20.40, 20.98, 8.58, 20.70, 20.90),
    'private_eye': _paper(92.42, 98.50, 0.00, 15177.10, None),
    'qbert': _paper(18901.25, 351200.12, 10717.38, 22956.50, 23151.50),
    'riverraid': _paper(17401.90, 29608.05, 2850.15, 16608.30, 17762.80),
    'road_runner': _paper(37505.00, 57121.00, 24435.50, 71168, 53446.00),
    'robotank': _paper(2.30, 12.96, 9.94, 68.50, 16.50),
    'seaquest': _paper(1716.90, 1753.20, 844.60, 8425.80, 1776.00),
    'skiing': _paper(-29975.00, -10180.38, -8988.00, -10753.40, None),
    'solaris': _paper(2368.40, 2365.00, 1160.40, 2760, 2368.60),
    'space_invaders': _paper(1726.28, 43595.78, 199.65, 2448.60, 19723.00),
    'star_gunner': _paper(69139.00, 200625.00, 1855.50, 70038, 82920.00),
    'surround': _paper(-8.13, 7.56, -8.51, 6.70, None),
    'tennis': _paper(-1.89, 0.55, -8.12, 23.30, None),
    'time_pilot': _paper(6617.50, 48481.50, 3747.50, 19401, 22286.00),
    'tutankham': _paper(267.82, 292.11, 105.22, 272.60, 314.30),
    'up_n_down': _paper(273058.10, 332546.75, 82155.30, 64354.20, 436665.80),
    'venture': _paper(0.00, 0.00, 1.00, 1597.50, None),
    'video_pinball': _paper(228642.52, 572898.27, 20125.14, 469366, 100496.60),
    'wizard_of_wor': _paper(4203.00, 9157.50, 2106.00, 13170.50, 702.00),
    'yars_revenge': _paper(80530.13, 84231.14, 14739.41, 102760, 125169.00),
    'zaxxon': _paper(1148.50, 32935.50, 6497.00, 25215.50, 17448.00),
}


def to_game(level_name):
  """Returns the ROM id of an Atari level name ('atari/pong' or 'pong').

  Raises:
    ValueError: if the name is not one of the 57 games.
  """
  if not isinstance(level_name, str):
    raise ValueError('Atari level name must be a string, got %r' %
                     (level_name,))
  game = level_name
  if game.startswith(LEVEL_PREFIX):
    game = game[len(LEVEL_PREFIX):]
  if game not in HUMAN_SCORES:
    raise ValueError('%r is not one of the 57 Atari games (expected an '
                     'ale-py ROM id such as %r, optionally prefixed with %r)' %
                     (level_name, 'pong', LEVEL_PREFIX))
  return game


def to_level_name(game):
  """'pong' or 'atari/pong' -> 'atari/pong' (validated)."""
  return LEVEL_PREFIX + to_game(game)


def human_normalized_score(game, score):
  """Human-normalised score of one game, in percent (no cap).

  Args:
    game: a ROM id ('pong') or level name ('atari/pong').
    score: the mean episode return (unclipped game score).
  """
  game = to_game(game)
  human, random = HUMAN_SCORES[game], RANDOM_SCORES[game]
  return 100.0 * (float(score) - random) / (human - random)


def compute_human_normalized_scores(game_returns):
  """Per-game human-normalised scores.

  Args:
    game_returns: mapping from a game ('pong' or 'atari/pong') to its episode
      returns (a list or array; the score is their mean) or to a single score.

  Returns:
    A dict {rom id: HNS in percent}, in `GAMES` order.

  Raises:
    ValueError: for an unknown game, a game given twice (e.g. as 'pong' and
      'atari/pong') or a game with no returns.
  """
  if not isinstance(game_returns, collections.abc.Mapping):
    raise ValueError('game_returns must be a mapping from game to episode '
                     'returns, got %s' % type(game_returns).__name__)
  scores = {}
  for name, returns in game_returns.items():
    game = to_game(name)
    if game in scores:
      raise ValueError('game_returns gives game %r twice' % game)
    if np.size(returns) == 0:
      raise ValueError('game_returns has no episode returns for %r' % name)
    scores[game] = human_normalized_score(game, np.mean(returns))
  return {game: scores[game] for game in GAMES if game in scores}


def suite_scores(game_returns, require_all=True):
  """Median and mean human-normalised score over the games (paper Table 4).

  Args:
    game_returns: as for `compute_human_normalized_scores`.
    require_all: if True (the paper's protocol), all 57 games must be given.

  Returns:
    (median, mean), floats in percent.

  Raises:
    ValueError: if `require_all` and games are missing (they are named), or
      if no game is given.
  """
  scores = compute_human_normalized_scores(game_returns)
  missing = [game for game in GAMES if game not in scores]
  if require_all and missing:
    raise ValueError('game_returns is missing %d of the 57 Atari games: %s' %
                     (len(missing), ', '.join(missing)))
  if not scores:
    raise ValueError('game_returns contains no game')
  values = np.array(list(scores.values()))
  return float(np.median(values)), float(np.mean(values))
