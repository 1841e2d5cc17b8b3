"""Tests for networks.py: the IMPALA agent networks (paper Figure 3)."""

import collections
import math

import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

import networks

# Same fields as environments.StepOutput; the network reads them by name.
StepOutput = collections.namedtuple('StepOutput',
                                    'reward info done observation')

CATCH_SHAPE = (40, 20, 1)
DMLAB_SHAPE = (72, 96, 3)
ATARI_SHAPE = (84, 84, 4)


# ---------------------------------------------------------------------------
# Helpers.


def _step(reward, done, frame, instruction):
  return StepOutput(reward=reward, info=(), done=done,
                    observation=(frame, instruction))


def _random_inputs(rng, shape, num_actions, frame_shape=CATCH_SHAPE,
                   instructions=None, done_prob=0.0):
  """Numpy inputs with leading `shape` ([B] or [T, B])."""
  actions = rng.integers(0, num_actions, size=shape).astype(np.int32)
  reward = rng.normal(scale=2.0, size=shape).astype(np.float32)
  done = rng.random(shape) < done_prob
  frame = rng.integers(0, 256, size=shape + frame_shape).astype(np.uint8)
  if instructions is None:
    instruction = np.full(shape, b'', dtype=object)
  else:
    instruction = np.array(
        rng.choice(instructions, size=shape), dtype=object)
  return actions, _step(reward, done, frame, instruction)


def _index(env_output, t):
  return tf.nest.map_structure(lambda x: x[t], env_output)


def _num_params(variables):
  return sum(int(np.prod(v.shape)) for v in variables)


def _build_eagerly(agent, frame_shape, batch_size=1):
  rng = np.random.default_rng(0)
  actions, env_output = _random_inputs(rng, (batch_size,), agent.num_actions,
                                       frame_shape, instructions=[b'a b'])
  return agent((actions, env_output), agent.initial_state(batch_size))


# Layer formulas.
def _conv(k, c_in, c_out):
  return k * k * c_in * c_out + c_out


def _linear(n_in, n_out):
  return n_in * n_out + n_out


def _lstm(n_in, hidden):
  return (n_in + hidden) * 4 * hidden + 4 * hidden


def _valid(n, k, s):
  return (n - k) // s + 1


def _same(n, s):
  return math.ceil(n / s)


def _expected_params(frame_shape, num_actions, torso, core, use_instruction):
  h, w, c = frame_shape
  if torso == 'shallow':
    torso_params = _conv(8, c, 16) + _conv(4, 16, 32)
    h, w = _valid(_valid(h, 8, 4), 4, 2), _valid(_valid(w, 8, 4), 4, 2)
    torso_params += _linear(h * w * 32, 256)
  else:
    torso_params, c_in = 0, c
    for channels in (16, 32, 32):
      torso_params += _conv(3, c_in, channels) + 4 * _conv(3, channels,
                                                          channels)
      h, w, c_in = _same(h, 2), _same(w, 2), channels
    torso_params += _linear(h * w * 32, 256)
  core_input = 256 + 1 + num_actions
  language = 0
  if use_instruction:
    language = 1000 * 20 + _lstm(20, 64)
    core_input += 64
  if core == 'lstm':
    core_params, head_input = _lstm(core_input, 256), 256
  else:
    core_params, head_input = 0, core_input
  heads = _linear(head_input, num_actions) + _linear(head_input, 1)
  return torso_params + language + core_params + heads


# ---------------------------------------------------------------------------
# Parameter counts.


@pytest.mark.parametrize(
    'torso,core,use_instruction,frame_shape,num_actions,reference', [
        # Paper section 5: about 1.2M (shallow) and 1.6M (deep) parameters
        # with the DMLab input, 9 actions and the language input.
        ('shallow', 'lstm', True, DMLAB_SHAPE, 9, 1230426),
        ('deep', 'lstm', True, DMLAB_SHAPE, 9, 1628010),
        ('shallow', 'feedforward', False, ATARI_SHAPE, 6, None),
        ('deep', 'feedforward', False, ATARI_SHAPE, 6, None),
        ('shallow', 'lstm', False, CATCH_SHAPE, 3, None),
    ])
