# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Runs Python objects in child processes and calls their methods as TF ops.

IMPALA's actors step environments that must live in their own process:
DeepMind Lab dies (segmentation fault in reset) in a process that has
imported TensorFlow, and a child process keeps the
environment's Python code off the learner's GIL (paper Section 3: actors and
learner run concurrently). `PyProcess(type_, *args, **kwargs)` constructs
`type_(*args, **kwargs)` in a child process; `PyProcess.proxy.method(*args)`
builds a `tf.compat.v1` op (usable in graphs, including inside
`tf.while_loop`) that calls `method` in the child and returns its result as
tensors:

    class Zeros:
      def __init__(self, dim0):
        self._dim0 = dim0

      def compute(self, dim1):
        return np.zeros([self._dim0, dim1], dtype=np.int32)

      @staticmethod
      def _tensor_specs(method_name, kwargs, constructor_kwargs):
        # Called in the parent when the op is built. `kwargs` maps the
        # method's argument names to the (tensor) arguments of the call,
        # `constructor_kwargs` holds every constructor argument by name,
        # defaults included.
        if method_name == 'compute':
          return tf.TensorSpec([constructor_kwargs['dim0'], 2], tf.int32)

    with tf.Graph().as_default():
      p = PyProcess(Zeros, 3)
      zeros = p.proxy.compute(2)         # an int32 tensor of shape [3, 2]
      with tf.compat.v1.train.MonitoredSession(hooks=[PyProcessHook()]) as s:
        s.run(zeros)

`_tensor_specs` returns a nest (tuples, lists, dicts, namedtuples) of
`tf.TensorSpec`, or None for a method without outputs (the op is then an
Operation); the op's outputs have that structure and those static shapes.
The method receives scalar arguments as Python scalars (int, float, bool,
bytes for strings) and other arguments as numpy arrays.
`PyProcessBatch(processes).proxy.method(*args)` calls a method of several
children of one type with one op, outputs stacked along a new first axis.

Call path and its cost: a call pickles its request to the child over a
socket pair; outputs of 1 KiB or more (frames) come back through shared
memory (py_process_child.py); `PyProcessBatch` spreads the fixed cost of a
call over many environments.

Processes. Children are started through a fork server that preloads the
modules of their types, never by forking the parent, and never import the
parent's `__main__`: py_process_child.py, the child's side of this module.

Failures are errors, never hangs:
- an exception in the child's constructor or method reaches the caller (for a
  method, as the op's error) naming the class, the method and the child's
  traceback;
- a child that dies (killed, segfault) makes the pending or next call fail at
  once with an error that says so and gives the exit status;
- a call on a process that was closed deliberately raises `StopIteration`,
  which TensorFlow turns into `OutOfRangeError`, the clean end-of-input signal
  that `MonitoredSession` and queue runners treat as "stop";
