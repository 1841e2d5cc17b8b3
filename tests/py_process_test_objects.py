"""Classes that tests run in PyProcess children.

Kept out of the test modules, which import TensorFlow: a child imports the
module that defines its class, and children must not import TensorFlow.
`_tensor_specs` imports it lazily (it runs in the parent only).
"""

import ctypes
import os
import signal
import sys
import time

import numpy as np


class Counter:
  """Counts calls; returns a nest with a frame, scalars and a string."""

  def __init__(self, height, width=3, start=0):
    self._height = height
    self._width = width
    self._count = start

  def step(self, increment):
    self._count += int(increment)
    frame = np.full([self._height, self._width], self._count % 256, np.uint8)
    return {'count': np.int32(self._count),
            'pair': (frame, float(self._count) / 2),
            'text': 'count %d' % self._count}

  def whoami(self):
    return os.getpid(), os.getppid()

  def imported_modules(self):
    return sorted(sys.modules)

  def fail(self, message):
    return _helper_that_raises(message.decode())

  def wrong_shape(self):
    return np.zeros([self._height + 1, self._width], np.uint8)

  def crash(self):
    ctypes.string_at(0)  # Segmentation fault.

  def kill_self(self):
    os.kill(os.getpid(), signal.SIGKILL)

  def sleep(self, seconds):
    time.sleep(float(seconds))
    return np.int32(0)

  @staticmethod
  def _tensor_specs(method_name, kwargs, constructor_kwargs):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if method_name == 'step':
      frame = tf.TensorSpec(
          [constructor_kwargs['height'], constructor_kwargs['width']],
          tf.uint8)
      return {'count': tf.TensorSpec([], tf.int32),
              'pair': (frame, tf.TensorSpec([], tf.float32)),
              'text': tf.TensorSpec([], tf.string)}
    if method_name == 'wrong_shape':
      return tf.TensorSpec(
          [constructor_kwargs['height'], constructor_kwargs['width']],
          tf.uint8)
    if method_name in ('fail', 'crash', 'kill_self', 'sleep'):
      return tf.TensorSpec([], tf.int32)
    return None


def _helper_that_raises(message):
  raise ValueError(message)


class FailingConstructor:

  def __init__(self, message):
    raise RuntimeError(message)

  @staticmethod
  def _tensor_specs(method_name, kwargs, constructor_kwargs):
    return None


class SlowConstructor:
  """Takes `seconds` to construct; records its pid."""

  def __init__(self, seconds):
    time.sleep(seconds)

  def pid(self):
    return os.getpid()

  @staticmethod
  def _tensor_specs(method_name, kwargs, constructor_kwargs):
    return None


class Closable:
  """Writes a file when closed, to show that close() reaches the child."""

  def __init__(self, path):
    self._path = path

  def ping(self):
    return np.int32(1)

  def close(self):
    with open(self._path, 'w') as f:
      f.write('closed')

  @staticmethod
  def _tensor_specs(method_name, kwargs, constructor_kwargs):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if method_name == 'ping':
      return tf.TensorSpec([], tf.int32)
    return None


class Example:
  """The release's test object: a value that a method without outputs sets."""

  def __init__(self, value):
    self._value = value

  def set_value(self, value):
    self._value = int(value)  # Returns None: no outputs.

  def get_value(self):
    return np.int32(self._value)

  @staticmethod
  def _tensor_specs(method_name, kwargs, constructor_kwargs):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    del kwargs, constructor_kwargs
    if method_name == 'get_value':
      return tf.TensorSpec([], tf.int32)
    return None
