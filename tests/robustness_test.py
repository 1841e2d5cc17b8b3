# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""benchmarks/robustness.py: the Table D.1 combinations, and 2 combinations
x IMPALA on catch with a tiny budget, resumed."""

import json
import os
import subprocess
import sys

import pytest

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(_REPO, 'benchmarks'))

import robustness  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_combinations_are_seeded_and_within_table_d1():
  first = robustness.sample_combinations(24, 1)
  assert first == robustness.sample_combinations(24, 1)
  assert first != robustness.sample_combinations(24, 2)
  assert len(first) == 24 and len({c['learning_rate'] for c in first}) == 24
  for c in first + robustness.sample_combinations(200, 3):
    assert 5e-6 <= c['learning_rate'] <= 5e-3
    assert 5e-5 <= c['entropy_cost'] <= 1e-2
    assert c['epsilon'] in (1e-1, 1e-3, 1e-5, 1e-7)
  assert robustness.combination_flags(first[0])[2].startswith('--epsilon=')


def _run(*args):
  return subprocess.run(
      [sys.executable, os.path.join(_REPO, 'benchmarks', 'robustness.py')] +
      list(args), cwd=_REPO, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, MPLBACKEND='Agg', TF_CPP_MIN_LOG_LEVEL='2'))


def test_trains_writes_and_resumes(tmp_path):
  logdir = str(tmp_path)
  args = ['--agents=impala', '--num_combinations=2', '--frames=2000',
          '--logdir=' + logdir, '--', '--log_interval_secs=0.5']
  result = _run(*args)
  assert result.returncode == 0, result.stderr[-3000:]
  for i in (0, 1):
    assert os.path.exists(os.path.join(logdir, 'impala', 'combo_%d' % i,
                                       'progress.csv'))
  with open(os.path.join(logdir, 'robustness.md')) as f:
    text = f.read()
  combinations = robustness.sample_combinations(2, 1)
  assert '| 0 | %.3g | %.3g | %g |' % (
      combinations[0]['learning_rate'], combinations[0]['entropy_cost'],
      combinations[0]['epsilon']) in text
  assert '| impala | 2 of 2 | ' in text  # Both runs finished.
  assert '| rank | impala |' in text
  with open(os.path.join(logdir, 'robustness.png'), 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  with open(os.path.join(logdir, 'combinations.json')) as f:
    assert json.load(f) == combinations

  mtime = os.path.getmtime(os.path.join(logdir, 'impala', 'combo_1',
                                        'progress.csv'))
  result = _run(*args)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.count(': done (') == 2
  assert mtime == os.path.getmtime(os.path.join(logdir, 'impala', 'combo_1',
                                                'progress.csv'))
  # Other combinations in the same logdir: refused before any run.
  result = _run('--seed=2', *args)
  assert result.returncode == 2
  assert 'holds other combinations' in result.stderr


@pytest.mark.parametrize('argv,message', [
    (['--agents=impala,nope'], "unknown agent 'nope'"),
    (['--num_combinations=0'], '--num_combinations must be >= 1'),
    (['--frames=0'], '--frames must be >= 1'),
    (['--', '--learning_rate=0.1'], 'set here'),
])
def test_bad_input_is_one_line_before_any_run(argv, message, tmp_path,
                                              capsys):
  with pytest.raises(SystemExit) as exit_info:
    robustness.parse_args(['--logdir=%s' % tmp_path] + argv)
  assert exit_info.value.code == 2
  assert message in capsys.readouterr().err
  assert not os.listdir(tmp_path)


def test_returns_sort_best_first_with_missing_last():
  nan = float('nan')
  ordered = robustness.sorted_returns([0.1, nan, 0.9, -1.])
  assert ordered[:3] == [0.9, 0.1, -1.] and ordered[3] != ordered[3]
