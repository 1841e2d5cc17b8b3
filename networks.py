# Copyright the project authors. Licensed under the Apache License 2.0.
"""The IMPALA agent networks (paper section 5, Figure 3) as Sonnet 2 modules.

One `Agent` module, parameterised by

  * the torso: `shallow` (Mnih et al. 2016: conv 16 8x8/4, conv 32 4x4/2,
    FC 256) or `deep` (3 sections of conv 3x3 + max-pool 3x3/2 + 2 residual
    blocks, channels 16, 32, 32; then FC 256; 15 conv layers in all);
  * the core: `lstm` (LSTM 256 whose state is reset where an episode starts)
    or `feedforward` (no core; Atari agents, paper section 5.3);
  * `use_instruction`: the DMLab language input (words hashed into 1000
    buckets, embedding 20, LSTM 64, last valid output), as in the release.

Beside the frame (uint8, scaled to [0, 1] inside the network) the agent sees
the last reward clipped to [-1, 1] and the one-hot last action; these are
concatenated with the torso output (and the language output) in front of the
core. The heads give the policy logits (one per action) and the baseline
V(x_t) (a scalar); the action is sampled from the logits.

Two entry points share the same variables:

  * `agent((last_action, env_output), core_state)`: one step, leaves `[B]`
    (actors);
  * `agent.unroll(actions, env_outputs, core_state)`: leaves `[T, B]`
    (learner). Time is folded into batch for the torso and the heads (paper
    section 3.1); only the LSTM steps through time.

In both the LSTM state is reset to `initial_state` for the batch entries whose
`done` is True *before* that step is processed: `done[t]` marks that
`env_output[t]` is the first observation of a new episode.

Everything builds eagerly, inside `tf.function`, and inside
`with tf.Graph().as_default():` for the `tf.compat.v1` sessions that run the
actors and the learner.
"""

import collections

import sonnet as snt
import tensorflow as tf

AgentOutput = collections.namedtuple('AgentOutput',
                                     'action policy_logits baseline')

TORSOS = ('shallow', 'deep')
CORES = ('lstm', 'feedforward')

NUM_HASH_BUCKETS = 1000
INSTRUCTION_EMBEDDING_SIZE = 20
INSTRUCTION_LSTM_SIZE = 64
TORSO_OUTPUT_SIZE = 256
CORE_SIZE = 256

# Sonnet 2 asserts, once, at the first module construction, that eager mode
# is on. Constructing one small module here, at import (always eager), meets
# that check so that agents can later be built inside tf.compat.v1 graphs.
with tf.init_scope():
  snt.Linear(1, name='eager_check')


def _check_frame(frame, min_height=1, min_width=1):
  """Frames must be `[N, H, W, C]` with static H, W, C (NHWC)."""
  shape = frame.shape
  if shape.rank != 4 or not shape[1:].is_fully_defined():
    raise ValueError(
        'frame must have shape [batch, height, width, channels] with static '
        'height, width and channels; got %s' % (shape,))
  if shape[1] < min_height or shape[2] < min_width:
    raise ValueError(
        'frame of shape %s is too small for this torso (needs height >= %d '
        'and width >= %d)' % (shape, min_height, min_width))


class ShallowTorso(snt.Module):
  """The shallow network of Mnih et al. (2016) (paper Figure 3, left).

  `[N, H, W, C]` float frames -> `[N, 256]`:
  conv 16 8x8 stride 4 VALID, ReLU, conv 32 4x4 stride 2 VALID, ReLU,
  flatten, Linear 256, ReLU.
  """

  def __init__(self, name='shallow_torso'):
    super().__init__(name=name)
    self._conv1 = snt.Conv2D(16, 8, stride=4, padding='VALID', name='conv_1')
    self._conv2 = snt.Conv2D(32, 4, stride=2, padding='VALID', name='conv_2')
    self._linear = snt.Linear(TORSO_OUTPUT_SIZE, name='linear')

  def __call__(self, frame):
    # Two VALID convs need 8 + 4 * (4 - 1) = 20 pixels along each axis.
    _check_frame(frame, min_height=20, min_width=20)
    x = tf.nn.relu(self._conv1(frame))
    x = tf.nn.relu(self._conv2(x))
    x = snt.flatten(x)
    return tf.nn.relu(self._linear(x))


