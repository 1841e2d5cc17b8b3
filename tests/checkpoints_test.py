# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""A crash mid-checkpoint and a full disk: the next start resumes from the
last complete checkpoint; a failed write ends the run with one line."""

import errno
import glob
import os
import signal
import subprocess
import time
import uuid

import pytest
import tensorflow as tf

import checkpoints
from experiment_test import SMALL, check_ok, checkpoint_frames, read_progress, run_experiment, start_experiment  # pylint: disable=g-multiple-import


def _save_checkpoints(logdir, steps):
  """Checkpoints at `steps` as the learner's Saver writes them."""
  with tf.Graph().as_default():
    step = tf.compat.v1.train.get_or_create_global_step()
    weights = tf.compat.v1.get_variable('w', [100], tf.float32)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      for s in steps:
        session.run([step.assign(s), weights.assign(tf.fill([100], float(s)))])
        saver.save(session, os.path.join(logdir, 'model.ckpt'), global_step=s)


def _truncate_data(path):
  (data,) = glob.glob(path + '.data-*')
  with open(data, 'r+b') as f:
    f.truncate(os.path.getsize(data) // 2)


def _named(logdir):
  return os.path.basename(tf.train.get_checkpoint_state(
      logdir).model_checkpoint_path)


# What a SIGKILL (or a damaged copy) can leave of the newest checkpoint.
def _truncated_data(logdir):
  _truncate_data(os.path.join(logdir, 'model.ckpt-20'))


def _missing_index(logdir):
  os.remove(os.path.join(logdir, 'model.ckpt-20.index'))


def _missing_data(logdir):
  for path in glob.glob(os.path.join(logdir, 'model.ckpt-20.data-*')):
    os.remove(path)


def _missing_meta_and_temporaries(logdir):
  """Killed while writing .meta: a complete checkpoint, named; temporaries."""
  os.remove(os.path.join(logdir, 'model.ckpt-20.meta'))
  with open(os.path.join(logdir, 'model.ckpt-20.meta.tmp' + uuid.uuid4().hex),
            'wb') as f:
    f.write(b'partial')
  os.makedirs(os.path.join(logdir, 'model.ckpt-30_temp'))


def _state_not_updated(logdir):
  """Killed after the data and index, before the state file names them."""
  tf.compat.v1.train.update_checkpoint_state(
      logdir, os.path.join(logdir, 'model.ckpt-10'))


@pytest.mark.parametrize('damage,resumed', [
    (_truncated_data, 'model.ckpt-10'),
    (_missing_index, 'model.ckpt-10'),
    (_missing_data, 'model.ckpt-10'),
    (_missing_meta_and_temporaries, 'model.ckpt-20'),
    (_state_not_updated, 'model.ckpt-20'),
])
def test_resume_from_the_last_complete_checkpoint(tmp_path, damage, resumed):
  logdir = str(tmp_path)
  _save_checkpoints(logdir, [0, 10, 20])
  damage(logdir)
  path = checkpoints.prepare_resume(logdir)
  assert os.path.basename(path) == resumed
  assert _named(logdir) == resumed  # What MonitoredTrainingSession restores.
  assert tf.train.load_variable(path, 'global_step') == int(resumed[11:])
  assert not glob.glob(os.path.join(logdir, '*tmp*'))
  assert not glob.glob(os.path.join(logdir, '*_temp'))


def test_no_usable_checkpoint_is_a_one_line_error(tmp_path):
  logdir = str(tmp_path)
  _save_checkpoints(logdir, [0])
  _truncate_data(os.path.join(logdir, 'model.ckpt-0'))
  with pytest.raises(checkpoints.LogdirError,
                     match='no usable checkpoint in --logdir=.*model.ckpt-0 '
                     'is incomplete or damaged') as error:
    checkpoints.prepare_resume(logdir)
  assert '\n' not in str(error.value)
  assert checkpoints.prepare_resume(str(tmp_path / 'new')) is None


def test_a_failed_progress_write_is_a_one_line_error(tmp_path):
  logdir = str(tmp_path)
  _save_checkpoints(logdir, [0, 10])
  with pytest.raises(checkpoints.LogdirError) as error:
    with checkpoints.write_failures_end_the_run(logdir):
      raise OSError(errno.ENOSPC, 'No space left on device')
  assert str(error.value) == (
      'writing to --logdir=%s failed ([Errno 28] No space left on device); a '
      'restart resumes from model.ckpt-10, the last complete checkpoint.'
      % logdir)
  with pytest.raises(ValueError, match='not a write'):  # Others pass.
    with checkpoints.write_failures_end_the_run(logdir):
      raise ValueError('not a write')


def _error_lines(stderr):
  return [l for l in stderr.splitlines()
          if l.startswith('experiment.py: error:')]


def test_sigkill_mid_checkpoint_then_restart_resumes(tmp_path):
  """A learner killed (SIGKILL) while saving: its newest checkpoint's data
  cut short, as a kill during the write leaves it under its final name
  only if the disk or a copy damaged it; the restart resumes from the one
  before, and says so."""
  logdir = str(tmp_path / 'run')
  process = start_experiment(
      '--level_name=catch', '--logdir=' + logdir,
      '--total_environment_frames=100000000', '--save_checkpoint_secs=1',
      *SMALL)
  try:
    deadline = time.time() + 120
    while time.time() < deadline and len(
        glob.glob(os.path.join(logdir, '*.index'))) < 2:
      assert process.poll() is None
      time.sleep(0.2)
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()
  paths = checkpoints.candidates(logdir)
  assert len(paths) >= 2
  newest, previous = paths[0], paths[1]
  _truncate_data(newest)
  result = run_experiment('--level_name=catch', '--logdir=' + logdir,
                          '--total_environment_frames=1', *SMALL)
  check_ok(result)
  frames = int(previous.rsplit('-', 1)[1])
  assert ('Checkpoint %s is incomplete or damaged' % os.path.basename(newest)
          in result.stderr)
  assert ('Resuming from %s, the last complete checkpoint'
          % os.path.basename(previous)) in result.stderr
  assert 'Training catch from frame %d' % frames in result.stderr


@pytest.fixture
def small_disk(tmp_path):
  """A 3 MiB tmpfs (root only): fills within seconds of training catch."""
  mount_point = tmp_path / 'disk'
  mount_point.mkdir()
  if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=3m', 'tmpfs',
                     str(mount_point)], capture_output=True).returncode:
    pytest.skip('cannot mount a small tmpfs here (needs root)')
  yield str(mount_point)
  subprocess.run(['umount', str(mount_point)], check=True)