- children ignore Ctrl-C (the parent shuts them down), exit when the parent
  dies (a watchdog thread waits on the parent's sentinel), and are closed at
  session end by `PyProcessHook` and at interpreter exit (also after
  KeyboardInterrupt) by an atexit hook.
"""

import atexit
import collections
import inspect
import sys
import threading
import time
import weakref

import numpy as np

import py_process_child as child

PyProcessError = child.PyProcessError

__all__ = ['PyProcess', 'PyProcessBatch', 'PyProcessError', 'PyProcessHook',
           'start_all', 'close_all']

# Outputs whose fixed size is at least this many bytes go through shared
# memory; smaller ones are pickled with the reply. None disables shared memory.
SHARED_MEMORY_MIN_BYTES = 1024


# A layout says which flat outputs of a method go through shared memory:
# `entries` holds (flat index, byte offset, numpy dtype string, shape).
_Layout = collections.namedtuple('_Layout', 'id entries nbytes')


# ---------------------------------------------------------------------------
# The parent side.

_LIVE = weakref.WeakSet()  # Processes with a running child, for atexit.


class PyProcess:
  """Runs `type_(*constructor_args, **constructor_kwargs)` in a child process.

  `proxy.method(*args)` builds a TF op that calls `method` in the child; see
  the module docstring. The child starts with `start()` (or `start_all`, or
  `PyProcessHook` at session creation) and stops with `close()`; a
  `PyProcess` is also a context manager. A closed process can be started
  again (a fresh child).

  Each new `PyProcess` is registered with the default graph when TensorFlow
  is imported (`graph_processes()` lists them), which is how `PyProcessHook`
  finds it. A registry rather than a graph collection: collections are
  serialised into checkpoints' meta graphs, and processes cannot be.
  """

  def __init__(self, type_, *constructor_args, **constructor_kwargs):
    if not inspect.isclass(type_):
      raise TypeError('PyProcess: type_ must be a class, got %r.' % (type_,))
    try:
      bound = inspect.signature(type_).bind(*constructor_args,
                                            **constructor_kwargs)
    except TypeError as e:
      raise TypeError('PyProcess: bad constructor arguments for %s: %s' %
                      (type_.__name__, e)) from None
    bound.apply_defaults()
    self._type = type_
    self._constructor_args = constructor_args
    self._constructor_kwargs = constructor_kwargs
    # Every constructor argument by name, defaults included, for
    # `_tensor_specs`.
    self._all_constructor_kwargs = dict(bound.arguments)
    self._proxy = _TFProxy(self)
    self._lock = threading.Lock()
    self._state = 'created'  # created, starting, running, closed, dead.
    self._process = None
    self._conn = None
    self._pid = None
    self._layouts = {}  # Layout entries -> _Layout.
    self._buffer = None
    self._views = {}  # Layout id -> {flat index: view}, parent side.
    self._sent_layouts = set()
    if 'tensorflow' in sys.modules:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      _GRAPH_PROCESSES.setdefault(tf.compat.v1.get_default_graph(),
                                  []).append(self)

  @property
  def proxy(self):
    """Attribute `method` is a function building the op that calls it."""
    return self._proxy

  @property
  def type(self):
    return self._type

  @property
  def pid(self):
    """The child's process id, or None when no child runs."""
    return self._pid if self._state == 'running' else None

  @property
  def running(self):
    return self._state == 'running'

  def __repr__(self):
    return '<PyProcess %s %s pid=%s>' % (self._type.__name__, self._state,
                                         self._pid)

  # -- Lifecycle ------------------------------------------------------------

  def start(self):
    """Starts the child and waits until its constructor has returned."""
    start_all([self])

  def close(self, timeout=10.0):
    """Closes the child (calls its `close()` if any); idempotent."""
    close_all([self], timeout=timeout)

  def __enter__(self):
    self.start()
    return self

  def __exit__(self, *unused_exc_info):
    self.close()

  def _begin_start(self):
    """Launches the child without waiting for its constructor."""
    if self._state in ('starting', 'running'):
      return False
    capacity = max([layout.nbytes for layout in self._layouts.values()] +
                   [0])
    self._buffer = None
    if capacity and child.shared_memory_supported(SHARED_MEMORY_MIN_BYTES):
      self._buffer = child.SharedBuffer(capacity)
    self._views = {}
    self._sent_layouts = set()
    process, self._conn = child.launch(self._type, self._constructor_args,
                                       self._constructor_kwargs, self._buffer)
    self._process, self._pid = process, process.pid
    self._state = 'starting'
    _LIVE.add(self)
    return True

  def _finish_start(self):
    """Waits for the child's constructor; raises if it failed."""
    try:
      child.wait_ready(self._process, self._conn, self._type.__name__)
    except PyProcessError:
      self._mark_dead()
      raise
    self._state = 'running'

  def _exit_description(self):
    return child.exit_description(self._process)

  def _mark_dead(self):
    self._state = 'dead'
    _LIVE.discard(self)
    child.kill(self._process, self._conn)

  def _begin_close(self):
    """Asks the child to close; returns whether there was one to close."""
    if self._state not in ('starting', 'running'):
      return False
    # A call in flight holds the lock; wait for it a little, not forever.
    locked = self._lock.acquire(timeout=1.0)
    try:
      self._state = 'closed'
      try:
        child.send(self._conn, ('close',))
      except OSError:
        pass
    finally:
      if locked:
        self._lock.release()
    return True

  def _finish_close(self, deadline):
    """Waits for the child to finish closing, killing it past `deadline`."""
    closing_error = child.stop(self._process, self._conn, deadline)
    _LIVE.discard(self)
    if closing_error:
      sys.stderr.write('PyProcess: %s.close() raised in the child:\n%s' %
                       (self._type.__name__, closing_error))

  # -- Calls ------------------------------------------------------------------

  def _register_layout(self, flat_specs):
    """Chooses which outputs go through shared memory; returns a _Layout."""
    entries, offset = child.shared_memory_entries(flat_specs,
                                                  SHARED_MEMORY_MIN_BYTES)
    layout = self._layouts.get(entries)
    if layout is None:
      layout = _Layout(len(self._layouts), entries, offset)
      self._layouts[entries] = layout
    return layout

  def _check_callable(self, method):
    if self._state == 'running':
      return
    if self._state == 'closed':
      raise StopIteration('PyProcess %s is closed.' % self._type.__name__)
    if self._state == 'dead':
      raise PyProcessError(
          'PyProcess child for %s (pid %s) is dead (%s); cannot call %s.' %
          (self._type.__name__, self._pid, self._exit_description(), method))
    raise PyProcessError(
        'PyProcess for %s is not started: use PyProcessHook with a '
        'MonitoredSession, or call start().' % self._type.__name__)

  def _lost_child(self, method):
    """The error for a child found gone while running `method`."""
    if self._state == 'closed':  # Closed by another thread meanwhile.
      return StopIteration('PyProcess %s was closed.' % self._type.__name__)
    self._mark_dead()
    return PyProcessError(
        'PyProcess child for %s (pid %s) died while running %s.%s (%s).' %
        (self._type.__name__, self._pid, self._type.__name__, method,
         self._exit_description()))

  def _send_call(self, method, layout, args):
    """Sends a call (lock held); returns the shared-memory views it uses."""
    views = None
    entries = None
    if layout.entries and self._buffer is not None and (
        layout.nbytes <= self._buffer.size):
      views = self._views.get(layout.id)
      if views is None:
        views = self._views[layout.id] = child.views(self._buffer.mmap,
                                                layout.entries)
      if layout.id not in self._sent_layouts:
        entries = layout.entries
        self._sent_layouts.add(layout.id)
    try:
      child.send(self._conn, ('call', method, layout.id if views else None,
                         entries, tuple(child.plain(arg) for arg in args)))
    except OSError:
      raise self._lost_child(method) from None
    return views

  def _receive_outputs(self, method, views, converters, out=None, row=None):
    """Receives the reply to `_send_call` (lock held); the flat outputs.

    With `out` (a list of arrays, one per output), writes the outputs into
    `out[k][row]` instead and returns `out`.
    """
    try:
      status, payload = child.recv(self._conn)
    except (EOFError, OSError):
      raise self._lost_child(method) from None
    if status == 'closed':  # close() overtook this call.
      raise StopIteration('PyProcess %s was closed.' % self._type.__name__)
    if status != 'ok':
      raise PyProcessError(
          '%s.%s raised in the PyProcess child (pid %s). Child traceback:'
          '\n%s' % (self._type.__name__, method, self._pid, payload))
    if not converters:
      return []  # _tensor_specs declares no outputs: results are dropped.
    if len(payload) != len(converters):
      raise PyProcessError(
          '%s.%s returned %d outputs; _tensor_specs declares %d.' %
          (self._type.__name__, method, len(payload), len(converters)))
    if out is not None:
      for index, (value, convert) in enumerate(zip(payload, converters)):
        if views and index in views:
          out[index][row] = views[index]
        else:
          out[index][row] = convert(value, method, index)
      return out
    outputs = []
    for index, (value, convert) in enumerate(zip(payload, converters)):
      if views and index in views:
        outputs.append(views[index].copy())  # The buffer is reused.
      else:
        outputs.append(convert(value, method, index))
    return outputs

  def _call(self, method, layout, converters, args):
    """Calls `method(*args)` in the child; returns the flat outputs."""
    with self._lock:
      self._check_callable(method)
      views = self._send_call(method, layout, args)
      return self._receive_outputs(method, views, converters)

  def call(self, method, *args):
    """Calls `method(*args)` in the child directly (no TF); returns its result.

    The result is pickled back whole. For tests, tools and benchmarks; graphs
    use `proxy`.
    """
    with self._lock:
      if self._state != 'running':
        raise PyProcessError('PyProcess for %s is %s.' %
                             (self._type.__name__, self._state))
      try:
        child.send(self._conn, ('call_whole', method, args))
        status, payload = child.recv(self._conn)
      except (EOFError, OSError):
        raise self._lost_child(method) from None
      if status != 'ok':
        raise PyProcessError(
            '%s.%s raised in the PyProcess child (pid %s). Child traceback:'
            '\n%s' % (self._type.__name__, method, self._pid, payload))
      return payload

  def _output_specs(self, method_name, args):
    """The method's specs, flat, and how to transport and convert them."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    method = getattr(self._type, method_name)
    parameters = list(inspect.signature(method).parameters)
    if not isinstance(inspect.getattr_static(self._type, method_name),
                      (staticmethod, classmethod)):
      parameters = parameters[1:]  # self
    kwargs = dict(zip(parameters, args))
    specs = self._type._tensor_specs(  # pylint: disable=protected-access
        method_name, kwargs, self._all_constructor_kwargs)
    flat_specs = tf.nest.flatten(specs) if specs is not None else []
    for spec in flat_specs:
      if not isinstance(spec, tf.TensorSpec):
        raise TypeError('%s._tensor_specs(%r) must return a nest of '
                        'tf.TensorSpec (or None); got %r.' %
                        (self._type.__name__, method_name, spec))
    plain = []
    converters = []
    for spec in flat_specs:
      if spec.dtype == tf.string:
        plain.append((None, None))
        converters.append(_string_converter(self._type.__name__, spec))
      else:
        shape = (tuple(spec.shape.as_list())
                 if spec.shape.is_fully_defined() else None)
        plain.append((spec.dtype.as_numpy_dtype, shape))
        converters.append(_array_converter(self._type.__name__, spec))
    return specs, flat_specs, self._register_layout(plain), converters

  def _build_op(self, method_name, args):
    """Builds the TF op for `proxy.<method_name>(*args)`."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    specs, flat_specs, layout, converters = self._output_specs(method_name,
                                                               args)

    def py_call(*call_args):
      return self._call(method_name, layout, converters, call_args)

    outputs = tf.numpy_function(
        py_call, list(args), [spec.dtype for spec in flat_specs],
        stateful=True, name=method_name)
    return _shape_outputs(specs, flat_specs, outputs)


