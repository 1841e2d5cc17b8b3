# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""What a user sees: the console of a short catch run, and the filter."""

import os
import re
import subprocess
import sys

import pytest

import console

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# absl's prefix: severity, date, time, thread, file:line.
PREFIX = re.compile(r'^[IWEF]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] ')


def run_catch(logdir, *args):
  """A short catch run as a user starts it (no TF_CPP_MIN_LOG_LEVEL)."""
  env = {k: v for k, v in os.environ.items() if not k.startswith('TF_CPP')}
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'experiment.py'),
       '--level_name=catch', '--logdir=' + logdir,
       '--total_environment_frames=2400', '--num_actors=2',
       '--envs_per_actor=4', '--batch_size=4', '--unroll_length=10',
       '--log_interval_secs=0.5'] + list(args),
      cwd=ROOT, env=dict(env, PYTHONUNBUFFERED='1'), capture_output=True,
      text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stderr.splitlines()


def test_console_of_a_short_catch_run(tmp_path):
  lines = run_catch(str(tmp_path / 'catch'))
  text = '\n'.join(lines)
  messages = [PREFIX.sub('', line) for line in lines]
  # Every line once (absl's and TensorFlow's handlers used to print both).
  assert len(messages) == len(set(messages)), text
  assert 'deprecated' not in text and 'Instructions for updating' not in text
  assert 'absl::InitializeLog' not in text and 'oneDNN' not in text, text
  if not console.has_gpu():
    assert 'cuda' not in text.lower(), text

  # The configuration block, once, before the first progress line.
  starts = [i for i, m in enumerate(messages)
            if m.startswith('Training catch from frame')]
  assert len(starts) == 1, text
  assert messages[starts[0]] == (
      'Training catch from frame 0 (new run) to 2400 frames:')
  block = '\n'.join(lines[starts[0] + 1:starts[0] + 7])
  for expected in ('levels   catch: 1 level (catch)',
                   'agent    shallow network, feedforward core, 3 actions',
                   'actors   2 x 4 environments (4 per process), unroll 10, '
                   '1 frame per step',
                   'learner  batch 4, 1 learner on /cpu:0', 'RMSProp lr 0.002 annealed '
                   'linearly to 0 at frame 2400', 'logdir   ' + str(tmp_path)):
    assert expected in block, block
  progress = [m for m in messages if m.startswith('frames ')]
  assert progress and all(i > starts[0] for i, m in enumerate(messages)
                          if m.startswith('frames '))
  for line in progress:
    assert re.match(r'frames \d+ \([\d.]+%\)  fps \d+  ETA (-|[\dmhds]+)  ',
                    line), line
  assert progress[-1].startswith('frames 2400 (100%)')
  assert 'ETA 0s' in progress[-1]

  # Resumed: the block says from which checkpoint.
  lines = run_catch(str(tmp_path / 'catch'), '--total_environment_frames=2640')
  assert any('Training catch from frame 2400 (resumed from model.ckpt-2400) '
             'to 2640 frames:' in line for line in lines), '\n'.join(lines)


def test_verbosity_brings_tensorflow_messages_back(tmp_path):
  text = '\n'.join(run_catch(str(tmp_path / 'verbose'), '--verbosity=1',
                             '--total_environment_frames=80'))
  assert 'is deprecated and will be removed' in text
  assert 'oneDNN custom operations are on' in text


def test_filter_drops_only_the_known_notices():
  pattern = re.compile(console.hidden_lines_pattern(gpu=False))
  for hidden in (
      'WARNING: All log messages before absl::InitializeLog() is called are '
      'written to STDERR',
      'I0000 00:00:1796103625.390558   17098 port.cc:153] oneDNN custom '
      'operations are on. You may see slightly different numerical results',
      'I0000 00:00:1796103625.391884   17098 cudart_stub.cc:31] Could not '
      'find cuda drivers on your machine, GPU will not be used.',
      'E0000 00:00:1796103627.064538   17098 cuda_platform.cc:52] failed call '
      'to cuInit: INTERNAL: CUDA error: Failed call to cuInit'):
    assert pattern.search(hidden), hidden
  for kept in (
      'E0000 00:00:1796103627.064538   17098 gpu_device.cc:2341] Cannot '
      'dlopen some GPU libraries.',
      'tensorflow.python.framework.errors_impl.DataLossError: file is too '
      'short to be an sstable',
      'Traceback (most recent call last):',
      'I1201 05:40:30.419781 139802946825088 progress.py:116] frames 20160'):
    assert not pattern.search(kept), kept
  # With a GPU, CUDA errors are real problems.
  with_gpu = re.compile(console.hidden_lines_pattern(gpu=True))
  assert not with_gpu.search('E0000 00:00:1 1 cuda_platform.cc:52] failed '
                             'call to cuInit: INTERNAL')


@pytest.mark.parametrize('argv,expected', [
    (['experiment.py'], 0),
    (['experiment.py', '--level_name=catch', '--verbosity=1'], 1),
    (['experiment.py', '-v', '2', '--num_actors', '3'], 2),
    (['experiment.py', '--verbosity=-1'], -1),
])
def test_verbosity_is_read_before_the_flags_are_parsed(argv, expected):
  assert console.verbosity(argv) == expected


def test_asks_for_help():
  assert console.asks_for_help(['x.py', '--level_name=catch', '--helpfull'])
  assert console.asks_for_help(['x.py', '-?'])
  assert not console.asks_for_help(['x.py', '--level_name=help'])


@pytest.mark.parametrize('script,flag', [
    ('experiment.py', '--level_name'), ('distributed.py', '--num_actors'),
    ('pbt.py', '--population_size'), ('report.py', '--results'),
    ('benchmarks/environment_benchmark.py', '--game'),
    ('benchmarks/learning.py', '--seeds'),
    ('benchmarks/network_benchmark.py', '--actor_batches'),
    ('benchmarks/off_policy_ablation.py', '--levels'),
    ('benchmarks/throughput.py', '--learner_only'),
    ('benchmarks/vtrace_benchmark.py', '--shapes')])
def test_entry_points_helpfull_lists_their_flags_and_exits_0(script, flag):
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, script), '--helpfull'], cwd=ROOT,
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert flag in result.stdout
