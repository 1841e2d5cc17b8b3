# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Checkpoints that survive a crash or a full disk.

TensorFlow's Saver writes a checkpoint's data and index into a temporary
directory and renames them (`model.ckpt-N.data-*`, `.index`), then rewrites
the `checkpoint` state file (atomically) to name it, then writes
`model.ckpt-N.meta` (through a temporary file). A SIGKILL or a full disk
can leave: a temporary directory or file (harmless; removed here), a
complete checkpoint that the state file does not name yet, a state file
naming a checkpoint without its .meta (harmless: the learner restores into
the graph it builds), and, where files were damaged or copied in part, a
checkpoint whose data file is truncated or whose index is missing.

`prepare_resume(logdir)`, before the learner's session starts, finds the
newest checkpoint whose every tensor reads back (TensorFlow checks each
tensor's checksum) and points the state file at it, logging what was
skipped; with files present but none usable it raises `LogdirError`.
`write_failures_end_the_run(logdir)` turns a failed write under the logdir
(a checkpoint, progress.csv, TensorBoard's events) into a one-line
`LogdirError` that names the checkpoint a restart resumes from.
"""

import contextlib
import errno
import glob
import os
import re
import shutil

from absl import logging
import tensorflow as tf

# Errors of a failed write: disk full, quota, read-only, I/O, permissions.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO,
                 errno.EACCES, errno.EPERM)
# TensorFlow's temporary files (atomic writes) and the Saver's directories.
_TEMPORARY = re.compile(r'(\.tmp[0-9a-f]{32}|_temp(_[0-9a-f]{32})?(/)?)$')


class LogdirError(ValueError):
  """A one-line error about the logdir's files (entry points print it)."""


def _step(path):
  match = re.search(r'-(\d+)$', path)
  return int(match.group(1)) if match else -1


def candidates(logdir):
  """Checkpoint prefixes in `logdir`, newest (highest step) first: those the
  state file names and those with an index file on disk."""
  paths = set()
  try:
    state = tf.train.get_checkpoint_state(logdir)
  except Exception:  # pylint: disable=broad-except
    state = None  # An unreadable state file: the files on disk decide.
  if state is not None:
    paths.update(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path:
      paths.add(state.model_checkpoint_path)
  paths.update(p[:-len('.index')]
               for p in glob.glob(os.path.join(logdir, '*.index')))
  paths = {os.path.abspath(os.path.join(logdir, p)) for p in paths}
  return sorted(paths, key=lambda p: (_step(p), p), reverse=True)


def check_readable(path):
  """None if every tensor of checkpoint `path` reads back, else the reason."""
  try:
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  except Exception as e:  # pylint: disable=broad-except
    return str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
  return None


def latest_usable(logdir):
  """(the newest checkpoint that reads back, or None; [(path, reason)] of
  the newer ones that do not)."""
  skipped = []
  for path in candidates(logdir):
    reason = check_readable(path)
    if reason is None:
      return path, skipped
    skipped.append((path, reason))
  return None, skipped


def remove_temporary_files(logdir):
  """Removes what an interrupted Saver or atomic write left in `logdir`."""
  for path in glob.glob(os.path.join(logdir, '*')):
    if _TEMPORARY.search(path):
      if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
      else:
        try:
          os.remove(path)
        except OSError:
          pass


def prepare_resume(logdir):
  """Points the state file at the newest usable checkpoint (see module doc).

  Returns:
    Its path, or None for a new run.

  Raises:
    LogdirError: checkpoint files are there but none reads back.
  """
  remove_temporary_files(logdir)
  path, skipped = latest_usable(logdir)
  for bad, reason in skipped:
    logging.warning('Checkpoint %s is incomplete or damaged (%s): skipped.',
                    os.path.basename(bad), reason)
  if path is None:
    if skipped:
      raise LogdirError(
          'no usable checkpoint in --logdir=%s: %s is incomplete or damaged '
          '(%s); move the model.ckpt-* files and `checkpoint` away to start '
          'afresh.' % (logdir, os.path.basename(skipped[0][0]),
                       skipped[0][1]))
    return None
  state = None
  try:
    state = tf.train.get_checkpoint_state(logdir)
  except Exception:  # pylint: disable=broad-except
    pass
  named = state.model_checkpoint_path if state else None
  if named is None or os.path.abspath(os.path.join(logdir, named)) != path:
    older = [p for p in candidates(logdir)
             if _step(p) < _step(path) and check_readable(p) is None]
    tf.compat.v1.train.update_checkpoint_state(
        logdir, path, all_model_checkpoint_paths=older[::-1] + [path])
    logging.warning('Resuming from %s, the last complete checkpoint%s.',
                    os.path.basename(path),
                    ' (the state file named %s)' % os.path.basename(named)
                    if named else '')
  return path


def _is_write_error(error, logdir):
  if isinstance(error, OSError):
    return error.errno in _WRITE_ERRNOS or bool(
        error.filename and os.path.abspath(str(error.filename)).startswith(
            os.path.abspath(logdir)))
  message = getattr(error, 'message', '') or str(error)
  return (os.path.abspath(logdir) in message or logdir in message or
          'No space left on device' in message)


@contextlib.contextmanager
def write_failures_end_the_run(logdir):
  """Re-raises a failed write under `logdir` as a one-line LogdirError."""
  try:
    yield
  except (OSError, tf.errors.OpError) as e:
    if not _is_write_error(e, logdir):
      raise
    remove_temporary_files(logdir)
    path, _ = latest_usable(logdir)
    lines = [l.strip() for l in (getattr(e, 'message', None) or str(e)
                                   ).splitlines() if l.strip()]
    # TensorFlow's message starts "Graph execution error:"; the path and
    # the system's reason follow.
    reason = [l for l in lines if logdir in l or 'space' in l] or lines[-1:]
    raise LogdirError(
        'writing to --logdir=%s failed (%s); %s' % (
            logdir, reason[0] if reason else type(e).__name__,
            'a restart resumes from %s, the last complete checkpoint.' %
            os.path.basename(path) if path else 'no checkpoint was written.')
    ) from e