def _shape_outputs(specs, flat_specs, outputs, batch_size=None):
  """Sets static shapes on py_func outputs and packs them as `specs`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if specs is None:
    return outputs  # An operation.
  if not isinstance(outputs, (list, tuple)):
    outputs = [outputs]
  for tensor, spec in zip(outputs, flat_specs):
    shape = spec.shape
    if batch_size is not None:
      shape = tf.TensorShape([batch_size]).concatenate(shape)
    tensor.set_shape(shape)
  return tf.nest.pack_sequence_as(specs, list(outputs))


def _string_converter(type_name, spec):
  shape = tuple(spec.shape.as_list()) if spec.shape.rank is not None else None

  def convert(value, method, index):
    if isinstance(value, str):
      value = value.encode('utf-8')
    array = np.asarray(value, dtype=object)
    if shape is not None and array.shape != shape:
      raise PyProcessError('%s.%s: output %d has shape %s; _tensor_specs '
                           'declares %s.' % (type_name, method, index,
                                             array.shape, list(shape)))
    if array.ndim == 0:
      return value
    return np.vectorize(
        lambda s: s.encode('utf-8') if isinstance(s, str) else s,
        otypes=[object])(array)

  return convert


def _array_converter(type_name, spec):
  dtype = spec.dtype.as_numpy_dtype
  dims = tuple(spec.shape.as_list()) if spec.shape.rank is not None else None

  def convert(value, method, index):
    array = np.asarray(value, dtype=dtype)
    if dims is not None and array.shape != dims and (
        len(array.shape) != len(dims) or
        any(d is not None and d != a for d, a in zip(dims, array.shape))):
      raise PyProcessError('%s.%s: output %d has shape %s; _tensor_specs '
                           'declares %s.' % (type_name, method, index,
                                             array.shape, spec.shape))
    return array

  return convert


class _TFProxy:
  """`proxy.method(*args)` builds the op calling `method` in the child."""

  def __init__(self, process):
    self._process = process

  def __getattr__(self, name):
    if name.startswith('_'):
      raise AttributeError(name)
    type_ = self._process._type  # pylint: disable=protected-access
    if not callable(getattr(type_, name, None)):
      raise AttributeError('%s has no method %r.' % (type_.__name__, name))

    def call(*args):
      return self._process._build_op(name, args)  # pylint: disable=protected-access

    call.__name__ = name
    return call


class PyProcessBatch:
  """Calls a method of several PyProcesses with one TF op; outputs stacked.

  `PyProcessBatch(processes).proxy.method(*args)` builds one op that sends
  the call to every child (argument i of each input, which has a leading
  batch dimension) before waiting for any reply, so the children run in
  parallel, and returns the outputs stacked along a new leading dimension of
  size len(processes). One op per batch instead of one per child divides the
  fixed cost of a TF py_func (about 100 us) by the batch size: this is how an
  actor steps a vector of environments (issue 8). The processes must be of
  one type with equal output specs; they are started and closed as usual
  (`PyProcessHook` or `start_all`).
  """

  def __init__(self, processes):
    processes = list(processes)
    if not processes or not all(isinstance(p, PyProcess) for p in processes):
      raise TypeError('PyProcessBatch needs a non-empty list of PyProcess.')
    types = {p._type for p in processes}  # pylint: disable=protected-access
    if len(types) != 1:
      raise TypeError('PyProcessBatch: processes must share one type, got %s.'
                      % sorted(t.__name__ for t in types))
    self._processes = processes
    self._proxy = _TFProxy(self)
    self._type = processes[0]._type  # pylint: disable=protected-access
    # Lock in a global order, so that batches sharing processes cannot
    # deadlock.
    self._lock_order = sorted(range(len(processes)),
                              key=lambda i: id(processes[i]))

  @property
  def proxy(self):
    return self._proxy

  @property
  def processes(self):
    return list(self._processes)

  def _build_op(self, method_name, args):
    """Builds the batched op for `proxy.<method_name>(*args)`."""
    # pylint: disable=protected-access
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    per_process = [p._output_specs(method_name, args)
                   for p in self._processes]
    specs, flat_specs, _, converters = per_process[0]
    for other in per_process[1:]:
      if [(s.dtype, s.shape) for s in other[1]] != [
          (s.dtype, s.shape) for s in flat_specs]:
        raise ValueError('PyProcessBatch: %s.%s output specs differ between '
                         'the processes.' % (self._type.__name__,
                                             method_name))
    layouts = [layout for _, _, layout, _ in per_process]
    processes = self._processes
    lock_order = self._lock_order
    # Outputs are written in place into arrays [batch, ...] when their shapes
    # are known, and stacked otherwise.
    batch_shapes = None
    if all(spec.shape.is_fully_defined() for spec in flat_specs):
      batch_shapes = [
          ((len(processes),) + tuple(spec.shape.as_list()),
           object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype)
          for spec in flat_specs]

    def py_call(*call_args):
      locks = [processes[i]._lock for i in lock_order]
      for lock in locks:
        lock.acquire()
      try:
        sent = []
        error = None
        for i, p in enumerate(processes):
          try:
            p._check_callable(method_name)
            sent.append((p, p._send_call(method_name, layouts[i],
                                         [arg[i] for arg in call_args])))
          except (PyProcessError, StopIteration) as e:
            error = error or e
            break
        out = None
        if batch_shapes is not None:
          out = [np.empty(shape, dtype) for shape, dtype in batch_shapes]
        outputs = []
        for row, (p, views) in enumerate(sent):  # Drain every reply.
          try:
            outputs.append(p._receive_outputs(method_name, views, converters,
                                              out, row))
          except (PyProcessError, StopIteration) as e:
            error = error or e
        if error is not None:
          raise error
        if out is not None:
          return out
        return [np.stack([o[k] for o in outputs])
                for k in range(len(converters))]
      finally:
        for lock in locks:
          lock.release()

    outputs = tf.numpy_function(
        py_call, list(args), [spec.dtype for spec in flat_specs],
        stateful=True, name=method_name)
    return _shape_outputs(specs, flat_specs, outputs,
                          batch_size=len(processes))


# ---------------------------------------------------------------------------
# Many processes at once.


def start_all(processes):
  """Starts the processes in parallel and waits for all constructors.

  All children are launched first, then their constructors are awaited, so
  that dozens of environments start in about the time of one. If any fails,
  every process started here is closed and the first error is raised.
  """
  processes = list(processes)
  child.ensure_fork_server([p._type for p in processes])  # pylint: disable=protected-access
  launched = []
  try:
    for p in processes:
      if p._begin_start():  # pylint: disable=protected-access
        launched.append(p)
    first_error = None
    for p in launched:
      try:
        p._finish_start()  # pylint: disable=protected-access
      except PyProcessError as e:
        first_error = first_error or e
    if first_error is not None:
      raise first_error
  except BaseException:
    close_all(launched, timeout=5.0)
    raise


def close_all(processes, timeout=10.0):
  """Closes the processes in parallel; children still alive after `timeout`
  seconds are terminated."""
  closing = [p for p in processes if p._begin_close()]  # pylint: disable=protected-access
  deadline = time.monotonic() + timeout
  for p in closing:
    p._finish_close(deadline)  # pylint: disable=protected-access


@atexit.register
def _close_live_processes():
  close_all(list(_LIVE), timeout=2.0)


# ---------------------------------------------------------------------------
# The session hook. Defined on first use, because defining it needs
# TensorFlow, which children must not import.


def _make_hook_class():
  """Defines PyProcessHook (a tf.compat.v1.train.SessionRunHook)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  class PyProcessHook(tf.compat.v1.train.SessionRunHook):
    """Starts the graph's PyProcesses with the session and closes them with it.

    `begin()` starts, in parallel, every `PyProcess` of the graph
    (`graph_processes()`) that is not running, before the session is
    created, so that initialisers may call environments (the release's actors
    keep their state in local variables initialised by `env.initial()`).
    `end()` closes them in parallel when the session ends normally. When it
    ends with an exception, `MonitoredSession` does not call `end()`; the
    children are then closed at interpreter exit, or die with the parent.
    """

    def __init__(self):
      self._processes = []

    def begin(self):
      self._processes = graph_processes()
      start_all(self._processes)

    def end(self, session):
      del session
      close_all(self._processes)

  PyProcessHook.__module__ = __name__
  return PyProcessHook


_GRAPH_PROCESSES = weakref.WeakKeyDictionary()  # tf.Graph -> [PyProcess].


def graph_processes(graph=None):
  """The PyProcesses created while `graph` (default: the default graph) was
  the default graph, in creation order."""
  if graph is None:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    graph = tf.compat.v1.get_default_graph()
  return list(_GRAPH_PROCESSES.get(graph, ()))


def __getattr__(name):
  if name == 'PyProcessHook':
    hook_class = _make_hook_class()
    globals()['PyProcessHook'] = hook_class
    return hook_class
  raise AttributeError('module %r has no attribute %r' % (__name__, name))