class DeepTorso(snt.Module):
  """The deep residual network of paper Figure 3 (right), as in the release.

  `[N, H, W, C]` float frames -> `[N, 256]`. Three sections with 16, 32, 32
  channels, each: conv 3x3 SAME, max-pool 3x3 stride 2 SAME, then two
  residual blocks `x + conv(relu(conv(relu(x))))`. Then ReLU, flatten,
  Linear 256, ReLU. 15 conv layers in all.
  """

  def __init__(self, sections=((16, 2), (32, 2), (32, 2)), name='deep_torso'):
    super().__init__(name=name)
    self._sections = []
    for i, (channels, num_blocks) in enumerate(sections):
      down = snt.Conv2D(channels, 3, padding='SAME', name='conv_%d' % i)
      blocks = [(snt.Conv2D(channels, 3, padding='SAME',
                            name='res_%d_%d_conv_a' % (i, j)),
                 snt.Conv2D(channels, 3, padding='SAME',
                            name='res_%d_%d_conv_b' % (i, j)))
                for j in range(num_blocks)]
      self._sections.append((down, blocks))
    self._linear = snt.Linear(TORSO_OUTPUT_SIZE, name='linear')

  def __call__(self, frame):
    _check_frame(frame)
    x = frame
    for down, blocks in self._sections:
      x = down(x)
      x = tf.nn.max_pool2d(x, ksize=3, strides=2, padding='SAME')
      for conv_a, conv_b in blocks:
        x += conv_b(tf.nn.relu(conv_a(tf.nn.relu(x))))
    x = snt.flatten(tf.nn.relu(x))
    return tf.nn.relu(self._linear(x))


class LSTM(snt.RNNCore):
  """LSTM with the equations, variables and initialisation of `snt.LSTM`.

  Split into an input projection `x W_i + b`, which `Agent.unroll` applies
  to all T steps at once (one large matmul instead of T small ones, time
  folded into batch as in paper section 3.1), and the recurrent `step`:

    gates = project(x_t) + h_{t-1} W_h;  i, f, g, o = split(gates)
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
    h_t = sigmoid(o) * tanh(c_t)

  The forget-gate bias starts at 1. State: `snt.LSTMState(hidden, cell)`,
  each `[B, hidden_size]`; the output is `h_t`.
  """

  def __init__(self, hidden_size, forget_bias=1.0, name='lstm'):
    super().__init__(name=name)
    self._hidden_size = hidden_size
    self._forget_bias = forget_bias

  @snt.once
  def _initialize(self, inputs):
    input_size = inputs.shape[-1]
    if input_size is None:
      raise ValueError('LSTM inputs need a static last dimension; got %s' %
                       (inputs.shape,))
    hidden = self._hidden_size
    self.w_i = tf.Variable(snt.initializers.TruncatedNormal(
        stddev=1.0 / input_size ** 0.5)([input_size, 4 * hidden], tf.float32),
                           name='w_i')
    self.w_h = tf.Variable(snt.initializers.TruncatedNormal(
        stddev=1.0 / hidden ** 0.5)([hidden, 4 * hidden], tf.float32),
                           name='w_h')
    forget = tf.one_hot(1, 4, on_value=float(self._forget_bias))
    self.b = tf.Variable(tf.repeat(forget, hidden), name='b')

  def initial_state(self, batch_size):
    zeros = tf.zeros([batch_size, self._hidden_size], tf.float32)
    return snt.LSTMState(hidden=zeros, cell=zeros)

  def project(self, inputs):
    """`[N, D]` inputs -> `[N, 4 * hidden_size]` input part of the gates."""
    self._initialize(inputs)
    return tf.matmul(inputs, self.w_i) + self.b

  def step(self, projected_inputs, prev_state):
    """One step from `project(x_t)`; returns `(h_t, LSTMState(h_t, c_t))`."""
    gates = projected_inputs + tf.matmul(prev_state.hidden, self.w_h)
    i, f, g, o = tf.split(gates, 4, axis=1)
    cell = tf.sigmoid(f) * prev_state.cell + tf.sigmoid(i) * tf.tanh(g)
    hidden = tf.sigmoid(o) * tf.tanh(cell)
    return hidden, snt.LSTMState(hidden=hidden, cell=cell)

  def __call__(self, inputs, prev_state):
    return self.step(self.project(inputs), prev_state)


