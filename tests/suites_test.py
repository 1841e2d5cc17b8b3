# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Atari-57 and DMLab-30 as the paper ran them: even level assignment,
suite defaults, and end-to-end runs over every level of each suite."""

import collections
import json
import os
import re
import subprocess
import sys

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

import actor as actor_lib
import config as config_lib
from experiment_test import parsed_flags  # pylint: disable=unused-import

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_DMLAB_DIR = os.path.join(ROOT, 'tests', 'fake_deepmind_lab')
LEVELS = ('atari57', 'dmlab30', 'atari/pong', 'rooms_watermaze',
          'seekavoid_arena_01', 'catch')


@pytest.fixture
def suite_flags(parsed_flags, monkeypatch, tmp_path):
  """Parsed flags (restored afterwards) and DeepMind Lab's stand-in; a
  --dataset_path for dmlab30's psychlab levels (the stand-in reads none)."""
  monkeypatch.syspath_prepend(FAKE_DMLAB_DIR)
  parsed_flags.dataset_path = str(tmp_path)
  yield parsed_flags


def environment_counts(config):
  """{level: number of environments}, over all actors, as assigned."""
  counts = collections.Counter()
  for i in range(config.num_actors):
    counts.update(actor_lib.assigned_levels(config, i))
  return counts


def check_even(config):
  counts = environment_counts(config)
  assert set(counts) == set(config.level_set.levels)
  assert len(set(counts.values())) == 1, counts
  assert config.batch_size <= config.num_actors * config.envs_per_actor


@pytest.mark.parametrize('cores', [None, 1, 2, 3, 4, 6, 8, 16, 19, 32, 48,
                                   57, 64, 96, 128, 150, 256])
def test_defaults_are_valid_and_even_on_any_core_count(suite_flags,
                                                       monkeypatch, cores):
  del suite_flags
  monkeypatch.setattr(config_lib.os, 'cpu_count', lambda: cores)
  for level_name in LEVELS:
    check_even(config_lib.resolve_config(level_name))


def test_suite_defaults_on_two_cores(suite_flags, monkeypatch):
  del suite_flags
  monkeypatch.setattr(config_lib.os, 'cpu_count', lambda: 2)
  atari = config_lib.resolve_config('atari57')
  assert (atari.num_actors, atari.envs_per_actor) == (2, 57)
  assert set(environment_counts(atari).values()) == {2}
  dmlab = config_lib.resolve_config('dmlab30')  # The release's 150 actors.
  assert (dmlab.num_actors, dmlab.envs_per_actor) == (150, 1)
  assert set(environment_counts(dmlab).values()) == {5}
  single = config_lib.resolve_config('rooms_watermaze')
  assert single.num_actors * single.envs_per_actor >= single.batch_size


def test_paper_settings_per_suite(suite_flags):
  del suite_flags
  # Table D.3: DMLab-30, experts included, clip rewards optimistically.
  for level_name in ('dmlab30', 'rooms_watermaze',
                     'contributed/dmlab30/lasertag_one_opponent_small'):
    assert config_lib.resolve_config(
        level_name).reward_clipping == 'soft_asymmetric'
  assert config_lib.resolve_config(
      'seekavoid_arena_01').reward_clipping == 'abs_one'
  # Test protocol: episodes per level averaged in Tables 3 and 4.
  assert config_lib.resolve_config('atari57').test_num_episodes == 200
  assert config_lib.resolve_config('atari/pong').test_num_episodes == 200
  assert config_lib.resolve_config('dmlab30').test_num_episodes == 500
  flags.FLAGS.test_num_episodes = 3
  assert config_lib.resolve_config('atari57').test_num_episodes == 3


@pytest.mark.parametrize('level_name,max_actors,max_envs', [
    ('atari57', 24, 120), ('dmlab30', 32, 64)])
def test_every_accepted_combination_is_even_and_errors_say_what_works(
    suite_flags, level_name, max_actors, max_envs):
  suite_flags.batch_size = 1
  accepted = 0
  for num_actors in range(1, max_actors + 1):
    for envs_per_actor in range(1, max_envs + 1):
      suite_flags.num_actors = num_actors
      suite_flags.envs_per_actor = envs_per_actor
      try:
        config = config_lib.resolve_config(level_name)
      except ValueError as e:
        message = str(e)
        num_levels = 57 if level_name == 'atari57' else 30
        assert (num_actors * envs_per_actor) % num_levels, message
        assert '\n' not in message
        # The values it names work.
        (envs, actors), = re.findall(
            r'--envs_per_actor=(\d+) \(with --num_actors=%d\) or '
            r'--num_actors=(\d+)' % num_actors, message)
        assert (int(envs) * num_actors) % num_levels == 0
        assert (int(actors) * envs_per_actor) % num_levels == 0
        continue
      accepted += 1
      check_even(config)
  assert accepted > 0


