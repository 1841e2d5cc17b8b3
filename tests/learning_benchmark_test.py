# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""benchmarks/learning.py on catch: trains, stops at the budget, resumes,
skips finished runs, writes the curves."""

import csv
import os
import signal
import subprocess
import sys

import pytest

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(_REPO, 'benchmarks'))

import learning  # pylint: disable=g-import-not-at-top,wrong-import-position

# A stand-in for experiment.py: a progress row of 1000 more frames every
# 0.05 s up to 10000, a clean exit on SIGINT.
_FAKE_TRAINER = """
import csv, signal, sys, time
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
with open(sys.argv[1] + '/progress.csv', 'w', newline='') as f:
  writer = csv.writer(f)
  writer.writerow(['frames'])
  for frames in range(1000, 10001, 1000):
    writer.writerow([frames])
    f.flush()
    time.sleep(0.05)
"""


def _run(*args):
  return subprocess.run(
      [sys.executable, os.path.join(_REPO, 'benchmarks', 'learning.py'),
       '--level_name=catch'] + list(args),
      cwd=_REPO, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, MPLBACKEND='Agg', TF_CPP_MIN_LOG_LEVEL='2'))


def _frames(logdir):
  with open(os.path.join(logdir, 'progress.csv')) as f:
    return [int(row['frames']) for row in csv.DictReader(f)]


def test_a_run_stops_at_the_budget_or_finishes_by_itself(tmp_path):
  command = [sys.executable, '-c', _FAKE_TRAINER]
  stopped, finished = str(tmp_path / 'stopped'), str(tmp_path / 'finished')
  assert not learning.train(command + [stopped], stopped, 3000, .01)
  assert 3000 <= learning.last_frames(stopped) < 10000
  assert learning.is_done(stopped, 3000)
  assert not learning.is_done(stopped, None)
  assert learning.train(command + [finished], finished, None, .01)
  assert learning.last_frames(finished) == 10000


def test_trains_to_budget_resumes_and_reports(tmp_path):
  logdir = str(tmp_path)
  seed_1, seed_2 = (os.path.join(logdir, 'seed_%d' % s) for s in (1, 2))
  common = ['--logdir=' + logdir, '--', '--log_interval_secs=1']
  result = _run('--frames=10000', '--seeds=1', *common)
  assert result.returncode == 0, result.stderr[-3000:]
  first = _frames(seed_1)
  assert first[-1] >= 10000
  assert first[-1] < 150000  # Stopped at the budget, not the level's end.
  with open(os.path.join(seed_1, 'train.log')) as f:  # It stopped itself.
    assert 'to 10000 frames (--stop_at_frames; the budget is' in f.read()

  result = _run('--frames=60000', '--seeds=1,2', *common)
  assert result.returncode == 0, result.stderr[-3000:]
  resumed = _frames(seed_1)
  assert resumed[:len(first)] == first and resumed[-1] >= 60000
  # From the checkpoint: the second run's first row continues the count
  # (its console start line can be lost in train.log on a fast machine).
  assert resumed[len(first)] > first[-1]
  assert _frames(seed_2)[-1] >= 60000
  with open(os.path.join(logdir, 'curves.md')) as f:
    assert '| 0.9 | ' in f.read()
  assert os.path.getsize(os.path.join(logdir, 'curves.png')) > 1000

  mtimes = [os.path.getmtime(os.path.join(d, 'progress.csv'))
            for d in (seed_1, seed_2)]
  result = _run('--frames=60000', '--seeds=1,2', *common)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.count(': done (') == 2
  assert mtimes == [os.path.getmtime(os.path.join(d, 'progress.csv'))
                    for d in (seed_1, seed_2)]


def test_bad_input_fails_before_any_run(tmp_path):
  for args, message in (
      (['--frames=0'], '--frames must be >= 1'),
      (['--seeds=1,x'], 'invalid literal'),
      (['--', '--logdir=/tmp/elsewhere'], 'set here'),
      (['--level_name=atari/nonsense'], 'nonsense')):
    result = _run('--logdir=' + str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr.splitlines()[-1]
  assert not os.listdir(tmp_path)


# A run that counts the SIGINTs it gets: it writes the count and stops 0.5 s
# after the first (as experiment.py does while it writes its checkpoint).
_COUNTING_TRAINER = """
import os, signal, sys, time
logdir = sys.argv[1]
got = []
signal.signal(signal.SIGINT, lambda *_: got.append(time.time()))
open(os.path.join(logdir, 'started'), 'w').close()
while not got or time.time() < got[0] + 0.5:
  time.sleep(0.01)
with open(os.path.join(logdir, 'sigints'), 'w') as f:
  f.write(str(len(got)))
"""


@pytest.mark.parametrize('kill', [os.killpg, os.kill])
def test_a_sigint_to_the_benchmark_stops_its_run_once(tmp_path, kill):
  """Ctrl-C reaches the benchmark's process group, `kill -INT` only the
  benchmark: either way the run gets one SIGINT (a second would abort its
  final checkpoint) and stops."""
  logdir = str(tmp_path)
  driver = subprocess.Popen([sys.executable, '-c', (
      'import sys; sys.path.insert(0, %r); import learning; '
      'learning.train([sys.executable, "-c", %r, %r], %r, None, .01)') % (
          os.path.join(_REPO, 'benchmarks'), _COUNTING_TRAINER, logdir,
          logdir)], process_group=0, stderr=subprocess.PIPE)
  started = os.path.join(logdir, 'started')
  for _ in range(600):
    if os.path.exists(started):
      break
    driver.poll()
    subprocess.run(['sleep', '0.05'], check=True)
  assert os.path.exists(started)
  kill(driver.pid, signal.SIGINT)  # killpg: as a terminal's Ctrl-C does.
  _, stderr = driver.communicate(timeout=60)
  assert b'KeyboardInterrupt' in stderr
  with open(os.path.join(logdir, 'sigints')) as f:
    assert f.read() == '1'


def test_a_stopped_benchmark_says_how_to_continue(monkeypatch, capsys,
                                                  tmp_path):
  """Ctrl-C ends the benchmark with one line and exit status 130, not a
  traceback (its run has stopped with a checkpoint by then)."""
  def interrupted(*unused_args):
    raise KeyboardInterrupt()
  monkeypatch.setattr(learning, 'run_benchmark', interrupted)
  with pytest.raises(SystemExit) as exit_info:
    learning.run(*learning.parse_args(['--level_name=catch',
                                       '--logdir=%s' % tmp_path]))
  assert exit_info.value.code == 130
  assert 'same command continues' in capsys.readouterr().err


def test_flags_are_absl_flags(tmp_path):
  """Lists are comma-separated; the flags after `--` go to every run."""
  args, extra = learning.parse_args([
      '--logdir=%s' % tmp_path, '--seeds=3,4', '--thresholds=-15,0',
      '--frames=100', '--', '--network=deep', '--batch_size=8'])
  assert args.seeds == [3, 4] and args.thresholds == (-15., 0.)
  assert args.frames == 100 and args.network == 'deep'
  assert extra == ['--network=deep', '--batch_size=8']
  for argv, message in ((['--nonsense=1'], "Unknown command line flag"),
                        ([], '--logdir is required')):
    with pytest.raises(SystemExit) as exit_info:
      learning.parse_args(argv)
    assert exit_info.value.code == 2