class InstructionEncoder(snt.Module):
  """The DMLab language input, as in the release.

  `[N]` tf.string instructions -> `[N, 64]`: each string is split on
  whitespace, each word hashed into `NUM_HASH_BUCKETS` buckets
  (tf.strings.to_hash_bucket_fast; collisions are possible), embedded in 20
  dimensions and read by an LSTM 64. The output is the LSTM output after the
  last word of each instruction (zeros for an empty instruction).
  """

  def __init__(self, name='instruction'):
    super().__init__(name=name)
    self._lstm = LSTM(INSTRUCTION_LSTM_SIZE, name='language_lstm')
    self._embed = None  # snt.Embed makes its variable at construction.

  def __call__(self, instruction):
    instruction = tf.convert_to_tensor(instruction, tf.string)
    if instruction.shape.rank != 1:
      raise ValueError('instruction must be a [batch] tf.string tensor; got '
                       'shape %s' % (instruction.shape,))
    if self._embed is None:
      # Made at the first call so that the variable lands in the graph (or
      # function) where the agent is first used.
      with self.name_scope:
        self._embed = snt.Embed(NUM_HASH_BUCKETS, INSTRUCTION_EMBEDDING_SIZE,
                                name='embed')
    # An instruction usually stays the same for a whole episode, so the
    # [T * B] instructions of an unroll hold few distinct strings: encode
    # each distinct one once and gather (same result, far less work).
    instruction, index = tf.unique(instruction)
    words = tf.strings.split(instruction)  # Ragged [U, (L)], no empty words.
    lengths = tf.cast(words.row_lengths(), tf.int32)
    buckets = tf.strings.to_hash_bucket_fast(words.flat_values,
                                             NUM_HASH_BUCKETS)
    # Embed and project every word at once, then pad to [L, U, 4 * 64].
    projected = self._lstm.project(self._embed(buckets))
    projected = tf.transpose(words.with_flat_values(projected).to_tensor(),
                             [1, 0, 2])
    num_steps = tf.shape(projected)[0]  # The longest instruction; may be 0.
    inputs = tf.TensorArray(tf.float32, size=num_steps).unstack(projected)

    def body(t, state):
      _, new_state = self._lstm.step(inputs.read(t), state)
      # Past its last word an instruction keeps its state: the final hidden
      # state is the output after the last word (zeros when empty).
      ended = tf.expand_dims(t >= lengths, -1)
      return t + 1, tf.nest.map_structure(
          lambda old, new: tf.where(ended, old, new), state, new_state)

    state_shape = tf.TensorShape([None, INSTRUCTION_LSTM_SIZE])
    _, final_state = tf.while_loop(
        lambda t, _: t < num_steps, body,
        (tf.constant(0), self._lstm.initial_state(tf.shape(instruction)[0])),
        shape_invariants=(tf.TensorShape([]),
                          snt.LSTMState(state_shape, state_shape)))
    return tf.gather(final_state.hidden, index)


