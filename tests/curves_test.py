# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""curves.py and `report.py --curves`: learning curves from progress.csv."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

import curves

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_FIELDS = ('wall_time', 'learner_steps', 'frames', 'mean_episode_return',
           'episodes')


def _write_run(logdir, *columns):
  os.makedirs(logdir, exist_ok=True)
  with open(os.path.join(logdir, 'progress.csv'), 'w', newline='') as f:
    writer = csv.DictWriter(f, _FIELDS + ('level_name',))
    writer.writeheader()
    for row in zip(*columns):
      writer.writerow(dict(zip(_FIELDS, row), level_name='atari/pong'))
  return str(logdir)


@pytest.fixture
def two_runs(tmp_path):
  # Run a reaches 0 at 3M frames (the row at 2M has too few episodes to
  # count); run b reaches 0 at 2M. Run b was stopped and resumed an hour
  # later (its learner steps restart): the gap counts one interval.
  a = _write_run(tmp_path / 'a', [0, 60, 120, 180], [10, 20, 30, 40],
                 [1e6, 2e6, 3e6, 4e6], [-20, 1, 0, 5], [50, 99, 150, 200])
  b = _write_run(tmp_path / 'b', [1000, 1060, 1120, 4720],
                 [10, 20, 30, 10], [1e6, 2e6, 2.5e6, 3e6],
                 ['nan', 0, 2, 10], [0, 120, 150, 180])
  return a, b


def test_reaching_a_return_needs_enough_games_and_counts_training_time(
    two_runs):
  a, b = (curves.read_curve(logdir) for logdir in two_runs)
  assert curves.first_reaching(a, 0.) == (3e6, 120.)
  assert curves.first_reaching(b, 0.) == (2e6, 60.)  # The 'nan' row is out.
  assert curves.first_reaching(b, 1.) == (2.5e6, 120.)
  assert curves.first_reaching(b, 5.) == (3e6, 180.)  # Gap: one interval.
  assert curves.first_reaching(a, 6.) is None


def test_a_run_resumed_from_an_older_checkpoint_keeps_its_later_rows(
    tmp_path):
  # Died at 4M frames with its last checkpoint at 2.5M: the rows from 3M
  # and 4M are written again after the resumption and the later ones stand.
  logdir = _write_run(tmp_path / 'r', [0, 60, 120, 180, 1000, 1060, 1120],
                      [10, 20, 30, 40, 5, 15, 25],
                      [1e6, 2e6, 3e6, 4e6, 3e6, 4e6, 5e6],
                      [-20, -10, 5, 9, 3, 7, 8], [100] * 7)
  run = curves.read_curve(logdir)
  np.testing.assert_allclose(run.frames, [1e6, 2e6, 3e6, 4e6, 5e6])
  np.testing.assert_allclose(run.returns, [-20, -10, 3, 7, 8])
  # The lost rows' time counts; the resumption gap counts one interval.
  np.testing.assert_allclose(run.seconds, [0, 60, 240, 300, 360])
  assert curves.first_reaching(run, 5.) == (4e6, 300.)
  assert curves.superseded_rows_dropped([1, 2, 2, 3]) == [0, 2, 3]


def test_mean_and_range_cover_the_frames_all_runs_reach(two_runs):
  runs = [curves.read_curve(logdir) for logdir in two_runs]
  grid, mean, low, high = curves.mean_and_range(runs, 'frames', 5)
  np.testing.assert_allclose(grid, [0, 1e6, 2e6, 3e6, 4e6])
  # At 1M only run a has a return row (b's is 'nan'): b starts at 2M and
  # is held flat before it (np.interp); 4M is beyond run b.
  np.testing.assert_allclose(mean[1:4], [-10, .5, 5])
  np.testing.assert_allclose(low[1:4], [-20, 0, 0])
  np.testing.assert_allclose(high[1:4], [0, 1, 10])
  assert np.isnan(mean[4])


def test_labels_make_configurations_of_one_level(two_runs):
  a, b = two_runs
  groups = curves.group_by_level(
      [curves.read_curve(x) for x in ('paper=' + a, 'small=' + b, a)])
  assert list(groups) == ['atari/pong']
  assert {label: [c.logdir for c in runs]
          for label, runs in groups['atari/pong'].items()} == {
              'paper': [a], 'small': [b], '': [a]}


def test_paper_reference_follows_the_network():
  assert curves.paper_score('atari/pong', 'shallow')[0] == 20.40
  assert curves.paper_score('atari/pong', 'deep')[0] == 20.98
  assert curves.paper_score('catch', 'shallow')[0] is None


def test_report_cli_writes_table_and_png(two_runs, tmp_path):
  output = str(tmp_path / 'report')
  result = subprocess.run(
      [sys.executable, os.path.join(_REPO, 'report.py'),
       '--curves=' + ','.join(two_runs), '--output', output,
       '--thresholds=0,5,30'],
      cwd=_REPO, capture_output=True, text=True, timeout=120,
      env=dict(os.environ, MPLBACKEND='Agg'))
  assert result.returncode == 0, result.stderr
  with open(os.path.join(output, 'curves.md')) as f:
    table = f.read()
  assert '| 0 | 2/2 | 2.50M | 90 s |' in table
  assert '| 5 | 2/2 | 3.50M | 3.0 min |' in table
  assert '| 30 | 0/2 | - | - | not reached; not reached |' in table
  assert '3.00M frames, 2.0 min; 2.00M frames, 60 s |' in table  # Return 0.
  with open(os.path.join(output, 'curves.png'), 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_report_cli_bad_input_is_one_line(tmp_path):
  for args, message in ((['--curves', str(tmp_path)], 'no progress.csv'),
                        (['--curves', str(tmp_path), '--thresholds=1,x'],
                         'thresholds')):
    result = subprocess.run(
        [sys.executable, os.path.join(_REPO, 'report.py'), *args,
         '--output', str(tmp_path / 'out')],
        cwd=_REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
