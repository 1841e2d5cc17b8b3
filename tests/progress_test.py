# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""progress.py: the ETA, durations and the bottleneck columns."""

import csv
import os

import bottleneck
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
