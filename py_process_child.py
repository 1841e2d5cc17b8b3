# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The child side of py_process.py: the fork server, the child's loop, messages.

What runs in, or starts, the child process of a `py_process.PyProcess`; the
parent's side (the TF op and proxy, start and close, the session hook) is
py_process.py. This module never imports TensorFlow: the fork server and
every child import it.

Processes. Children are started with multiprocessing's 'forkserver' method,
never by forking the parent (TensorFlow is not fork-safe once its threads
exist). The fork server (`ensure_fork_server`) preloads numpy, this module,
the modules that define the child types and the modules a type lists in a
`_preload_modules` class attribute, so a child starts in milliseconds plus
its constructor. Children never import the parent's `__main__` module (which
in a training script imports TensorFlow): py_process.py imports TensorFlow
lazily, only in the parent, and types for children must live in a module the
fork server can import (it gets the directories of the types' modules on its
path); a type defined in `__main__` still works, at the price of re-running
`__main__` in each child. A type or constructor argument that cannot be sent
to the child fails at start with a `PyProcessError` that says they must be
picklable and the class importable.

Call path and its cost. Each call is: the op's `py_func` in the parent -> a
pickled request (method name and arguments) over a socket pair (`send`,
`recv`; the protocol is in `_child_main`'s docstring) -> the method in the
child -> the result back. Fixed-shape numeric outputs of 1 KiB or more
(frames) do not travel through the socket: the child writes them into a
`SharedBuffer` (an anonymous `memfd`, sized from the specs when the child
starts) through numpy `views`, and the parent copies them out; only small
values (rewards, flags, strings) are pickled.
`benchmarks/environment_benchmark.py` measures the costs: on 2 cores, an
empty round trip is about 35 us, a TF op stepping an Atari child adds about
350 us per step to the 480 us of the emulator (TF's py_func alone is about
100-180 us of it), and `PyProcessBatch` spreads the fixed part over many
environments.
"""

import faulthandler
import io
import mmap
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback

from multiprocessing import context as mp_context
from multiprocessing import forkserver
from multiprocessing import popen_forkserver
from multiprocessing import reduction as mp_reduction
from multiprocessing import spawn as mp_spawn
from multiprocessing import util as mp_util

import numpy as np

# Environment variables set for the fork server (and so for every child) when
# the parent has not set them: with one environment per process, BLAS and
# OpenMP thread pools in children would only oversubscribe the cores.
_CHILD_ENVIRONMENT = {
    'OMP_NUM_THREADS': '1',
    'OPENBLAS_NUM_THREADS': '1',
    'MKL_NUM_THREADS': '1',
}


class PyProcessError(RuntimeError):
  """An error raised by, or about, the child process of a `PyProcess`."""


# ---------------------------------------------------------------------------
# Nests, without TensorFlow (children do not import it).


def flatten(structure):
  """Flattens a nest in the order of `tf.nest.flatten`.

  Tuples, lists and namedtuples are sequences; dicts are flattened in sorted
  key order; None is a leaf, as in `tf.nest`.
  """
  if isinstance(structure, dict):
    return [leaf for key in sorted(structure)
            for leaf in flatten(structure[key])]
  if isinstance(structure, (list, tuple)):
    return [leaf for item in structure for leaf in flatten(item)]
  return [structure]


def send(conn, message):
  """Sends with the plain pickler (faster than multiprocessing's)."""
  conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def recv(conn):
  return pickle.loads(conn.recv_bytes())


def plain(value):
  """Numpy scalars and 0-d arrays (TF scalars) as Python scalars.

  They pickle about ten times faster. Arrays stay arrays.
  """
  if isinstance(value, np.generic) or (
      isinstance(value, np.ndarray) and value.ndim == 0):
    return value.item()
  return value


# ---------------------------------------------------------------------------
# Shared memory: one anonymous buffer per child.


class SharedBuffer:
  """An anonymous shared-memory buffer (Linux `memfd`) for one child.

  Pickling it while a child is being launched passes the file descriptor to
  the child through multiprocessing (`reduction.DupFd`); the memory is freed
  when the last mapping goes, so nothing leaks if a process is killed.
  """

  def __init__(self, size):
    self.size = size
    self._fd = os.memfd_create('py_process', os.MFD_CLOEXEC)
    os.ftruncate(self._fd, size)
    self.mmap = mmap.mmap(self._fd, size)

  def close_fd(self):
    """Closes the descriptor once the child has it; the mapping stays."""
    if self._fd is not None:
      os.close(self._fd)
      self._fd = None

  def __reduce__(self):
    if self._fd is None:
      raise PyProcessError('SharedBuffer can only be sent to a child that '
                           'is being started.')
    return _attach_shared_buffer, (mp_reduction.DupFd(self._fd), self.size)


def _attach_shared_buffer(dup_fd, size):
  fd = dup_fd.detach()
  try:
    return mmap.mmap(fd, size)
  finally:
    os.close(fd)


_ALIGNMENT = 64  # Byte alignment of each output in the shared buffer.


def shared_memory_supported(min_bytes):
  return hasattr(os, 'memfd_create') and min_bytes is not None


def shared_memory_entries(flat_specs, min_bytes):
  """Which flat outputs go through shared memory, and where.

  Args:
    flat_specs: (numpy dtype or None, shape tuple or None) per flat output.
    min_bytes: the smallest output that goes there; None for none.

  Returns:
    (entries, nbytes): a tuple of (flat index, byte offset, numpy dtype
    string, shape) and the buffer size they need.
  """
  entries = []
  offset = 0
  for index, (dtype, shape) in enumerate(flat_specs):
    if dtype is None or shape is None or min_bytes is None:
      continue
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if nbytes < min_bytes:
      continue
    entries.append((index, offset, np.dtype(dtype).str, tuple(shape)))
    offset += -(-nbytes // _ALIGNMENT) * _ALIGNMENT
  return tuple(entries), offset


def views(buffer, entries):
  """Numpy views on `buffer` for the entries of a layout, by flat index."""
  return {index: np.ndarray(shape, np.dtype(dtype), buffer=buffer,
                            offset=offset)
          for index, offset, dtype, shape in entries}


# ---------------------------------------------------------------------------
# The child.


def _watch_parent():
  """Exits the child as soon as the parent process is gone."""
  parent = multiprocessing.parent_process()
  if parent is None:
    return

  def watch():
    parent.join()  # Waits on the parent's sentinel; returns when it dies.
    os._exit(3)

  threading.Thread(target=watch, name='py_process-parent-watchdog',
                   daemon=True).start()


def _child_main(conn, type_, args, kwargs, shared_buffer):
  """Constructs `type_(*args, **kwargs)` and serves calls until told to close.

  Protocol, over `conn`:
    parent -> ('call', method, layout_id, layout_entries_or_None, args)
              ('call_whole', method, args)
              ('close',)
    child  -> ('ready', pid) | ('error', traceback) after construction;
              ('ok', flat_outputs) | ('error', traceback) after a call, where
              outputs in shared memory are None ('ok', result for
              'call_whole');
              ('closed', traceback_or_None) after close.
  """
  # The parent shuts us down, also when a signal reaches every process of
  # the job (Ctrl-C in a terminal, SLURM's scancel); we exit when it dies.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_IGN)
  faulthandler.enable()  # Python traceback on stderr if the child segfaults.
  _watch_parent()
  try:
    obj = type_(*args, **kwargs)
  except BaseException:  # pylint: disable=broad-except
    send(conn, ('error', traceback.format_exc()))
    return
  send(conn, ('ready', os.getpid()))

  layouts = {}
  try:
    while True:
      try:
        message = recv(conn)
      except EOFError:  # The parent is gone.
        return
      kind = message[0]
      if kind == 'close':
        break
      try:
        if kind == 'call':
          _, method, layout_id, entries, call_args = message
          if entries is not None:
            layouts[layout_id] = views(shared_buffer, entries)
          result = getattr(obj, method)(*call_args)
          reply = ('ok', _child_outputs(result, layouts.get(layout_id)))
        else:  # 'call_whole': the result pickled as it is.
          _, method, call_args = message
          reply = ('ok', getattr(obj, method)(*call_args))
      except BaseException:  # pylint: disable=broad-except
        reply = ('error', traceback.format_exc())
      send(conn, reply)
  finally:
    closing_error = None
    if hasattr(obj, 'close'):
      try:
        obj.close()
      except BaseException:  # pylint: disable=broad-except
        closing_error = traceback.format_exc()
    try:
      send(conn, ('closed', closing_error))
    except OSError:
      pass


def _child_outputs(result, views):
  """Flattens `result`, writing outputs that have a view into shared memory."""
  if result is None:
    return []
  leaves = flatten(result)
  if views:
    for index, view in views.items():
      if index >= len(leaves):
        raise ValueError(
            'The method returned %d outputs; _tensor_specs declares more.' %
            len(leaves))
      value = leaves[index]
      if np.shape(value) != view.shape:
        raise ValueError(
            'Output %d has shape %s; _tensor_specs declares %s.' %
            (index, np.shape(value), view.shape))
      np.copyto(view, value, casting='same_kind')
      leaves[index] = None
  return [plain(leaf) for leaf in leaves]


# ---------------------------------------------------------------------------
# Starting children through the fork server.

_START_LOCK = threading.Lock()


class _NoMainPopen(popen_forkserver.Popen):
  """Forkserver launch that does not re-run the parent's `__main__` in the child.

  multiprocessing re-imports the parent's main script in every child so that
  objects defined there can be unpickled; for a training script that means
  importing TensorFlow in every environment process. This launcher is
  `popen_forkserver.Popen._launch` (CPython 3.10-3.13) without that step.
  """

  def _launch(self, process_obj):
    # pylint: disable=protected-access
    prep_data = mp_spawn.get_preparation_data(process_obj._name)
    prep_data.pop('init_main_from_name', None)
    prep_data.pop('init_main_from_path', None)
    buf = io.BytesIO()
    mp_context.set_spawning_popen(self)
    try:
      mp_reduction.dump(prep_data, buf)
      mp_reduction.dump(process_obj, buf)
    finally:
      mp_context.set_spawning_popen(None)
    self.sentinel, w = forkserver.connect_to_new_process(self._fds)
    parent_w = os.dup(w)  # Sentinel of the parent, for the child.
    self.finalizer = mp_util.Finalize(self, mp_util.close_fds,
                                      (parent_w, self.sentinel))
    with open(w, 'wb', closefd=True) as f:
      f.write(buf.getbuffer())
    self.pid = forkserver.read_signed(self.sentinel)


class _ChildProcess(mp_context.ForkServerProcess):

  @staticmethod
  def _Popen(process_obj):  # pylint: disable=invalid-name
    return _NoMainPopen(process_obj)


def _can_skip_main():
  # The launcher above follows CPython 3.10-3.13 (python_requires <3.14).
  return sys.version_info < (3, 14)


def ensure_fork_server(types):
  """Starts the fork server, preloading this module and the types' modules."""
  with _START_LOCK:
    # pylint: disable=protected-access
    if forkserver._forkserver._forkserver_pid is not None:
      return  # Running (or started by someone else): use it as it is.
    modules = ['numpy', __name__]
    paths = [os.path.dirname(os.path.abspath(__file__))]
    for type_ in types:
      module = sys.modules.get(type_.__module__)
      if module is None or type_.__module__ == '__main__':
        continue
      modules.append(type_.__module__)
      modules.extend(getattr(type_, '_preload_modules', ()))
      if getattr(module, '__file__', None):
        paths.append(os.path.dirname(os.path.abspath(module.__file__)))
    forkserver.set_forkserver_preload(list(dict.fromkeys(modules)))
    # The fork server starts with `python -c`: give it the directories of the
    # preloaded modules (it would otherwise only see the working directory).
    environment = dict(_CHILD_ENVIRONMENT)
    old_path = os.environ.get('PYTHONPATH')
    environment['PYTHONPATH'] = os.pathsep.join(
        list(dict.fromkeys(paths)) + ([old_path] if old_path else []))
    saved = {key: os.environ.get(key) for key in environment}
    try:
      for key, value in environment.items():
        if key == 'PYTHONPATH' or key not in os.environ:
          os.environ[key] = value
      forkserver.ensure_running()
    finally:
      for key, value in saved.items():
        if value is None:
          os.environ.pop(key, None)
        else:
          os.environ[key] = value


def launch(type_, args, kwargs, shared_buffer):
  """Starts `_child_main` for `type_(*args, **kwargs)` through the fork server,
  without waiting for the constructor; returns (process, connection)."""
  parent_conn, child_conn = multiprocessing.Pipe(duplex=True)
  main_args = (child_conn, type_, args, kwargs, shared_buffer)
  name = 'PyProcess-%s' % type_.__name__
  if type_.__module__ != '__main__' and _can_skip_main():
    process = _ChildProcess(target=_child_main, args=main_args, name=name,
                           daemon=True)
  else:
    process = multiprocessing.get_context('forkserver').Process(
        target=_child_main, args=main_args, name=name, daemon=True)
  try:
    process.start()
  except (TypeError, AttributeError, pickle.PicklingError) as e:
    raise PyProcessError(
        'PyProcess: cannot send %s and its constructor arguments to the '
        'child (they must be picklable, the class importable): %s' %
        (type_.__name__, e)) from e
  finally:
    child_conn.close()  # So that the child's death reads as EOF here.
    if shared_buffer is not None:
      shared_buffer.close_fd()
  return process, parent_conn


def wait_ready(process, conn, type_name):
  """Waits for the child's constructor; raises PyProcessError if it failed."""
  try:
    message = recv(conn)
  except (EOFError, OSError):
    raise PyProcessError(
        'PyProcess child for %s (pid %s) died while constructing it (%s).' %
        (type_name, process.pid, exit_description(process))) from None
  if message[0] != 'ready':
    raise PyProcessError(
        '%s.__init__ raised in the PyProcess child (pid %s). Child '
        'traceback:\n%s' % (type_name, process.pid, message[1]))


def kill(process, conn):
  """Closes the connection and kills the child unless it exits within 1 s."""
  if conn is not None:
    conn.close()
  if process is not None:
    process.join(1.0)
    if process.is_alive():
      process.kill()
      process.join(1.0)


def stop(process, conn, deadline):
  """Waits for a child told to close, terminating it past `deadline`
  (time.monotonic()); returns the traceback of its object's close() or None."""
  closing_error = None
  try:
    while True:
      remaining = deadline - time.monotonic()
      if remaining <= 0 or not conn.poll(remaining):
        break
      message = recv(conn)
      if message[0] == 'closed':
        closing_error = message[1]
        break
  except (EOFError, OSError):
    pass
  process.join(max(0.0, deadline - time.monotonic()))
  if process.is_alive():
    process.terminate()
  kill(process, conn)
  return closing_error


def exit_description(process, timeout=5.0):
  """How the child exited ('exit code 1', 'killed by SIGSEGV'), waiting up to
  `timeout` seconds for it."""
  if process is None:
    return 'exit status unknown'
  process.join(timeout)
  exitcode = process.exitcode
  if exitcode is None:
    return 'exit status unknown'
  if exitcode < 0:
    try:
      name = signal.Signals(-exitcode).name
    except ValueError:
      name = 'signal %d' % -exitcode
    return 'killed by %s' % name
  return 'exit code %d' % exitcode

