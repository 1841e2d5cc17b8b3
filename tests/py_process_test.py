"""Tests for py_process: results and specs, errors, dead children, shutdown."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

import py_process
import py_process_child
import py_process_test_objects as objects
import process_util

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _wait_dead(pids, timeout):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if not any(process_util.alive(pid) for pid in pids):
      return True
    time.sleep(0.05)
  return False


def test_results_specs_and_nests_in_graph():
  with tf.Graph().as_default():
    process = py_process.PyProcess(objects.Counter, 4, width=3)
    result = process.proxy.step(tf.constant(2))
    # Structure and static shapes come from _tensor_specs.
    assert sorted(result) == ['count', 'pair', 'text']
    assert result['count'].dtype == tf.int32
    assert result['pair'][0].shape.as_list() == [4, 3]
    assert result['pair'][0].dtype == tf.uint8
    assert result['pair'][1].dtype == tf.float32
    assert result['text'].dtype == tf.string

    # Inside a while loop: three more calls.
    def body(i, total):
      output = process.proxy.step(1)
      return i + 1, total + output['count']
    _, total = tf.while_loop(lambda i, _: i < 3, body, (0, 0))

    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      value = session.run(result)
      assert value['count'] == 2
      np.testing.assert_array_equal(value['pair'][0],
                                    np.full([4, 3], 2, np.uint8))
      assert value['pair'][1] == pytest.approx(1.0)
      assert value['text'] == b'count 2'
      assert session.run(result)['count'] == 4  # State lives in the child.
      assert session.run(total) == 5 + 6 + 7


def test_shared_memory_and_pipe_give_the_same_results(monkeypatch):
  outputs = {}
  for min_bytes in (1, None):
    monkeypatch.setattr(py_process, 'SHARED_MEMORY_MIN_BYTES', min_bytes)
    with tf.Graph().as_default():
      process = py_process.PyProcess(objects.Counter, 64, width=64)
      result = process.proxy.step(3)
      with tf.compat.v1.Session() as session, process:
        outputs[min_bytes] = [session.run(result) for _ in range(3)]
        # pylint: disable=protected-access
        used_shared_memory = bool(process._views)
      assert used_shared_memory == (min_bytes is not None)
  for a, b in zip(outputs[1], outputs[None]):
    np.testing.assert_array_equal(a['pair'][0], b['pair'][0])
    assert a['count'] == b['count'] and a['text'] == b['text']
  assert [o['count'] for o in outputs[1]] == [3, 6, 9]


def test_flatten_matches_tf_nest():
  nest = {'b': (1, [2, 3]), 'a': objects_step_like(4, (5, 6)), 'c': None}
  assert py_process_child.flatten(nest) == tf.nest.flatten(nest)


def objects_step_like(x, y):
  import collections  # pylint: disable=g-import-not-at-top
  return collections.namedtuple('Pair', 'x y')(x, y)


def test_children_do_not_import_tensorflow_or_main():
  with py_process.PyProcess(objects.Counter, 2) as process:
    modules = process.call('imported_modules')
  assert 'numpy' in modules
  assert not [m for m in modules if m.startswith('tensorflow')]


def test_bad_constructor_arguments_fail_in_the_parent():
  with pytest.raises(TypeError, match='Counter'):
    py_process.PyProcess(objects.Counter, 1, 2, 3, 4)
  with pytest.raises(TypeError, match='must be a class'):
    py_process.PyProcess(objects.Counter(1), 1)


def test_method_exception_reaches_the_caller_with_child_traceback():
  with tf.Graph().as_default():
    process = py_process.PyProcess(objects.Counter, 2)
    fail = process.proxy.fail(tf.constant('boom'))
    step = process.proxy.step(1)
    with tf.compat.v1.Session() as session, process:
      with pytest.raises(tf.errors.OpError) as error:
        session.run(fail)
      message = error.value.message
      assert 'Counter.fail raised in the PyProcess child' in message
      assert 'Child traceback' in message
      assert '_helper_that_raises' in message  # A frame of the child.
      assert 'ValueError: boom' in message
      assert session.run(step)['count'] == 1  # The child lives on.


def test_constructor_exception_names_class_and_traceback():
  process = py_process.PyProcess(objects.FailingConstructor, 'no level')
  with pytest.raises(py_process.PyProcessError) as error:
    process.start()
  message = str(error.value)
  assert 'FailingConstructor.__init__ raised' in message
  assert 'RuntimeError: no level' in message
  assert 'Traceback' in message


def test_constructor_exception_fails_session_creation():
  with tf.Graph().as_default():
    good = py_process.PyProcess(objects.Counter, 2)
    py_process.PyProcess(objects.FailingConstructor, 'bad config')
    with pytest.raises(py_process.PyProcessError, match='bad config'):
      with tf.compat.v1.train.MonitoredSession(
          hooks=[py_process.PyProcessHook()]):
        pass
    assert not good.running  # Started ones were closed again.


def test_wrong_output_shape_is_an_error():
  with tf.Graph().as_default():
    process = py_process.PyProcess(objects.Counter, 2)
    wrong = process.proxy.wrong_shape()
    with tf.compat.v1.Session() as session, process:
      with pytest.raises(tf.errors.OpError, match=r'shape \(3, 3\).*\(2, 3\)'):
        session.run(wrong)


@pytest.mark.parametrize('how', ['sigkill', 'segfault', 'killed_during_call'])
def test_dead_child_fails_the_op_quickly(how):
  with tf.Graph().as_default():
    process = py_process.PyProcess(objects.Counter, 2)
    step = process.proxy.step(1)
    crash = process.proxy.crash()
    sleep = process.proxy.sleep(30.)
    with tf.compat.v1.Session() as session, process:
      session.run(step)
      pid = process.pid
      start = time.monotonic()
      if how == 'sigkill':
        os.kill(pid, signal.SIGKILL)
        op, expected = step, 'SIGKILL'
      elif how == 'segfault':
        op, expected = crash, 'SIGSEGV'
      else:
        threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
        op, expected = sleep, 'SIGKILL'
      with pytest.raises(tf.errors.OpError) as error:
        session.run(op)
      assert time.monotonic() - start < 10
      assert 'died while running Counter.' in error.value.message
      assert expected in error.value.message
      with pytest.raises(tf.errors.OpError, match='is dead'):
        session.run(step)


def test_close_runs_child_close_and_later_calls_stop(tmp_path):
  path = str(tmp_path / 'closed')
  with tf.Graph().as_default():
    process = py_process.PyProcess(objects.Closable, path)
    ping = process.proxy.ping()
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      assert session.run(ping) == 1
      pid = process.pid
    assert open(path).read() == 'closed'
    assert _wait_dead([pid], 5)
    with tf.compat.v1.Session() as session:
      with pytest.raises(tf.errors.OutOfRangeError):
        session.run(ping)  # Closed deliberately: the clean stop signal.


_PARENT_SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading, time
    with open(%r, 'a') as f:  # Shows who runs this script's top level.
      f.write('%%d\\n' %% os.getpid())
    sys.path[:0] = [%r, %r]
    import py_process, py_process_test_objects as objects

    if __name__ == '__main__':
      processes = [py_process.PyProcess(objects.Counter, 2) for _ in range(2)]
      py_process.start_all(processes)
      print(' '.join(str(p.pid) for p in processes), flush=True)
      if sys.argv[1] == 'kill':  # While the children are busy in a call.
        for p in processes:
          threading.Thread(target=p.call, args=('sleep', 15)).start()
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)
      elif sys.argv[1] == 'interrupt':  # Ctrl-C inside a training session.
        import tensorflow as tf
        with tf.Graph().as_default():
          processes = [py_process.PyProcess(objects.Counter, 2)
                       for _ in range(2)]
          with tf.compat.v1.train.MonitoredSession(
              hooks=[py_process.PyProcessHook()]):
            print(' '.join(str(p.pid) for p in processes), flush=True)
            raise KeyboardInterrupt()
""")


