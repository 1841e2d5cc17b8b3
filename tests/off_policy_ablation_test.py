# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""benchmarks/off_policy_ablation.py: its table, curves and bad input, from
progress.csv files written here (the training runs themselves are those of
experiment.py, tested in experiment_test.py and off_policy_test.py)."""

import csv
import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'benchmarks'))

import off_policy_ablation as ablation  # pylint: disable=g-import-not-at-top,wrong-import-position


def _write_progress(logdir, returns):
  os.makedirs(logdir)
  with open(os.path.join(logdir, 'progress.csv'), 'w', newline='') as f:
    writer = csv.DictWriter(f, ['frames', 'mean_episode_return'])
    writer.writeheader()
    for i, r in enumerate(returns):
      writer.writerow(dict(frames=1000 * (i + 1), mean_episode_return=r))


def test_table_and_curves_from_progress_files(tmp_path):
  output = str(tmp_path)
  args = ablation.parse_args(['--levels=catch', '--seeds=1,2',
                              '--frames=3000', '--output=' + output])
  # A DMLab task of Table 2 as a column too (its runs faked like catch's).
  args.levels = ['catch', 'seekavoid_arena_01']
  expected = {}
  for level in args.levels:
    for k, setting in enumerate(ablation.settings(.5)):
      for seed in (1, 2):
        final = k + seed / 10
        expected[(level, setting, seed)] = final
        _write_progress(ablation.run_dir(output, level, *setting, seed),
                        ['nan', k / 2, final])
  # Finished runs are not run again: this would fail without experiment.py.
  ablation.train(args, 'catch', 'vtrace', 0., 1)
  ablation.write_outputs(args)

  with open(os.path.join(output, 'table2.md')) as f:
    lines = f.read().splitlines()
  rows = [line for line in lines if line.startswith('| ') and '±' in line]
  assert len(rows) == 8
  assert rows[0].startswith('| No replay | V-trace | 0.15 ± 0.05 | 0.15 ± 0.05'
                            ' (paper 43.8) |')
  assert rows[4].startswith('| Replay | V-trace | 4.15 ± 0.05 |')
  assert rows[7].endswith('(paper 11.2) |')  # No-correction with replay.
  assert 'over 2 seeds (1,2)' in lines[-1]
  assert 'Frames per run: 3000' in lines[-1]
  with open(os.path.join(output, 'results.json')) as f:
    results = json.load(f)
  assert results['catch']['epsilon,replay=0.5'] == pytest.approx([6.1, 6.2])
  with open(os.path.join(output, 'curves.png'), 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  frames, returns = ablation.read_curve(
      ablation.run_dir(output, 'catch', 'none', 0., 2))
  np.testing.assert_array_equal(frames, [1000, 2000, 3000])
  assert np.isnan(returns[0]) and returns[-1] == pytest.approx(3.2)


def test_table2_dmlab_names_the_papers_five_tasks(monkeypatch, capsys):
  settings = ablation.settings(.5)
  assert len(settings) == 8 and len(set(settings)) == 8
  assert set(ablation.PAPER_TABLE2) == {(c, p > 0) for c, p in settings}
  monkeypatch.setitem(sys.modules, 'deepmind_lab', None)  # Not installed.
  with pytest.raises(SystemExit):
    ablation.parse_args(['--levels=table2_dmlab'])
  assert 'DeepMind Lab' in capsys.readouterr().err
  monkeypatch.syspath_prepend(os.path.join(os.path.dirname(
      os.path.abspath(__file__)), 'fake_deepmind_lab'))  # The stand-in.
  monkeypatch.delitem(sys.modules, 'deepmind_lab')
  args = ablation.parse_args(['--levels=catch,table2_dmlab'])
  assert args.levels == ['catch'] + list(ablation.TABLE2_DMLAB)


@pytest.mark.parametrize('argv,message', [
    (['--levels=atari/not_a_game'], 'Unknown --level_name'),
    (['--replay_proportion=1'], '--replay_proportion must be in'),
    (['--seeds=1,x'], 'invalid literal'),
])
def test_bad_input_is_one_line_error(argv, message, capsys):
  with pytest.raises(SystemExit):
    ablation.parse_args(argv)
  assert message in capsys.readouterr().err


def test_flags_after_the_separator_go_to_every_run():
  args = ablation.parse_args(['--levels=catch', '--seeds=4,5', '--',
                              '--num_actors=4', '--batch_size=8'])
  assert args.levels == ['catch'] and args.seeds == [4, 5]
  assert args.extra == ['--num_actors=4', '--batch_size=8']
