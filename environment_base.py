# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""What every environment class shares: its step's output, specs and checks.

`StepOutput(reward, info, done, observation)` with `info =
StepOutputInfo(episode_return, episode_step, game_over)` is what an
environment's `initial()` and `step(action)` return (environments.py says
what each field means); `specs_for` gives their `tf.TensorSpec`s for
`_tensor_specs`, `GameAccounting` sums a game's return and length, and
`check_int` and `check_action` check constructor arguments and actions.

This module does not import TensorFlow at import time (environment children
import it).
"""

import collections

import numpy as np

StepOutputInfo = collections.namedtuple(
    'StepOutputInfo', 'episode_return episode_step game_over')
StepOutput = collections.namedtuple('StepOutput',
                                    'reward info done observation')


def step_output_specs(frame_shape):
  """The TensorSpecs of a `StepOutput` with frames of shape `frame_shape`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return StepOutput(
      reward=tf.TensorSpec([], tf.float32),
      info=StepOutputInfo(
          episode_return=tf.TensorSpec([], tf.float32),
          episode_step=tf.TensorSpec([], tf.int32),
          game_over=tf.TensorSpec([], tf.bool)),
      done=tf.TensorSpec([], tf.bool),
      observation=(tf.TensorSpec(list(frame_shape), tf.uint8),
                   tf.TensorSpec([], tf.string)))


def specs_for(class_name, method_name, frame_shape):
  if method_name in ('initial', 'step'):
    return step_output_specs(frame_shape)
  if method_name == 'close':
    return None
  raise ValueError('%s has no TF method %r (only initial and step).' %
                   (class_name, method_name))


class GameAccounting:
  """Accumulates `episode_return` and `episode_step` over a game."""

  def __init__(self):
    self.episode_return = 0.
    self.episode_step = 0

  def initial(self, frame, instruction):
    self.episode_return = 0.
    self.episode_step = 0
    return StepOutput(
        np.float32(0.),
        StepOutputInfo(np.float32(0.), np.int32(0), False), True,
        (frame, instruction))

  def record(self, reward, game_over):
    """Adds a step; returns its `StepOutputInfo` (final values at game over)."""
    self.episode_return += reward
    self.episode_step += 1
    info = StepOutputInfo(np.float32(self.episode_return),
                          np.int32(self.episode_step), bool(game_over))
    if game_over:
      self.episode_return = 0.
      self.episode_step = 0
    return info


def check_int(name, value, minimum):
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError('%s must be an integer, got %r.' % (name, value))
  if value < minimum:
    raise ValueError('%s must be >= %d, got %d.' % (name, minimum, value))
  return int(value)


def check_action(action, num_actions):
  index = int(action)
  if not 0 <= index < num_actions:
    raise ValueError('action must be in [0, %d), got %d.' %
                     (num_actions, index))
  return index
