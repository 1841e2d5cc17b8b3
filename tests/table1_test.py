# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""benchmarks/table1.py on catch with IMPALA alone: a short measurement, the
table's shape, bad input before any run."""

import os
import subprocess
import sys

import pytest

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(_REPO, 'benchmarks'))

import table1  # pylint: disable=g-import-not-at-top,wrong-import-position


def _run(*args):
  return subprocess.run(
      [sys.executable, os.path.join(_REPO, 'benchmarks', 'table1.py')] +
      list(args), cwd=_REPO, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))


def test_measures_impala_and_writes_the_table(tmp_path):
  result = _run('--agents=impala', '--level_name=catch', '--warmup_secs=1',
                '--seconds=1', '--log_interval_secs=0.5',
                '--output=%s' % tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  rows = [line for line in result.stdout.splitlines()
          if line.startswith('| IMPALA')]
  assert len(rows) == 1
  cells = [cell.strip() for cell in rows[0].strip('|').split('|')]
  # Architecture, actors x envs, frames/s, per core, CPU cores used, paper
  # row, paper frames/s, paper CPUs, paper per core, ratio, paper ratio.
  assert cells[0] == 'IMPALA (`impala`)' and cells[1] == '2 x 8'
  assert float(cells[2].replace(',', '')) > 0
  assert float(cells[4]) > 0
  assert cells[5:9] == ['IMPALA 48 actors', '17,000', '48', '354']
  assert cells[9:] == ['1.00', '1.00']
  with open(os.path.join(tmp_path, 'table1.md')) as f:
    text = f.read()
  assert rows[0] in text
  assert 'load average' in text and 'cores usable' in text
  assert 'task 1 (seekavoid_arena_01)' in text


@pytest.mark.parametrize('args,message', [
    (['--agents=impala,a4c'], "unknown agent 'a4c'"),
    (['--seconds=0'], '--seconds must be > 0'),
    (['--warmup_secs=-1'], '--warmup_secs must be >= 0'),
    (['--level_name=atari/nonsense'], 'nonsense'),
    (['--', '--agent=a3c'], 'set here'),
])
def test_bad_input_is_one_line_before_any_run(args, message, capsys):
  with pytest.raises(SystemExit) as exit_info:
    table1.parse_args(args)
  assert exit_info.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and message in err[0]
  assert err[0].startswith('benchmarks/table1.py: error: ')


def test_paper_rows_and_agent_flags():
  assert set(table1.PAPER_TABLE1) == set(table1.AGENTS)
  assert table1.PAPER_TABLE1['a3c'][2:] == (64, 6500, 9000)  # Table 1.
  assert table1.agent_flags('impala') == []
  assert table1.agent_flags('a2c_sync_traj') == ['--agent=a2c_sync_traj']
  assert table1.paper_task('rooms_keys_doors_puzzle') == 2
  assert table1.paper_task('atari/pong') == 1
  args = table1.parse_args(['--agents=a3c,impala', '--', '--num_actors=4'])
  assert args.agents == ['a3c', 'impala'] and args.extra == ['--num_actors=4']
  rows = [(0, 10), (1, 20), (2.5, 50), (4, 80)]
  assert table1.window(rows, 1, 2) == ((1, 20), (4, 80))
  assert table1.window(rows, 1, 5) is None
  assert table1.tree_cpu_seconds(os.getpid()) > 0


def test_the_script_says_bad_input_in_one_line(tmp_path):
  for args, message in ((['--seconds=0'], '--seconds must be > 0'),
                        (['--nonsense=1'], 'Unknown command line flag')):
    result = _run('--output=%s' % tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        'benchmarks/table1.py: error: ' + result.stderr.split(
            'error: ', 1)[1].strip()]
    assert message in result.stderr
  assert not os.listdir(tmp_path)
