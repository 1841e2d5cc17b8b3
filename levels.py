# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Level names: one resolver for training, test mode, the scorers and report.

`--level_name` accepts
- `catch`: the small built-in game (environments.PyProcessCatch);
- `atari/<game>`: one Atari game by its ale-py ROM id (`atari/pong`);
- `atari57`: the 57 games of the paper's Atari suite (atari57.GAMES);
- `dmlab30`: the 30 levels of DMLab-30 (dmlab30.LEVEL_MAPPING, train names);
- a DMLab-30 level (`rooms_watermaze`, with or without the
  `contributed/dmlab30/` prefix), a classic DeepMind Lab level
  (`seekavoid_arena_01`, ...), or any level script as `dmlab/<script path>`.

Concrete level names (what trajectories carry, what returns are keyed by)
are `catch`, `atari/<game>`, and the DMLab level name as given (DMLab-30
levels without their prefix, as in the release).
"""

import collections

import atari57
import atari_environment
import dmlab30

LevelSet = collections.namedtuple('LevelSet', 'name domain levels multitask')

# Levels shipped with DeepMind Lab besides DMLab-30 (game_scripts/levels).
CLASSIC_DMLAB_LEVELS = (
    'lt_chasm', 'lt_hallway_slope', 'lt_horseshoe_color',
    'lt_space_bounce_hard', 'nav_maze_random_goal_01',
    'nav_maze_random_goal_02', 'nav_maze_random_goal_03',
    'nav_maze_static_01', 'nav_maze_static_02', 'nav_maze_static_03',
    'seekavoid_arena_01', 'stairway_to_melon')

DMLAB_SCRIPT_PREFIX = 'dmlab/'


def _unknown(level_name, why):
  return ValueError(
      'Unknown --level_name=%r (%s). Use catch, atari/<game> (an ale-py ROM '
      'id such as atari/pong; atari57.GAMES lists the suite), atari57, '
      'dmlab30, a DMLab-30 level such as rooms_watermaze, a classic DeepMind '
      'Lab level such as seekavoid_arena_01, or dmlab/<level script>.' %
      (level_name, why))


def resolve(level_name):
  """Resolves `--level_name` into a `LevelSet(name, domain, levels, multitask)`.

  Raises:
    ValueError: the name is not one of the accepted forms (the message lists
      them), or names an Atari game ale-py does not ship.
  """
  if not isinstance(level_name, str) or not level_name:
    raise _unknown(level_name, 'empty')
  if level_name == 'catch':
    return LevelSet(level_name, 'catch', ('catch',), False)
  if level_name == 'atari57':
    return LevelSet(level_name, 'atari',
                    tuple(atari57.LEVEL_PREFIX + g for g in atari57.GAMES),
                    True)
  if level_name == 'dmlab30':
    return LevelSet(level_name, 'dmlab', tuple(dmlab30.LEVEL_MAPPING), True)
  if level_name.startswith(atari57.LEVEL_PREFIX):
    game = level_name[len(atari57.LEVEL_PREFIX):]
    if game not in atari_environment.atari_game_ids():
      raise _unknown(level_name, 'ale-py has no ROM %r' % game)
    return LevelSet(level_name, 'atari', (level_name,), False)
  if level_name.startswith(DMLAB_SCRIPT_PREFIX):
    if len(level_name) == len(DMLAB_SCRIPT_PREFIX):
      raise _unknown(level_name, 'no level script after dmlab/')
    return LevelSet(level_name, 'dmlab', (level_name,), False)
  short = level_name
  if short.startswith(dmlab30.LEVEL_PREFIX):
    short = short[len(dmlab30.LEVEL_PREFIX):]
  if short in dmlab30.ALL_LEVELS or short in CLASSIC_DMLAB_LEVELS:
    return LevelSet(level_name, 'dmlab', (short,), False)
  raise _unknown(level_name, 'not a known level')


def environment_level(level):
  """(domain, level argument of environments.create_environment) of a level."""
  if level == 'catch':
    return 'catch', 'catch'
  if level.startswith(atari57.LEVEL_PREFIX):
    return 'atari', level[len(atari57.LEVEL_PREFIX):]
  if level.startswith(DMLAB_SCRIPT_PREFIX):
    return 'dmlab', level[len(DMLAB_SCRIPT_PREFIX):]
  if level in dmlab30.ALL_LEVELS:
    return 'dmlab', dmlab30.LEVEL_PREFIX + level
  return 'dmlab', level


def evaluation_level(level):
  """The level evaluated in test mode (DMLab-30's hold-out test variants)."""
  return dmlab30.LEVEL_MAPPING.get(level, level)