@pytest.mark.parametrize('how', ['kill', 'interrupt', 'exit'])
def test_no_orphans_when_the_parent_goes(how, tmp_path):
  marker = str(tmp_path / 'main_imports')
  script = tmp_path / 'parent.py'
  script.write_text(_PARENT_SCRIPT % (marker, ROOT, HERE))
  result = subprocess.run(
      [sys.executable, str(script), how], capture_output=True, text=True,
      timeout=60, check=False)
  pids = [int(pid) for pid in result.stdout.split()]
  assert len(pids) == (4 if how == 'interrupt' else 2), result.stderr
  if how == 'interrupt':
    assert 'KeyboardInterrupt' in result.stderr
  assert _wait_dead(pids, 5), 'children outlived their parent (%s)' % how
  # Only the parent ran the main script: children did not re-import it.
  assert len(open(marker).read().split()) == 1


def test_many_children_start_in_parallel():
  processes = [py_process.PyProcess(objects.SlowConstructor, 0.5)
               for _ in range(24)]
  start = time.monotonic()
  py_process.start_all(processes)
  elapsed = time.monotonic() - start
  try:
    pids = [p.pid for p in processes]
    assert len(set(pids)) == 24
    assert all(process_util.alive(pid) for pid in pids)
    # One after another would take 24 x 0.5 = 12 s.
    assert elapsed < 6, elapsed
  finally:
    py_process.close_all(processes)
  assert _wait_dead(pids, 5)


