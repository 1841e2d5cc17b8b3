# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Experience replay on the learner (paper section 5.2.2, Table 2).

"Replay": a FIFO buffer of whole trajectories, with the behaviour policy's
logits and the agent state at their start, from which `replay_proportion`
of each learner batch is drawn uniformly; the rest comes fresh from the
actors. In the paper: 10,000 trajectories, 50% of a batch of 32.

The buffer is a set of TensorFlow variables on the learner's CPU, one per
component of a trajectory ([capacity, ...] each), written as a ring: the
oldest trajectory is overwritten first. Its memory is fixed when the graph
is built (`size_in_bytes`). Its variables are local: they are neither
checkpointed nor restored, and a resumed run starts with an empty buffer.

Frames are counted once, when an actor produces them: replayed trajectories
add no frames to the frame counter (the budget and the learning-rate
schedule) and no episodes to the reported returns.
"""

from absl import logging
import numpy as np
import tensorflow as tf

nest = tf.nest


def num_replayed(batch_size, replay_proportion):
  """Trajectories of each batch drawn from the buffer: round(p * batch)."""
  return int(round(batch_size * replay_proportion))


def size_in_bytes(specs, capacity):
  """Bytes the buffer's fixed-size components take; strings count 0 each.

  Args:
    specs: nest of tf.TensorSpec, one trajectory each (no batch dimension).
    capacity: trajectories.
  """
  return capacity * sum(
      int(np.prod(spec.shape.as_list())) * spec.dtype.size
      for spec in nest.flatten(specs) if spec.dtype != tf.string)


def _empty(shape, dtype):
  return tf.fill(shape, '') if dtype == tf.string else tf.zeros(shape, dtype)


class ReplayBuffer:
  """A FIFO ring of `capacity` trajectories, sampled uniformly."""

  def __init__(self, specs, capacity, name='replay_buffer'):
    """Creates the buffer's (local) variables.

    Args:
      specs: nest of tf.TensorSpec of one trajectory (no batch dimension).
      capacity: the number of trajectories kept.
      name: variable scope.
    """
    self._specs = specs
    self._capacity = capacity

    def variable(initial_value, var_name):
      return tf.compat.v1.Variable(
          initial_value, trainable=False, use_resource=True, name=var_name,
          collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES])

    with tf.compat.v1.variable_scope(name):
      self._storage = [
          variable(_empty([capacity] + spec.shape.as_list(), spec.dtype),
                   'storage_%d' % i)
          for i, spec in enumerate(nest.flatten(specs))]
      # Trajectories ever added: the next slot is num_added % capacity.
      self._num_added = variable(tf.constant(0, tf.int64), 'num_added')

  @property
  def capacity(self):
    return self._capacity

  def size(self):
    """Trajectories held now, a scalar int64 tensor."""
    return tf.minimum(self._num_added.read_value(), self._capacity)

  def add(self, trajectories):
    """Overwrites the oldest slots with `trajectories` ([K, ...], K <= capacity).

    Returns:
      The op that adds them.
    """
    flat = nest.flatten(trajectories)
    count = tf.cast(tf.shape(flat[0])[0], tf.int64)
    slots = (self._num_added + tf.range(count)) % self._capacity
    writes = [storage.scatter_update(tf.IndexedSlices(t, slots))
              for storage, t in zip(self._storage, flat)]
    with tf.control_dependencies(writes):
      return self._num_added.assign_add(count).op

  def sample(self, num_trajectories):
    """`num_trajectories` drawn uniformly, with replacement, from those held.

    Returns:
      A nest like `specs`, [num_trajectories, ...] each.
    """
    slots = tf.random.uniform([num_trajectories], 0, self.size(),
                              dtype=tf.int64)
    return nest.pack_sequence_as(
        self._specs, [storage.sparse_read(slots) for storage in self._storage])


def add_replayed(fresh, count, buffer_size):
  """Appends `count` replayed trajectories to a fresh batch (batch-major).

  The fresh trajectories go into the buffer first; then `count` are drawn
  from it (this batch's fresh ones among the candidates).

  Args:
    fresh: nest of [K, ...] tensors, K fresh trajectories.
    count: R, the trajectories to replay.
    buffer_size: capacity of the buffer in trajectories (>= K).

  Returns:
    The nest with [K + R, ...] tensors: the K fresh first, then R replayed.
  """
  specs = nest.map_structure(
      lambda t: tf.TensorSpec(t.shape[1:], t.dtype), fresh)
  with tf.device('/cpu:0'):
    buffer = ReplayBuffer(specs, buffer_size)
    logging.info('Replay buffer of %d trajectories: %.1f MiB (strings not '
                 'counted); %d of each batch replayed.', buffer_size,
                 size_in_bytes(specs, buffer_size) / 2**20, count)
    with tf.control_dependencies([buffer.add(fresh)]):
      replayed = buffer.sample(count)
  return nest.map_structure(lambda f, r: tf.concat([f, r], 0), fresh,
                            replayed)
