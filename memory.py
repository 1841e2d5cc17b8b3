# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Memory a run needs, estimated from its shapes, checked before it starts.

A replay buffer or a learner that does not fit used to be killed by the
kernel minutes into a run (a 10,000-trajectory Atari buffer on a shared
24 GiB machine; the DMLab-shaped learner at 8 GB). `check(config)` (called
by the entry points through config.check_memory) stops such a run at start
with a one-line error that gives the estimate and the memory available;
`--skip_memory_check` skips it.

The estimate (bytes), for the learner's process:

  replay  = replay_buffer_size x trajectory          (if replay is on)
  learner = BASE + 4 x 4 x parameters
            + BATCH_COPIES x batch_size x trajectory
            + ACTIVATION_FACTOR x 4 x (T + 1) x batch_size x floats_per_step

where `trajectory` is the bytes of one trajectory from the actual shapes
(T + 1 observations, rewards, infos, the behaviour policy's outputs, the
agent state at its start; 32 bytes per string), parameters are counted in
weights, gradients and RMSProp's two slots, and `floats_per_step` is the
number of floats the forward pass of the agent computes for one step of
one trajectory (every float tensor of the traced graph of `Agent.unroll`
on one step, the float frame included): the backward pass keeps those and
makes their gradients, and TensorFlow's kernels need scratch.
"""

import functools
import math
import re

import numpy as np

# Calibrated on the project's 2-core, 24 GiB CPU machine (TensorFlow 2.21,
# oneDNN on) with the peak RSS (ru_maxrss) of benchmarks/network_benchmark.py
# (unroll over [T, B] + backward pass, inputs in variables):
#   atari_shallow_ff     T=1  B=1    611 MiB: BASE (TensorFlow, graph,
#                                    session), here rounded up to 700 MiB
#                                    for the actors' part of the graph;
#   atari_shallow_ff     T=20 B=32   928 MiB: (928 - 611) / 212.6 MiB of
#                                    forward floats (87,080 a step) = 1.49;
#   atari_shallow_ff     T=20 B=8    681 MiB: 70 / 53.1 = 1.32;
#   atari_deep_ff        T=20 B=8   1089 MiB: 478 / 686.8 = 0.70;
#   dmlab_deep_lstm_lang T=20 B=4    888 MiB: 277 / 333.3 = 0.83.
# ACTIVATION_FACTOR is the largest ratio, rounded up: the estimate is over,
# not under, for all of them (about 2x over for the deep torso, whose
# fused conv+bias+ReLU kernels keep fewer tensors than the graph counts).
BASE_BYTES = 700 * 2**20
ACTIVATION_FACTOR = 1.5
# The dequeued batch, its time-major copy and the StagingArea's.
BATCH_COPIES = 3
STRING_BYTES = 32
GIB = 2.0**30


def _step_specs(config):
  """The StepOutput TensorSpecs of the level set's environments."""
  import atari_environment  # pylint: disable=g-import-not-at-top
  import environments  # pylint: disable=g-import-not-at-top
  import levels as levels_lib  # pylint: disable=g-import-not-at-top
  domain, _ = levels_lib.environment_level(config.level_set.levels[0])
  if domain == 'atari':
    cls, kwargs = atari_environment.PyProcessAtari, {}
  elif domain == 'dmlab':
    cls, kwargs = environments.PyProcessDmLab, {
        'config': {'width': config.width, 'height': config.height}}
  else:
    cls, kwargs = environments.PyProcessCatch, {}
  return cls._tensor_specs('step', {}, kwargs)  # pylint: disable=protected-access


def _spec_bytes(specs):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return sum(STRING_BYTES if spec.dtype == tf.string else
             int(np.prod(spec.shape.as_list())) * spec.dtype.size
             for spec in tf.nest.flatten(specs))


def trajectory_bytes(config):
  """Bytes of one trajectory (an ActorOutput) of `config`'s shapes."""
  step = _spec_bytes(_step_specs(config))
  # AgentOutput: action int32, policy_logits float32 [A], baseline float32.
  step += 4 + 4 * config.num_actions + 4
  state = (2 * 256 * 4) if config.core == 'lstm' else 0  # LSTM (c, h).
  return (config.unroll_length + 1) * step + state + STRING_BYTES


