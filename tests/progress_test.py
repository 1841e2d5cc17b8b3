# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""progress.py: the ETA, durations and the bottleneck columns."""

import csv
import os

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

import bottleneck
import config as config_lib
import environments
import experiment  # pylint: disable=unused-import  (its flags)
import learner as learner_lib
import progress


def test_eta_from_the_recent_rate():
  # 1,000 frames/s between the first and last sample: 9,000 frames left.
  rates = [(100., 0), (105., 2000), (110., 10000)]
  assert progress.eta_secs(1000, 10000, rates[:1]) is None
  assert progress.eta_secs(10000, 20000, [(100., 0), (110., 10000)]) == 10.
  assert progress.eta_secs(10000, 10000, rates) == 0.
  assert progress.eta_secs(5000, 10000, [(100., 5000), (110., 5000)]) is None


def test_format_duration():
  assert [progress.format_duration(s) for s in (
      None, 0, 45.4, 245, 8 * 3600 + 17 * 60 + 3, 2 * 86400 + 3 * 3600)] == [
          '-', '0s', '45s', '4m05s', '8h17m', '2d03h']


def test_figure_columns_are_at_the_end_and_empty_where_unknown():
  figures = bottleneck.Figures(5., .8, .19, .0, None, None, None)
  columns = progress.figure_columns(figures)
  assert columns == {'learner_waiting': '0.800', 'learner_computing': '0.190',
                     'queue_fill': '0.000', 'actor_inference': '',
                     'actor_environment': '', 'actor_waiting': ''}
  fields = progress.Progress.CSV_FIELDS
  assert fields[-len(columns):] == tuple(columns)


def test_resuming_an_older_progress_csv_rewrites_its_header(tmp_path):
  """A run resumed by a version with more columns: the old rows keep their
  values under the new header, nothing is appended under a short one."""
  path = str(tmp_path / 'progress.csv')
  with open(path, 'w', newline='') as f:
    f.write('wall_time,frames,fps\n1.5,100,10\n2.5,200,20\n')
  fields = ('wall_time', 'frames', 'fps', 'mean_capped_hns')
  progress.upgrade_csv(path, fields)
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))
  assert list(rows[0]) == list(fields)
  assert [(r['frames'], r['fps'], r['mean_capped_hns']) for r in rows] == [
      ('100', '10', ''), ('200', '20', '')]
  before = os.stat(path).st_mtime_ns
  progress.upgrade_csv(path, fields)  # Already current: left alone.
  assert os.stat(path).st_mtime_ns == before


@pytest.fixture
def catch_config():
  saved = flags.FLAGS.flag_values_dict()
  flags.FLAGS(['experiment.py'])
  yield config_lib.resolve_config('catch')
  for name, value in saved.items():
    setattr(flags.FLAGS, name, value)


def _games(returns, steps):
  """LearnerOutputs of one step, T=2, B=len(returns): every environment
  ends a game of catch at t=1 with the given return."""
  batch = len(returns)
  game_over = np.zeros([2, batch], bool)
  game_over[1] = True
  infos = environments.StepOutputInfo(
      np.tile(np.float32(returns), [2, 1]),
      np.full([2, batch], steps, np.int32), game_over)
  return learner_lib.LearnerOutputs(
      level_name=np.array([b'catch'] * batch), infos=infos, done=game_over,
      num_env_frames=0, stats={'total_loss': 1.})


def test_a_resumed_run_continues_episodes_and_returns(tmp_path,
                                                             catch_config):
  """Stopped after 3 steps (120 games), resumed: the episodes count on and
  the mean is again over the last 100 games, not over the resumed run's
  first few (curves.py takes `episodes` >= 100 as a full window); the
  learner steps restart, which is how curves.py finds the resumption."""
  with tf.Graph().as_default():  # Its FileWriter is a v1 one.
    _stop_and_resume(str(tmp_path), catch_config)


def _stop_and_resume(logdir, catch_config):
  run = progress.Progress(logdir, catch_config, 0, log_interval_secs=1e9)
  for step in range(3):
    run.add(_games([-1.] * 20 + [1.] * 20, 9), 1000 * (step + 1))
  run.report(3000)
  run.close()
  with open(os.path.join(logdir, 'episodes.csv'), newline='') as f:
    games = list(csv.DictReader(f))
  assert len(games) == 120
  assert games[0] == {'wall_time': games[0]['wall_time'], 'frames': '3000',
                      'level_name': 'catch', 'episode_return': '-1',
                      'episode_frames': '9'}  # Catch: 1 frame per step.
  with open(os.path.join(logdir, 'episodes.csv'), 'a') as f:
    f.write('1.0,3000,catch,')  # A line cut by a crash.

  resumed = progress.Progress(logdir, catch_config, 3000, 1e9)
  resumed.add(_games([1.] * 10, 9), 4000)
  resumed.report(4000)
  resumed.close()
  with open(os.path.join(logdir, 'progress.csv'), newline='') as f:
    rows = list(csv.DictReader(f))
  assert [(r['learner_steps'], r['episodes']) for r in rows] == [
      ('3', '120'), ('1', '130')]
  # The last 100: 10 new wins, then the first run's last 90 (40 of them -1).
  assert float(rows[1]['mean_episode_return']) == pytest.approx(
      (10 + 50 - 40) / 100)


def test_a_run_from_before_episodes_csv_starts_its_window_afresh(tmp_path):
  with open(os.path.join(str(tmp_path), 'progress.csv'), 'w') as f:
    f.write('wall_time,frames,learner_steps,episodes\n1.0,500,7,250\n')
  episodes, returns = progress.resume_episodes(str(tmp_path))
  assert (episodes, dict(returns)) == (0, {})