# ---------------------------------------------------------------------------
# End to end: every level of the suite trains, is checkpointed and tested.


def run_experiment(*args, stand_in=False):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONUNBUFFERED='1')
  if stand_in:
    env['PYTHONPATH'] = FAKE_DMLAB_DIR + os.pathsep + env.get('PYTHONPATH',
                                                              '')
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'experiment.py')] + list(args),
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def levels_with_episodes(logdir):
  """The levels whose episode returns reached TensorBoard."""
  levels = set()
  for name in os.listdir(logdir):
    if name.startswith('events.out.tfevents'):
      for event in tf.compat.v1.train.summary_iterator(
          os.path.join(logdir, name)):
        for value in event.summary.value:
          if value.tag.endswith('/episode_return'):
            levels.add(value.tag[:-len('/episode_return')])
  return levels


def check_test_results(logdir, num_levels, metric):
  with open(os.path.join(logdir, 'test_results.json')) as f:
    results = json.load(f)
  assert len(results['levels']) == num_levels
  for entry in results['levels'].values():
    assert len(entry['episode_returns']) == 1
    assert np.isfinite(entry['mean'])
  assert results['suite']['metric'] == metric
  assert results['suite']['num_levels'] == num_levels
  assert np.isfinite(results['suite']['value'])
  return results


def test_atari57_trains_on_every_game_and_tests_over_the_suite(tmp_path):
  """One actor steps the 57 games; its first unroll is the learner's first
  batch. Games are cut after a few frames, so every game's first unroll
  ends an episode and its return shows which game was played."""
  logdir = str(tmp_path / 'atari57')
  common = ['--level_name=atari57', '--logdir=' + logdir, '--network=shallow',
            '--max_episode_frames=8']
  result = run_experiment(*common, '--num_actors=1', '--envs_per_actor=57',
                          '--batch_size=57', '--unroll_length=2',
                          '--total_environment_frames=456',
                          '--log_interval_secs=60')
  assert 'actors   1 x 57 environments' in result.stderr + result.stdout
  # One learner step: 57 trajectories x 2 steps x 4 frames, checkpointed.
  assert tf.train.load_variable(tf.train.latest_checkpoint(logdir),
                                'global_step') == 456
  games = levels_with_episodes(logdir)
  assert len(games) == 57 and all(g.startswith('atari/') for g in games)

  result = run_experiment(*common, '--mode=test', '--test_num_episodes=1')
  assert 'up to 30 no-ops at the start of each game' in result.stderr
  check_test_results(logdir, 57, 'median_human_normalized_score')


def test_dmlab30_trains_on_every_level_and_tests_over_the_suite(tmp_path):
  """The same through the DeepMind Lab stand-in, whose episodes last 15
  agent steps; test mode plays the hold-out test levels."""
  logdir = str(tmp_path / 'dmlab30')
  # The stand-in needs no images; the psychlab levels need the flag.
  common = ['--level_name=dmlab30', '--logdir=' + logdir,
            '--dataset_path=' + str(tmp_path), '--network=shallow',
            '--width=32', '--height=24']
  run_experiment(*common, '--num_actors=1', '--envs_per_actor=30',
                 '--batch_size=30', '--unroll_length=16',
                 '--total_environment_frames=1920', '--log_interval_secs=60',
                 stand_in=True)
  assert tf.train.load_variable(tf.train.latest_checkpoint(logdir),
                                'global_step') == 30 * 16 * 4
  assert len(levels_with_episodes(logdir)) == 30

  run_experiment(*common, '--mode=test', '--test_num_episodes=1',
                 stand_in=True)
  results = check_test_results(logdir, 30,
                               'mean_capped_human_normalized_score')
  assert 'rooms_collect_good_objects_test' in results['levels']
  assert 'rooms_collect_good_objects_train' not in results['levels']