class Agent(snt.Module):
  """The IMPALA agent: torso, optional language input, core, heads.

  Attributes are built once; the single-step call and `unroll` share them.
  """

  def __init__(self, num_actions, torso='shallow', core='lstm',
               use_instruction=False, name='agent'):
    """Builds the modules (variables are made at the first call).

    Args:
      num_actions: size of the discrete action set A (positive int).
      torso: 'shallow' or 'deep' (paper Figure 3).
      core: 'lstm' (LSTM 256) or 'feedforward' (no core).
      use_instruction: if True, embed the instruction string (DMLab).
      name: module name.

    Raises:
      ValueError: on a bad `num_actions`, `torso` or `core`.
    """
    if (isinstance(num_actions, bool) or not isinstance(num_actions, int) or
        num_actions < 1):
      raise ValueError('num_actions must be a positive int; got %r' %
                       (num_actions,))
    if torso not in TORSOS:
      raise ValueError('torso must be one of %s; got %r' % (TORSOS, torso))
    if core not in CORES:
      raise ValueError('core must be one of %s; got %r' % (CORES, core))
    super().__init__(name=name)
    self._num_actions = num_actions
    self._use_lstm = core == 'lstm'
    self._torso = ShallowTorso() if torso == 'shallow' else DeepTorso()
    self._instruction = InstructionEncoder() if use_instruction else None
    self._core = LSTM(CORE_SIZE, name='core_lstm') if self._use_lstm else None
    self._policy_logits = snt.Linear(num_actions, name='policy_logits')
    self._baseline = snt.Linear(1, name='baseline')

  @property
  def num_actions(self):
    return self._num_actions

  def initial_state(self, batch_size):
    """Zero LSTM state `snt.LSTMState([B, 256], [B, 256])`, or `()`."""
    if self._use_lstm:
      return self._core.initial_state(batch_size)
    return ()

  def _features(self, last_action, env_output):
    """Everything before the core, on `[N]`-batched inputs -> `[N, F]`.

    F = 256 (torso) + 1 (clipped reward) + num_actions (one-hot last action)
    [+ 64 (instruction)].
    """
    frame, instruction = env_output.observation
    frame = tf.convert_to_tensor(frame)
    if frame.dtype != tf.uint8:
      raise ValueError('frame must be uint8; got %s' % frame.dtype.name)
    frame = tf.cast(frame, tf.float32) * (1.0 / 255.0)
    features = [
        self._torso(frame),
        tf.expand_dims(tf.clip_by_value(
            tf.cast(env_output.reward, tf.float32), -1.0, 1.0), -1),
        tf.one_hot(last_action, self._num_actions, dtype=tf.float32),
    ]
    if self._instruction is not None:
      features.append(self._instruction(instruction))
    return tf.concat(features, axis=1)

  def _reset(self, done, core_state):
    """Zeroes (= initial_state) the state rows whose episode starts here."""
    done = tf.expand_dims(tf.convert_to_tensor(done, tf.bool), -1)
    return tf.nest.map_structure(lambda s: tf.where(done, 0.0, s), core_state)

  def _head(self, core_output):
    """`[N, D]` -> AgentOutput(action [N] int32, logits [N, A], baseline [N])."""
    policy_logits = self._policy_logits(core_output)
    baseline = tf.squeeze(self._baseline(core_output), axis=-1)
    action = tf.squeeze(
        tf.random.categorical(policy_logits, 1, dtype=tf.int32), axis=-1)
    return AgentOutput(action, policy_logits, baseline)

  def __call__(self, inputs, core_state):
    """One step for the actors.

    Args:
      inputs: `(last_action, env_output)`; last_action int32/int64 `[B]`;
        env_output a StepOutput-like namedtuple with `reward` float32 `[B]`,
        `done` bool `[B]` and `observation = (frame uint8 [B, H, W, C],
        instruction tf.string [B])`; its `info` is ignored.
      core_state: `initial_state(B)` or the state returned by the last call.

    Returns:
      `(AgentOutput(action [B] int32, policy_logits [B, A], baseline [B]),
      new_core_state)`.
    """
    last_action, env_output = inputs
    features = self._features(last_action, env_output)
    if self._use_lstm:
      core_state = self._reset(env_output.done, core_state)
      features, core_state = self._core(features, core_state)
    return self._head(features), core_state

  def unroll(self, actions, env_outputs, core_state):
    """Runs the agent over `T` steps for the learner.

    Args:
      actions: int32/int64 `[T, B]`, the last action before each step.
      env_outputs: StepOutput-like namedtuple with `[T, B]` leaves (as in
        `__call__`; frames `[T, B, H, W, C]`). T must be static for the lstm
        core.
      core_state: the core state before step 0.

    Returns:
      `(AgentOutput with [T, B, ...] leaves, core state after step T-1)`.
    """
    actions = tf.convert_to_tensor(actions)
    frame, instruction = env_outputs.observation
    if self._instruction is None:
      instruction = None  # Unused: no string ops (keeps unroll XLA-friendly).
    merged = [snt.merge_leading_dims(tf.convert_to_tensor(x), 2)
              if x is not None else None
              for x in (actions, env_outputs.reward, frame, instruction)]
    merged_env_outputs = _FlatStep(reward=merged[1],
                                   observation=(merged[2], merged[3]))
    features = self._features(merged[0], merged_env_outputs)  # [T * B, F].

    if self._use_lstm:
      num_steps = actions.shape[0]
      if num_steps is None:
        raise ValueError('unroll with the lstm core needs a static number of '
                         'time steps; actions has shape %s' % (actions.shape,))
      # The input half of the LSTM gates for all steps in one matmul.
      projected = tf.split(self._core.project(features), num_steps, axis=0)
      dones = tf.unstack(tf.convert_to_tensor(env_outputs.done, tf.bool),
                         num=num_steps)
      core_outputs = []
      for projected_t, done_t in zip(projected, dones):
        core_state = self._reset(done_t, core_state)
        output_t, core_state = self._core.step(projected_t, core_state)
        core_outputs.append(output_t)
      features = tf.concat(core_outputs, axis=0)  # Time-major [T * B, 256].

    outputs = self._head(features)
    outputs = AgentOutput(*[snt.split_leading_dim(x, actions, 2)
                            for x in outputs])
    return outputs, core_state


_FlatStep = collections.namedtuple('_FlatStep', 'reward observation')