def test_parameter_counts(torso, core, use_instruction, frame_shape,
                          num_actions, reference):
  agent = networks.Agent(num_actions, torso=torso, core=core,
                         use_instruction=use_instruction)
  _build_eagerly(agent, frame_shape)
  count = _num_params(agent.trainable_variables)
  assert count == _expected_params(frame_shape, num_actions, torso, core,
                                   use_instruction)
  if reference is not None:
    assert count == reference
  # 15 conv layers in the deep torso, 2 in the shallow one.
  num_convs = sum(1 for v in agent.trainable_variables
                  if len(v.shape) == 4)
  assert num_convs == (2 if torso == 'shallow' else 15)


def test_catch_frames_give_3x1_shallow_feature_map():
  torso = networks.ShallowTorso()
  out = torso(tf.zeros((2,) + CATCH_SHAPE))
  assert out.shape == (2, 256)
  assert _num_params(torso.trainable_variables) == (
      _conv(8, 1, 16) + _conv(4, 16, 32) + _linear(3 * 1 * 32, 256))


# ---------------------------------------------------------------------------
# Unroll vs single steps, state resets.


@pytest.mark.parametrize('torso', ['shallow', 'deep'])
def test_unroll_equals_single_steps_with_state_carried(torso):
  rng = np.random.default_rng(1)
  num_actions, T, B = 4, 5, 3
  agent = networks.Agent(num_actions, torso=torso, use_instruction=True)
  actions, env_outputs = _random_inputs(
      rng, (T, B), num_actions,
      instructions=[b'', b'go', b'pick the red ball'], done_prob=0.3)
  env_outputs.done[2, 1] = True  # At least one reset inside the unroll.
  state = agent.initial_state(B)
  unrolled, unroll_state = agent.unroll(actions, env_outputs, state)
  assert unrolled.policy_logits.shape == (T, B, num_actions)
  assert unrolled.baseline.shape == (T, B)
  assert unrolled.action.shape == (T, B)
  for t in range(T):
    out, state = agent((actions[t], _index(env_outputs, t)), state)
    np.testing.assert_allclose(out.policy_logits, unrolled.policy_logits[t],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.baseline, unrolled.baseline[t],
                               rtol=1e-5, atol=1e-5)
  for s, u in zip(state, unroll_state):
    np.testing.assert_allclose(s, u, rtol=1e-5, atol=1e-5)


def test_done_resets_the_state_of_that_batch_entry_only():
  rng = np.random.default_rng(2)
  num_actions, T, B = 3, 4, 2
  agent = networks.Agent(num_actions)
  actions, env_outputs = _random_inputs(rng, (T, B), num_actions)
  # A non-zero state to start from: the state after a first unroll.
  _, warm_state = agent.unroll(actions, env_outputs, agent.initial_state(B))
  assert np.abs(warm_state.hidden).min() > 0

  env_outputs.done[2, 0] = True  # Entry 0 starts a new episode at t = 2.
  out, _ = agent.unroll(actions, env_outputs, warm_state)
  no_reset = env_outputs._replace(done=np.zeros((T, B), bool))
  out_no_reset, _ = agent.unroll(actions, no_reset, warm_state)
  # From t = 2 on, entry 0 behaves as if it started from initial_state at t=2.
  tail = tf.nest.map_structure(lambda x: x[2:], no_reset)
  fresh, _ = agent.unroll(actions[2:], tail, agent.initial_state(B))

  logits = out.policy_logits.numpy()
  np.testing.assert_allclose(logits[:2], out_no_reset.policy_logits[:2],
                             rtol=1e-6)
  np.testing.assert_allclose(logits[2:, 0], fresh.policy_logits[:, 0],
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out.baseline[2:, 0], fresh.baseline[:, 0],
                             rtol=1e-5, atol=1e-6)
  # Entry 1 is untouched by entry 0's reset...
  np.testing.assert_allclose(logits[:, 1], out_no_reset.policy_logits[:, 1],
                             rtol=1e-6)
  # ...and the reset did change entry 0 (the state mattered).
  assert not np.allclose(logits[2, 0], out_no_reset.policy_logits[2, 0],
                         rtol=1e-6, atol=1e-7)


def test_single_step_resets_on_done():
  rng = np.random.default_rng(3)
  agent = networks.Agent(3)
  actions, env_output = _random_inputs(rng, (2,), 3, done_prob=0.0)
  _, state = agent((actions, env_output), agent.initial_state(2))
  _, state = agent((actions, env_output), state)
  env_output.done[:] = [True, False]
  out, _ = agent((actions, env_output), state)
  fresh, _ = agent((actions, env_output), agent.initial_state(2))
  np.testing.assert_allclose(out.policy_logits[0], fresh.policy_logits[0],
                             rtol=1e-6)
  assert not np.allclose(out.policy_logits[1], fresh.policy_logits[1],
                         rtol=1e-6, atol=1e-7)


