# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""levels.py: --level_name resolution."""

import pytest

import atari57
import dmlab30
import levels


def test_single_levels():
  assert levels.resolve('catch') == levels.LevelSet('catch', 'catch',
                                                    ('catch',), False)
  assert levels.resolve('atari/pong') == levels.LevelSet(
      'atari/pong', 'atari', ('atari/pong',), False)
  assert levels.resolve('atari/montezuma_revenge').levels == (
      'atari/montezuma_revenge',)
  level_set = levels.resolve('contributed/dmlab30/rooms_watermaze')
  assert (level_set.domain, level_set.levels) == ('dmlab',
                                                  ('rooms_watermaze',))
  assert levels.resolve('seekavoid_arena_01').domain == 'dmlab'
  assert levels.resolve('dmlab/tests/empty_room_test').levels == (
      'dmlab/tests/empty_room_test',)


def test_suites():
  suite = levels.resolve('atari57')
  assert suite.multitask and suite.domain == 'atari'
  assert suite.levels == tuple('atari/' + g for g in atari57.GAMES)
  assert len(suite.levels) == 57
  suite = levels.resolve('dmlab30')
  assert suite.multitask and suite.domain == 'dmlab'
  assert suite.levels == tuple(dmlab30.LEVEL_MAPPING)
  assert len(suite.levels) == 30


def test_environment_level_and_evaluation_level():
  assert levels.environment_level('catch') == ('catch', 'catch')
  assert levels.environment_level('atari/pong') == ('atari', 'pong')
  assert levels.environment_level('rooms_watermaze') == (
      'dmlab', 'contributed/dmlab30/rooms_watermaze')
  assert levels.environment_level('seekavoid_arena_01') == (
      'dmlab', 'seekavoid_arena_01')
  assert levels.environment_level('dmlab/a/b') == ('dmlab', 'a/b')
  assert levels.evaluation_level('rooms_collect_good_objects_train') == (
      'rooms_collect_good_objects_test')
  assert levels.evaluation_level('rooms_watermaze') == 'rooms_watermaze'
  assert levels.evaluation_level('atari/pong') == 'atari/pong'


@pytest.mark.parametrize('name', [
    '', 'pong', 'atari/', 'atari/not_a_game', 'atari58', 'dmlab/',
    'rooms_watermaze_typo', 'Catch'])
def test_unknown_levels_raise_a_clear_error(name):
  with pytest.raises(ValueError, match='Unknown --level_name') as error:
    levels.resolve(name)
  assert 'atari/<game>' in str(error.value)