def test_full_disk_ends_the_run_with_one_line_and_keeps_a_checkpoint(
    small_disk, tmp_path):
  logdir = os.path.join(small_disk, 'run')
  start = time.time()
  result = run_experiment('--level_name=catch', '--logdir=' + logdir,
                          '--total_environment_frames=100000000',
                          '--save_checkpoint_secs=1', *SMALL, timeout=120)
  assert time.time() - start < 100  # Not a hang.
  assert result.returncode != 0
  (line,) = _error_lines(result.stderr)
  assert 'Traceback' not in result.stderr
  assert 'writing to --logdir=%s failed' % logdir in line
  assert 'No space left on device' in line
  assert 'the last complete checkpoint' in line
  kept = checkpoints.prepare_resume(logdir)
  assert os.path.basename(kept) in line
  assert checkpoints.check_readable(kept) is None
  assert not glob.glob(os.path.join(logdir, '*_temp'))
  # With space again (a copy elsewhere), the run resumes from it.
  moved = str(tmp_path / 'moved')
  subprocess.run(['cp', '-r', logdir, moved], check=True)
  tf.compat.v1.train.update_checkpoint_state(
      moved, os.path.join(moved, os.path.basename(kept)))
  frames = checkpoint_frames(moved)
  result = run_experiment('--level_name=catch', '--logdir=' + moved,
                          '--total_environment_frames=%d' % (frames + 1),
                          *SMALL)
  check_ok(result)
  assert 'Training catch from frame %d' % frames in result.stderr
  assert read_progress(moved)