def test_hook_starts_graph_processes_and_direct_call():
  with tf.Graph().as_default():
    processes = [py_process.PyProcess(objects.Counter, 2) for _ in range(3)]
    assert py_process.graph_processes() == (
        processes)
    # A method whose _tensor_specs are None builds an op without outputs.
    no_outputs = processes[0].proxy.whoami()
    assert isinstance(no_outputs, tf.Operation)
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      assert all(p.running for p in processes)
      assert session.run(no_outputs) is None
      assert processes[0].call('whoami')[0] == processes[0].pid
    assert not any(p.running for p in processes)


def test_method_without_outputs_is_an_op_that_session_run_runs():
  """As in the release's py_process_test: `set_value` declares no outputs
  (its _tensor_specs are None), so the proxy gives a tf.Operation; running it
  changes the child's state, which another method then reads."""
  with tf.Graph().as_default():
    process = py_process.PyProcess(objects.Example, 1)
    set_value = process.proxy.set_value(tf.constant(3))
    assert isinstance(set_value, tf.Operation)
    get_value = process.proxy.get_value()
    with tf.control_dependencies([process.proxy.set_value(5)]):
      set_then_get = tf.identity(process.proxy.get_value())
    batch = py_process.PyProcessBatch(
        [py_process.PyProcess(objects.Example, i) for i in range(2)])
    batch_set = batch.proxy.set_value(tf.constant([7, 8]))
    assert isinstance(batch_set, tf.Operation)
    batch_get = batch.proxy.get_value()
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      assert session.run(get_value) == 1
      assert session.run(set_value) is None
      assert session.run(get_value) == 3
      assert session.run(set_then_get) == 5
      np.testing.assert_array_equal(session.run(batch_get), [0, 1])
      assert session.run(batch_set) is None
      np.testing.assert_array_equal(session.run(batch_get), [7, 8])


def test_batch_stacks_outputs_and_runs_children_in_parallel():
  with tf.Graph().as_default():
    processes = [py_process.PyProcess(objects.Counter, 2, start=10 * i)
                 for i in range(4)]
    batch = py_process.PyProcessBatch(processes)
    step = batch.proxy.step(tf.constant([1, 2, 3, 4]))
    assert step['pair'][0].shape.as_list() == [4, 2, 3]
    assert step['count'].shape.as_list() == [4]
    sleep = batch.proxy.sleep(tf.fill([4], 0.5))
    fail = batch.proxy.fail(tf.constant(['a', 'b', 'c', 'd']))
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      value = session.run(step)
      np.testing.assert_array_equal(value['count'], [1, 12, 23, 34])
      np.testing.assert_array_equal(value['pair'][0][:, 0, 0],
                                    [1, 12, 23, 34])
      assert list(value['text']) == [b'count 1', b'count 12', b'count 23',
                                     b'count 34']
      start = time.monotonic()
      session.run(sleep)
      assert time.monotonic() - start < 1.5  # 4 x 0.5 s one after another: 2 s.
      with pytest.raises(tf.errors.OpError, match='Counter.fail raised'):
        session.run(fail)
      # Every reply was drained: the processes are still in step.
      np.testing.assert_array_equal(session.run(step)['count'],
                                    [2, 14, 26, 38])


def test_what_cannot_reach_the_child_fails_at_start_saying_why():
  process = py_process.PyProcess(objects.Example, lambda: 0)
  with pytest.raises(py_process.PyProcessError,
                     match='picklable, the class importable'):
    process.start()
  assert not process.running
