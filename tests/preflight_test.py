# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Errors found before training starts: memory, DMLab-30's data set, and
test mode's device placement (the actors on the CPU, as in training)."""

import os
import sys

import pytest
import tensorflow as tf

import config as config_lib
import experiment
import memory
import py_process
from experiment_test import ROOT, parsed_flags, run_experiment  # pylint: disable=unused-import

FAKE_DMLAB_DIR = os.path.join(ROOT, 'tests', 'fake_deepmind_lab')
GIB = 2**30


@pytest.fixture
def stand_in(parsed_flags, monkeypatch, tmp_path):
  """Parsed flags, DeepMind Lab's stand-in, a --dataset_path directory."""
  monkeypatch.syspath_prepend(FAKE_DMLAB_DIR)
  monkeypatch.delitem(sys.modules, 'deepmind_lab', raising=False)
  parsed_flags.dataset_path = str(tmp_path)
  yield parsed_flags
  sys.modules.pop('deepmind_lab', None)


def _available(monkeypatch, gib):
  monkeypatch.setattr(memory, 'available_bytes',
                      lambda: (gib * GIB, 'MemAvailable'))


def test_trajectory_bytes_from_the_shapes(stand_in):
  """The README's figures (strings then 32 bytes each)."""
  del stand_in
  pong = config_lib.resolve_config('atari/pong')
  assert memory.trajectory_bytes(pong) == 593670 + 22 * 32
  dmlab = config_lib.resolve_config('rooms_watermaze')
  assert memory.trajectory_bytes(dmlab) == 2102242 + 102 * 32


def test_estimate(stand_in):
  stand_in.replay_proportion = 0.5
  pong = config_lib.resolve_config('atari/pong')
  estimate = memory.estimate(pong)
  assert estimate['replay'] == 10000 * memory.trajectory_bytes(pong)
  assert 5.5 * GIB < estimate['replay'] < 5.6 * GIB
  # Shallow Atari learner, T=20, B=32: measured 928 MiB peak (memory.py).
  assert 0.9 * GIB < estimate['learner'] < 1.6 * GIB
  stand_in.replay_proportion = 0.
  assert memory.estimate(config_lib.resolve_config('atari/pong'))[
      'replay'] == 0
  # The DMLab learner killed at 8 GB (deep LSTM, 72x96x3, T=100, B=32).
  dmlab = memory.estimate(config_lib.resolve_config('rooms_watermaze'))
  assert dmlab['learner'] > 8 * GIB


def test_replay_buffer_that_cannot_fit_is_a_one_line_error(stand_in,
                                                          monkeypatch):
  stand_in.replay_proportion = 0.5
  _available(monkeypatch, 6)  # What the shared 24 GiB machine had free.
  config = config_lib.resolve_config('atari/pong')
  with pytest.raises(ValueError) as error:
    config_lib.check_memory(config)
  message = str(error.value)
  assert '\n' not in message
  assert message.startswith('not enough memory: the learner needs an '
                            'estimated 6.')
  assert 'replay buffer of 10000 trajectories 5.54 GiB' in message
  assert 'but 6.00 GiB is available (MemAvailable)' in message
  assert 'lower --replay_buffer_size' in message
  stand_in.replay_buffer_size = 1000  # As the Breakout ablation ran.
  config_lib.check_memory(config_lib.resolve_config('atari/pong'))
  stand_in.skip_memory_check = True
  stand_in.replay_buffer_size = 10000
  assert config_lib.check_memory(config_lib.resolve_config(
      'atari/pong')) is None


def test_learner_that_cannot_fit_is_a_one_line_error(stand_in, monkeypatch):
  _available(monkeypatch, 8)
  with pytest.raises(ValueError, match='learner at batch 32 x unroll 100 '
                     r'\d+\.\d\d GiB\) but 8.00 GiB is available'):
    config_lib.check_memory(config_lib.resolve_config('rooms_watermaze'))
  stand_in.mode = 'test'  # No learner in test mode.
  assert config_lib.check_memory(config_lib.resolve_config(
      'rooms_watermaze')) is None


def test_defaults_pass_on_a_24_gib_machine(stand_in, monkeypatch):
  """22 GiB available: an idle 24 GiB machine."""
  _available(monkeypatch, 22)
  for level_name in ('atari/pong', 'atari57', 'catch', 'rooms_watermaze',
                     'dmlab30'):
    config_lib.check_memory(config_lib.resolve_config(level_name))


