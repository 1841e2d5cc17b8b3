# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""benchmarks/actor_efficiency.py's pure parts (no cluster started)."""

import os
import subprocess
import sys
import time

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(_ROOT, 'benchmarks'))

import actor_efficiency  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_efficiency_figures():
  result = actor_efficiency.efficiency(
      frames_per_sec=3000., num_actors=2, cpu_secs=30., seconds=20.,
      raw_per_cpu_second=2500.)
  assert result['actor_frames_per_second'] == 1500.
  assert result['actor_cores'] == .75
  assert result['actor_frames_per_cpu_second'] == 2000.
  assert result['share'] == .8
  with pytest.raises(ValueError, match='no actor CPU time'):
    actor_efficiency.efficiency(3000., 2, 0., 20., 2500.)
  table = actor_efficiency.lines(dict(result, num_actors=2,
                                      envs_per_actor=32))
  assert table[-1].endswith('| 80% |')




def test_only_real_emulators(parse):
  actor_efficiency.check_config(parse('--level_name=atari/pong'))
  with pytest.raises(ValueError, match='not catch'):
    actor_efficiency.check_config(parse('--level_name=catch'))
  with pytest.raises(ValueError, match='--null_environment measures no'):
    actor_efficiency.check_config(parse('--level_name=atari/pong',
                                        '--null_environment'))


def test_actor_cpu_counts_tasks_and_their_children():
  # A stand-in launcher: a child that looks like an actor task, with a
  # busy child of its own, and one that is not an actor.
  busy = 'import time\nt = time.time()\nwhile time.time() - t < 3: pass\n'
  actor = ('import subprocess, sys, time\n'
           'subprocess.Popen([sys.executable, "-c", %r])\n'
           'time.sleep(4)\n' % busy)
  launcher = ('import subprocess, sys, time\n'
              'subprocess.Popen([sys.executable, "-c", %r, '
              '"--job_name=actor"])\n'
              'subprocess.Popen([sys.executable, "-c", "import time; '
              'time.sleep(4)", "--job_name=learner"])\n'
              'time.sleep(4)\n' % actor)
  process = subprocess.Popen([sys.executable, '-c', launcher])
  try:
    time.sleep(1.)
    task, env, count = actor_efficiency.actor_cpu_seconds(process.pid)
    first = task + env
    time.sleep(1.)
    task, env, _ = actor_efficiency.actor_cpu_seconds(process.pid)
    second = task + env
    assert env > .2  # The busy grandchild is an environment.
    assert count == 1
    assert second - first > .2  # The busy grandchild is counted.
  finally:
    process.kill()
    process.wait()


def test_where_the_cpu_goes():
  # 2,000 frames/s over 10 s: 20,000 frames; 30 CPU-s, 20 of them in the
  # environments.
  result = actor_efficiency.efficiency(
      frames_per_sec=2000., num_actors=1, cpu_secs=30., seconds=10.,
      raw_per_cpu_second=10000., env_cpu_secs=20.,
      raw_parallel_per_cpu_second=8000.)
  assert result['us_per_frame'] == pytest.approx(1500.)
  assert result['us_per_frame_task'] == pytest.approx(500.)
  assert result['us_per_frame_environments'] == pytest.approx(1000.)
  assert result['us_per_frame_raw'] == pytest.approx(100.)
  assert result['us_per_frame_raw_parallel'] == pytest.approx(125.)
  table = actor_efficiency.lines(dict(result, num_actors=1,
                                      envs_per_actor=32))
  assert '32 processes at once' in table[-3]
  assert table[-1] == '| | 1500 | 500 | 1000 | 100 | 125 |'