def test_feedforward_has_no_state_dependence():
  rng = np.random.default_rng(4)
  num_actions, T, B = 5, 4, 3
  agent = networks.Agent(num_actions, torso='deep', core='feedforward')
  assert agent.initial_state(B) == ()
  actions, env_outputs = _random_inputs(rng, (T, B), num_actions,
                                        done_prob=0.5)
  out, state = agent.unroll(actions, env_outputs, ())
  assert state == ()
  # Reversing time permutes the outputs: no step depends on another.
  reverse = lambda x: x[::-1]
  out_rev, _ = agent.unroll(actions[::-1],
                            tf.nest.map_structure(reverse, env_outputs), ())
  np.testing.assert_allclose(out.policy_logits, out_rev.policy_logits[::-1],
                             rtol=1e-5, atol=1e-6)
  # Single steps agree, and `done` changes nothing.
  for t in range(T):
    step = _index(env_outputs, t)._replace(done=~env_outputs.done[t])
    step_out, step_state = agent((actions[t], step), ())
    assert step_state == ()
    np.testing.assert_allclose(step_out.policy_logits, out.policy_logits[t],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(step_out.baseline, out.baseline[t],
                               rtol=1e-5, atol=1e-6)


def test_inputs_beside_the_frame_reach_the_output():
  rng = np.random.default_rng(5)
  agent = networks.Agent(4, core='feedforward')
  actions, env_output = _random_inputs(rng, (2,), 4)
  base, _ = agent((actions, env_output), ())
  # Rewards are clipped to [-1, 1]: 5 and 1 give the same output...
  r5 = env_output._replace(reward=np.full(2, 5.0, np.float32))
  r1 = env_output._replace(reward=np.full(2, 1.0, np.float32))
  np.testing.assert_allclose(agent((actions, r5), ())[0].policy_logits,
                             agent((actions, r1), ())[0].policy_logits)
  # ...but the reward and the last action do enter the network.
  r0 = env_output._replace(reward=np.zeros(2, np.float32))
  assert not np.allclose(agent((actions, r0), ())[0].policy_logits,
                         agent((actions, r1), ())[0].policy_logits)
  other = (actions + 1) % 4
  assert not np.allclose(agent((other, env_output), ())[0].policy_logits,
                         base.policy_logits)
  # int64 last actions work too.
  np.testing.assert_allclose(
      agent((actions.astype(np.int64), env_output), ())[0].policy_logits,
      base.policy_logits)


# ---------------------------------------------------------------------------
# Graph mode, variable sharing, tf.function.


def _placeholders(shape, frame_shape):
  v1 = tf.compat.v1
  return (v1.placeholder(tf.int32, shape),
          _step(v1.placeholder(tf.float32, shape),
                v1.placeholder(tf.bool, shape),
                v1.placeholder(tf.uint8, shape + frame_shape),
                v1.placeholder(tf.string, shape)))


@pytest.mark.parametrize('core', ['lstm', 'feedforward'])
def test_v1_session_graph_with_shared_variables(core):
  v1 = tf.compat.v1
  rng = np.random.default_rng(6)
  num_actions, T, B = 3, 3, 2
  with tf.Graph().as_default():
    agent = networks.Agent(num_actions, core=core, use_instruction=True)
    step_in = _placeholders((B,), CATCH_SHAPE)
    step_out, step_state = agent(step_in, agent.initial_state(B))
    num_global = len(v1.global_variables())
    num_trainable = len(v1.trainable_variables())
    assert num_trainable > 0
    unroll_in = _placeholders((T, None), CATCH_SHAPE)  # Dynamic batch.
    unroll_out, _ = agent.unroll(*unroll_in, agent.initial_state(B))
    # A second single-step call too: still the same variables.
    agent(step_in, step_state)
    assert len(v1.global_variables()) == num_global
    assert len(v1.trainable_variables()) == num_trainable
    assert len(agent.trainable_variables) == num_trainable
    grads = tf.gradients(tf.reduce_sum(unroll_out.policy_logits) +
                         tf.reduce_sum(unroll_out.baseline),
                         v1.trainable_variables())
    assert all(g is not None for g in grads)

    actions, env_outputs = _random_inputs(
        rng, (T, B), num_actions, instructions=[b'', b'a b c'],
        done_prob=0.3)
    feed = {unroll_in[0]: actions}
    feed.update(zip(tf.nest.flatten(unroll_in[1]),
                    tf.nest.flatten(env_outputs)))
    feed.update({step_in[0]: actions[0]})
    feed.update(zip(tf.nest.flatten(step_in[1]),
                    tf.nest.flatten(_index(env_outputs, 0))))
    with v1.Session() as sess:
      sess.run(v1.global_variables_initializer())
      s_out, u_out = sess.run((step_out, unroll_out), feed)
  np.testing.assert_allclose(s_out.policy_logits, u_out.policy_logits[0],
                             rtol=1e-5, atol=1e-6)
  assert u_out.action.dtype == np.int32
  assert ((u_out.action >= 0) & (u_out.action < num_actions)).all()


def test_tf_function_step_eagerly_and_inside_a_v1_graph():
  rng = np.random.default_rng(7)
  actions, env_output = _random_inputs(rng, (2,), 3, done_prob=0.5)
  # Eagerly: a tf.function step matches the plain call.
  agent = networks.Agent(3, use_instruction=True)
  step = tf.function(agent)
  out, _ = step((actions, env_output), agent.initial_state(2))
  eager_out, _ = agent((actions, env_output), agent.initial_state(2))
  np.testing.assert_allclose(out.policy_logits, eager_out.policy_logits,
                             rtol=1e-5, atol=1e-6)
  # In a v1 graph: variables made inside the function, then shared with the
  # unroll built outside it.
  v1 = tf.compat.v1
  with tf.Graph().as_default():
    agent = networks.Agent(3, use_instruction=True)
    step = tf.function(agent)
    step_in = _placeholders((2,), CATCH_SHAPE)
    step_out, _ = step(step_in, agent.initial_state(2))
    num_vars = len(v1.global_variables())
    assert num_vars == len(agent.variables) > 0
    unroll_out, _ = agent.unroll(*_placeholders((1, 2), CATCH_SHAPE),
                                 agent.initial_state(2))
    assert len(v1.global_variables()) == num_vars
    feed = {step_in[0]: actions}
    feed.update(zip(tf.nest.flatten(step_in[1]), tf.nest.flatten(env_output)))
    with v1.Session() as sess:
      sess.run(v1.global_variables_initializer())
      result = sess.run(step_out, feed)
  assert result.policy_logits.shape == (2, 3)
  assert np.isfinite(result.policy_logits).all()


# ---------------------------------------------------------------------------
# Action sampling.


def test_sampled_actions_are_valid_and_follow_the_logits():
  rng = np.random.default_rng(8)
  num_actions, B = 6, 256
  agent = networks.Agent(num_actions, core='feedforward')
  actions, env_output = _random_inputs(rng, (B,), num_actions)
  out, _ = agent((actions, env_output), ())
  assert out.action.dtype == tf.int32 and out.action.shape == (B,)
  sampled = out.action.numpy()
  assert ((sampled >= 0) & (sampled < num_actions)).all()
  assert len(np.unique(sampled)) > 1  # Near-uniform initial policy.
  # Sampled from the logits: a huge logit bias for action 4 makes it certain.
  bias = [v for v in agent.trainable_variables
          if 'policy_logits/b' in v.name][0]
  bias.assign(np.eye(num_actions, dtype=np.float32)[4] * 100.0)
  out, _ = agent((actions, env_output), ())
  assert (out.action.numpy() == 4).all()


# ---------------------------------------------------------------------------
# The instruction path.


def test_instruction_encoder_handles_empty_and_varying_lengths():
  encoder = networks.InstructionEncoder()
  all_empty = encoder(tf.constant([b'', b'']))
  assert all_empty.shape == (2, 64)
  np.testing.assert_array_equal(all_empty, np.zeros((2, 64)))

  mixed = encoder(tf.constant([b'pick the red ball', b'', b'go']))
  alone = encoder(tf.constant([b'pick the red ball']))
  short = encoder(tf.constant([b'go', b'go go go go go go']))
  np.testing.assert_allclose(mixed[0], alone[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(mixed[1], np.zeros(64))
  np.testing.assert_allclose(mixed[2], short[0], rtol=1e-5, atol=1e-6)
  assert not np.allclose(short[0], short[1])
  # Runs of spaces are one separator; the output is the LSTM output after
  # the last word.
  np.testing.assert_allclose(encoder(tf.constant([b' pick  the red ball ']))[0],
                             alone[0], rtol=1e-5, atol=1e-6)
  lstm = encoder._lstm  # pylint: disable=protected-access
  ids = tf.strings.to_hash_bucket_fast(['pick', 'the', 'red', 'ball'], 1000)
  embedded = tf.nn.embedding_lookup(
      encoder._embed.embeddings, ids)  # pylint: disable=protected-access
  state = lstm.initial_state(1)
  for t in range(4):
    output, state = lstm(embedded[t:t + 1], state)
  np.testing.assert_allclose(output[0], alone[0], rtol=1e-5, atol=1e-6)


def test_instruction_path_in_a_v1_graph_with_all_empty_strings():
  v1 = tf.compat.v1
  with tf.Graph().as_default():
    encoder = networks.InstructionEncoder()
    instruction = v1.placeholder(tf.string, [None])
    out = encoder(instruction)
    loss = tf.reduce_sum(out)
    grads = tf.gradients(loss, encoder.trainable_variables)
    with v1.Session() as sess:
      sess.run(v1.global_variables_initializer())
      empty = sess.run(out, {instruction: [b'', b'']})
      varied = sess.run(out, {instruction: [b'a b c', b'', b'a']})
      sess.run(grads, {instruction: [b'a b c', b'']})
  np.testing.assert_array_equal(empty, np.zeros((2, 64)))
  np.testing.assert_array_equal(varied[1], np.zeros(64))
  assert np.abs(varied[0]).sum() > 0 and np.abs(varied[2]).sum() > 0


# ---------------------------------------------------------------------------
# Bad arguments.


@pytest.mark.parametrize('kwargs,name', [
    (dict(torso='medium'), 'torso'),
    (dict(core='gru'), 'core'),
    (dict(num_actions=0), 'num_actions'),
    (dict(num_actions=2.5), 'num_actions'),
])
def test_bad_arguments_raise(kwargs, name):
  args = dict(num_actions=3)
  args.update(kwargs)
  with pytest.raises(ValueError, match=name):
    networks.Agent(**args)


def test_bad_frames_raise():
  agent = networks.Agent(3)
  rng = np.random.default_rng(9)
  actions, env_output = _random_inputs(rng, (1,), 3, frame_shape=(16, 16, 1))
  with pytest.raises(ValueError, match='frame'):
    agent((actions, env_output), agent.initial_state(1))
  actions, env_output = _random_inputs(rng, (1,), 3, frame_shape=(16, 16))
  with pytest.raises(ValueError, match='frame'):
    networks.Agent(3, torso='deep')((actions, env_output),
                                    agent.initial_state(1))


# ---------------------------------------------------------------------------
# The LSTM.


def test_lstm_matches_sonnet_lstm_and_its_initialisation():
  rng = np.random.default_rng(10)
  inputs = tf.constant(rng.normal(size=(3, 7)).astype(np.float32))
  ours = networks.LSTM(5)
  ours(inputs, ours.initial_state(3))
  theirs = snt.LSTM(5)
  theirs(inputs, theirs.initial_state(3))
  # Same variables, shapes and initial biases (forget gate at 1).
  assert [v.shape for v in (ours.w_i, ours.w_h, ours.b)] == [
      v.shape for v in (theirs.input_to_hidden, theirs.hidden_to_hidden,
                        theirs.b)]
  np.testing.assert_array_equal(ours.b, theirs.b)
  assert abs(np.std(ours.w_i.numpy()) - np.std(
      theirs.input_to_hidden.numpy())) < 0.15
  # Same function of the same weights, over several steps.
  ours.w_i.assign(theirs.input_to_hidden)
  ours.w_h.assign(theirs.hidden_to_hidden)
  ours.b.assign(theirs.b + 0.1)
  theirs.b.assign(theirs.b + 0.1)
  state_ours, state_theirs = ours.initial_state(3), theirs.initial_state(3)
  for _ in range(3):
    out_ours, state_ours = ours(inputs, state_ours)
    out_theirs, state_theirs = theirs(inputs, state_theirs)
    np.testing.assert_allclose(out_ours, out_theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state_ours.cell, state_theirs.cell,
                               rtol=1e-5, atol=1e-6)