def test_atari_and_catch_defaults_pass_here(stand_in):
  del stand_in
  available, _ = memory.available_bytes()
  assert available > 2 * GIB
  for level_name in ('atari/pong', 'catch'):
    config_lib.check_memory(config_lib.resolve_config(level_name))


def test_available_bytes_takes_a_cgroup_limit(monkeypatch):
  files = {'/proc/meminfo': 'MemTotal: 1 kB\nMemAvailable:  20971520 kB\n',
           '/sys/fs/cgroup/memory.max': '4294967296\n',
           '/sys/fs/cgroup/memory.current': '1073741824\n'}
  monkeypatch.setattr(memory, '_read', files.get)
  assert memory.available_bytes() == (3 * GIB, 'the cgroup memory limit')
  files['/sys/fs/cgroup/memory.max'] = 'max\n'
  assert memory.available_bytes() == (20 * GIB, 'MemAvailable')


def test_entry_point_errors_before_anything_starts(tmp_path):
  cases = [
      (['--replay_proportion=0.5', '--replay_buffer_size=100000000'],
       None, 'not enough memory: the learner needs an estimated'),
      (['--level_name=dmlab30'], FAKE_DMLAB_DIR,
       "DMLab level 'psychlab_arbitrary_visuomotor_mapping' needs the "
       'Brady et al. (2008) image data set: pass its directory as '
       'dataset_path (--dataset_path)'),
      (['--level_name=dmlab30', '--dataset_path=/nonexistent/brady'],
       FAKE_DMLAB_DIR, '--dataset_path=/nonexistent/brady is not a '
       'directory.'),
  ]
  for args, pythonpath, message in cases:
    result = run_experiment('--level_name=catch', '--logdir=%s' % tmp_path,
                            *args, timeout=120, pythonpath=pythonpath)
    assert result.returncode != 0
    lines = [l for l in result.stderr.splitlines()
             if l.startswith('experiment.py: error:')]
    assert len(lines) == 1 and message in lines[0], result.stderr[-2000:]
    assert 'Traceback' not in result.stderr
    assert 'Training' not in result.stderr


@pytest.mark.parametrize('level_name', ['catch', 'rooms_watermaze'])
def test_test_mode_places_actors_variables_and_environments_on_the_cpu(
    stand_in, level_name):
  """Every op of the test-mode graph carries an explicit CPU device, as the
  training graph's actors do, so a GPU machine keeps them on the CPU; a
  session without soft placement accepts the placement."""
  del stand_in
  config = config_lib.resolve_config(level_name)._replace(
      envs_per_actor=1, unroll_length=100)
  with tf.Graph().as_default() as graph:
    agent, actor_outputs, _, _ = experiment.build_test(config)
    assert agent.variables and actor_outputs

    def on_cpu(op):
      return tf.DeviceSpec.from_string(op.device).device_type == 'CPU'

    def follows_the_cpu(op):
      """Ops TensorFlow creates without a device: a variable's reads
      (`ResourceVariable.value()` clears the device scope; the placer puts
      an op that uses a resource on the resource's device) and constant
      initialisers that feed only CPU ops."""
      if op.type == 'ReadVariableOp':
        return all(on_cpu(t.op) for t in op.inputs)
      return op.type == 'Const' and all(
          on_cpu(c) for t in op.outputs for c in t.consumers())

    unpinned = [op.name for op in graph.get_operations()
                if not on_cpu(op) and not follows_the_cpu(op)]
    assert not unpinned
    assert sum(on_cpu(op) for op in graph.get_operations()) > 100
    py_funcs = [op for op in graph.get_operations()
                if op.type in ('PyFunc', 'EagerPyFunc')]
    assert py_funcs  # The environments' ops, on the CPU too.
    session_config = tf.compat.v1.ConfigProto(allow_soft_placement=False,
                                              log_device_placement=False)
    # One unroll of every actor, its environments started, in a session
    # that refuses any placement other than the graph's own.
    with tf.compat.v1.train.MonitoredSession(
        session_creator=tf.compat.v1.train.ChiefSessionCreator(
            config=session_config),
        hooks=[py_process.PyProcessHook()]) as session:
      outputs = session.run(actor_outputs)
    assert outputs[0].env_outputs.reward.shape == (1, 101)
    for variable in agent.variables:
      assert 'CPU' in variable.device.upper()