@functools.lru_cache(maxsize=None)
def _agent_figures(network, core, use_instruction, num_actions, frame_shape):
  """(floats the forward pass computes per step, trainable parameters)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import environments  # pylint: disable=g-import-not-at-top
  import networks  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default() as graph:
    agent = networks.Agent(num_actions, torso=network, core=core,
                           use_instruction=use_instruction)
    shape = (1, 1)
    inputs = environments.StepOutput(
        tf.compat.v1.placeholder(tf.float32, shape), (),
        tf.compat.v1.placeholder(tf.bool, shape),
        (tf.compat.v1.placeholder(tf.uint8, shape + frame_shape),
         tf.compat.v1.placeholder(tf.string, shape)))
    actions = tf.compat.v1.placeholder(tf.int32, shape)
    agent.unroll(actions, inputs, agent.initial_state(1))
    # The ops that depend on the inputs (not the variables' initialisers).
    frontier = [t.op for t in tf.nest.flatten((actions, inputs))]
    forward = set(frontier)
    while frontier:
      for output in frontier.pop().outputs:
        for consumer in output.consumers():
          if consumer not in forward:
            forward.add(consumer)
            frontier.append(consumer)
    floats = sum(int(np.prod(output.shape.as_list()))
                 for op in forward for output in op.outputs
                 if output.dtype.is_floating and
                 output.shape.is_fully_defined())
    parameters = sum(int(np.prod(v.shape)) for v in agent.trainable_variables)
  return floats, parameters


def estimate(config):
  """{'replay': bytes, 'learner': bytes} for the learner's process."""
  frame_shape = tuple(_step_specs(config).observation[0].shape.as_list())
  floats_per_step, parameters = _agent_figures(
      config.network, config.core, config.use_instruction,
      config.num_actions, frame_shape)
  trajectory = trajectory_bytes(config)
  steps = (config.unroll_length + 1) * config.batch_size
  learner = (BASE_BYTES + 4 * 4 * parameters +
             BATCH_COPIES * config.batch_size * trajectory +
             ACTIVATION_FACTOR * 4 * steps * floats_per_step)
  replay = (config.replay_buffer_size * trajectory
            if config.replay_proportion > 0 else 0)
  return {'replay': replay, 'learner': learner}


def _read(path):
  try:
    with open(path) as f:
      return f.read()
  except OSError:
    return None


def available_bytes():
  """(bytes available, where the figure comes from): MemAvailable, or less
  where a cgroup's memory limit leaves less."""
  meminfo = _read('/proc/meminfo') or ''
  match = re.search(r'^MemAvailable:\s+(\d+) kB', meminfo, re.M)
  available, source = (int(match.group(1)) * 1024, 'MemAvailable') if match \
      else (math.inf, None)
  for limit_path, usage_path in (
      ('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory.current'),
      ('/sys/fs/cgroup/memory/memory.limit_in_bytes',
       '/sys/fs/cgroup/memory/memory.usage_in_bytes')):
    limit, usage = _read(limit_path), _read(usage_path)
    if limit is None or usage is None or not limit.strip().isdigit():
      continue
    limit, usage = int(limit), int(usage)
    if limit < 2**60 and limit - usage < available:
      available, source = max(limit - usage, 0), 'the cgroup memory limit'
  return available, source


def check(config):
  """Raises ValueError, one line, if the estimate exceeds what is available.

  Returns:
    The estimate, {'replay': bytes, 'learner': bytes}.
  """
  needed = estimate(config)
  available, source = available_bytes()
  total = sum(needed.values())
  if total <= available:
    return needed
  parts, advice = [], []
  if needed['replay']:
    parts.append('replay buffer of %d trajectories %.2f GiB' % (
        config.replay_buffer_size, needed['replay'] / GIB))
    advice.append('lower --replay_buffer_size')
  parts.append('learner at batch %d x unroll %d %.2f GiB' % (
      config.batch_size, config.unroll_length, needed['learner'] / GIB))
  advice.append('lower --batch_size or --unroll_length')
  raise ValueError(
      'not enough memory: the learner needs an estimated %.2f GiB (%s) but '
      '%.2f GiB is available (%s): %s, or pass --skip_memory_check.' % (
          total / GIB, ', '.join(parts), available / GIB, source,
          ', '.join(advice)))
