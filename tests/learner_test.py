# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""learner.py: the diagnostics of the update against NumPy; synchronous
learners (`num_learners`) and device placement.

K learners on K logical CPU devices must compute the one-learner update:
the same loss and gradients on the same batch, the same parameters after
a few updates. Each replica's ops run on its own device, the StagingArea
of each part on its replica's device, the variables on the host CPU.
"""

import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

import actor as actor_lib
import config as config_lib
import environments
import learner as learner_lib
import networks
import vtrace

def _config(gradient_clipping):
  return config_lib.Config(
      level_set=None, num_actions=4, total_environment_frames=100,
      num_actors=1, envs_per_actor=1, batch_size=2, unroll_length=3,
      num_action_repeats=4, network='shallow', core='feedforward',
      use_instruction=False, entropy_cost=0.01, baseline_cost=0.5,
      discounting=0.99, reward_clipping='abs_one',
      gradient_clipping=gradient_clipping, learning_rate=0.1, decay=.99,
      momentum=0., epsilon=.1, full_action_space=False)


def test_diagnostics_equal_numpy():
  rng = np.random.RandomState(0)
  t_len, batch, num_actions = 3, 2, 4
  logits = rng.randn(t_len, batch, num_actions)
  logits[0, 0] = 0.  # One uniform step: distance 0, entropy ln 4.
  actions = rng.randint(num_actions, size=(t_len, batch))
  pg_advantages, vs, values = rng.randn(3, t_len, batch)
  with tf.Graph().as_default():
    logits_t = tf.constant(logits, tf.float32)
    values_t = tf.constant(values, tf.float32)
    losses = dict(
        policy_gradient_loss=learner_lib.compute_policy_gradient_loss(
            vtrace.log_probs_from_logits_and_actions(
                logits_t, tf.constant(actions)),
            tf.constant(pg_advantages, tf.float32)),
        baseline_loss=0.5 * learner_lib.compute_baseline_loss(
            tf.constant(vs, tf.float32) - values_t),
        entropy_loss=0.01 * learner_lib.compute_entropy_loss(logits_t))
    diagnostics = learner_lib.compute_diagnostics(
        networks.AgentOutput(None, logits_t, values_t), losses)
    with tf.compat.v1.Session() as session:
      got = session.run(diagnostics)

  log_pi = logits - np.log(np.sum(np.exp(logits), -1, keepdims=True))
  pi = np.exp(log_pi)
  entropy = -np.sum(pi * log_pi, -1)
  one_hot = np.eye(num_actions)[actions]
  expected = dict(
      pg_logits_gradient_norm=np.linalg.norm(
          pg_advantages[..., None] * (pi - one_hot)),
      baseline_gradient_norm=np.linalg.norm(0.5 * (vs - values)),
      entropy_logits_gradient_norm=np.linalg.norm(
          0.01 * pi * (log_pi + entropy[..., None])),
      policy_entropy=entropy.mean(),
      policy_entropy_ratio=entropy.mean() / np.log(num_actions),
      policy_distance_from_uniform=np.mean(
          0.5 * np.sum(np.abs(pi - 0.25), -1)),
      mean_value=values.mean())
  assert set(got) == set(expected)
  for name, value in expected.items():
    np.testing.assert_allclose(got[name], value, rtol=1e-5, err_msg=name)


def test_uniform_policy_has_no_entropy_gradient_and_zero_distance():
  with tf.Graph().as_default(), tf.compat.v1.Session() as session:
    logits = tf.zeros([2, 3, 6])
    entropy_gradient = tf.gradients(learner_lib.compute_entropy_loss(logits),
                                    logits)[0]
    got = session.run(dict(
        gradient=entropy_gradient,
        entropy=learner_lib.policy_entropy(logits),
        distance=learner_lib.distance_from_uniform(logits),
        deterministic=learner_lib.distance_from_uniform(
            tf.constant([[[50., 0., 0., 0., 0., 0.]]]))))
  np.testing.assert_allclose(got['gradient'], 0., atol=1e-7)
  np.testing.assert_allclose(got['entropy'], np.log(6), rtol=1e-6)
  np.testing.assert_allclose(got['distance'], 0., atol=1e-7)
  np.testing.assert_allclose(got['deterministic'], 5. / 6, rtol=1e-5)


def test_apply_gradients_reports_clipping():
  """Norm 80 against a threshold of 40 is clipped (ratio 2); 20 is not."""
  results = []
  for norm in (80., 20.):
    with tf.Graph().as_default():
      variable = tf.compat.v1.get_variable('w', initializer=[0., 0.])
      _, stats = learner_lib.apply_gradients(
          [tf.constant([0.6 * norm, 0.8 * norm])], [variable], 1, _config(40.))
      with tf.compat.v1.Session() as session:
        session.run(tf.compat.v1.global_variables_initializer())
        results.append(session.run(stats))
  np.testing.assert_allclose([r['gradient_norm'] for r in results], [80, 20],
                             rtol=1e-6)
  np.testing.assert_allclose([r['gradient_clip_ratio'] for r in results],
                             [2., .5], rtol=1e-6)
  assert [r['gradient_clipped'] for r in results] == [1., 0.]
  with tf.Graph().as_default():
    variable = tf.compat.v1.get_variable('w', initializer=[0.])
    _, stats = learner_lib.apply_gradients([tf.constant([1.])], [variable], 1,
                                           _config(0.))
  assert 'gradient_clipped' not in stats  # No clipping, no clipping stats.


# ---------------------------------------------------------------------------
# Synchronous learners.

nest = tf.nest

T, B, NUM_ACTIONS = 5, 8, 3  # B divisible by K = 1, 2, 4.
FRAME = [24, 20, 1]  # The smallest frame the shallow torso takes.


def make_config(num_learners, **kwargs):
  values = dict(
      level_set=None, num_actions=NUM_ACTIONS, total_environment_frames=10**6,
      num_actors=1, envs_per_actor=B, batch_size=B, unroll_length=T,
      num_action_repeats=4, network='shallow', core='lstm',
      use_instruction=False, entropy_cost=0.01, baseline_cost=0.5,
      discounting=0.99, reward_clipping='abs_one', gradient_clipping=40.,
      learning_rate=0.01, decay=.99, momentum=0., epsilon=.01,
      full_action_space=False, learner_device='cpu',
      num_learners=num_learners)
  values.update(kwargs)
  return config_lib.Config(**values)


def make_batch(seed=0):
  """A time-major ActorOutput of NumPy arrays: [T+1, B] steps, LSTM state."""
  rng = np.random.RandomState(seed)
  shape = [T + 1, B]
  return actor_lib.ActorOutput(
      level_name=np.array([b'level_%d' % b for b in range(B)]),
      agent_state=(rng.randn(B, 256).astype(np.float32),
                   rng.randn(B, 256).astype(np.float32)),
      env_outputs=environments.StepOutput(
          reward=(rng.randn(*shape) * 2).astype(np.float32),
          info=environments.StepOutputInfo(
              episode_return=rng.randn(*shape).astype(np.float32),
              episode_step=rng.randint(0, 9, shape).astype(np.int32),
              game_over=rng.rand(*shape) < .2),
          done=rng.rand(*shape) < .2,
          observation=(rng.randint(0, 256, shape + FRAME).astype(np.uint8),
                       np.full(shape, b''))),
      agent_outputs=networks.AgentOutput(
          action=rng.randint(0, NUM_ACTIONS, shape).astype(np.int32),
          policy_logits=rng.randn(*(shape + [NUM_ACTIONS])).astype(
              np.float32),
          baseline=rng.randn(*shape).astype(np.float32)))


def build_agent(config, data):
  """The agent with its variables created on the host CPU, as actors do."""
  agent = networks.Agent(config.num_actions, torso=config.network,
                         core=config.core, use_instruction=False)
  with learner_lib.variables_on(learner_lib.HOST_DEVICE):
    agent((data.agent_outputs.action[0, :1],
           nest.map_structure(lambda t: t[0, :1], data.env_outputs)),
          agent.initial_state(1))
  return agent


def constant_batch(batch):
  data = nest.map_structure(tf.constant, batch)
  return data._replace(agent_state=snt.LSTMState(*data.agent_state))


def session(config):
  return tf.compat.v1.Session(
      config=learner_lib.session_config(1, config))


def loss_and_gradients(num_learners, batch, parameters):
  """Summed loss (and its parts) and gradients of K replicas, one batch."""
  config = make_config(num_learners)
  with tf.Graph().as_default():
    data = constant_batch(batch)
    agent = build_agent(config, data)
    parts = learner_lib.split_batch(data, num_learners)
    gradients, stats, level_name, env_outputs = learner_lib.build_replicas(
        agent, parts, config)
    assign = [v.assign(p) for v, p in zip(agent.trainable_variables,
                                            parameters)]
    with session(config) as sess:
      sess.run(tf.compat.v1.local_variables_initializer())
      sess.run(assign)
      return sess.run((stats, gradients, level_name, env_outputs.done))


def train(num_learners, batches, parameters):
  """Parameters and stats after one learner step on each batch."""
  config = make_config(num_learners)
  with tf.Graph().as_default():
    feeds = nest.map_structure(
        lambda a: tf.compat.v1.placeholder(tf.as_dtype(a.dtype), a.shape),
        batches[0])
    data = feeds._replace(
        agent_state=snt.LSTMState(*feeds.agent_state))
    agent = build_agent(config, data)
    outputs = learner_lib.build_learner(agent, data, config)
    assign = [v.assign(p) for v, p in zip(agent.trainable_variables,
                                            parameters)]
    with session(config) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(tf.compat.v1.local_variables_initializer())
      sess.run(assign)
      stats = []
      for batch in batches:
        feed = dict(zip(nest.flatten(feeds), nest.flatten(batch)))
        stats.append(sess.run(outputs, feed).stats)
      return sess.run(agent.trainable_variables), stats


@pytest.fixture(scope='module')
def parameters():
  """Initial parameters, shared by every K (random, from one graph)."""
  config = make_config(1)
  with tf.Graph().as_default():
    agent = build_agent(config, constant_batch(make_batch()))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      return sess.run(agent.trainable_variables)


@pytest.fixture(scope='module')
def one_learner(parameters):
  """One learner's loss, gradients, ... on make_batch(), computed once."""
  return loss_and_gradients(1, make_batch(), parameters)


@pytest.fixture(scope='module')
def one_learner_training(parameters):
  """One learner's parameters and stats after TRAIN_BATCHES, once."""
  return train(1, TRAIN_BATCHES, parameters)


TRAIN_BATCHES = [make_batch(seed) for seed in range(3)]


def assert_close(actual, expected, rtol=2e-5, atol=2e-6):
  nest.map_structure(
      lambda a, e: np.testing.assert_allclose(a, e, rtol=rtol, atol=atol),
      actual, expected)


@pytest.mark.parametrize('num_learners', [2, 4])
def test_replicas_sum_to_the_one_learner_loss_and_gradients(
    num_learners, parameters, one_learner):
  batch = make_batch()
  one = one_learner
  k = loss_and_gradients(num_learners, batch, parameters)
  stats, gradients, level_name, done = k
  # Losses are sums over the batch: the parts' sums add up to it.
  # The diagnostics too: norms over the batch, means per step.
  assert set(stats) == set(one[0])
  for key in stats:
    np.testing.assert_allclose(stats[key], one[0][key], rtol=1e-4)
  assert abs(one[0]['total_loss']) > 1.  # Not trivially 0 = 0.
  # Summed, not averaged: the same gradients as one learner.
  assert_close(gradients, one[1])
  assert max(np.abs(g).max() for g in one[1]) > 1e-2
  # The parts joined again in the batch's order.
  np.testing.assert_array_equal(level_name, batch.level_name)
  np.testing.assert_array_equal(done, batch.env_outputs.done[1:])


@pytest.mark.parametrize('num_learners', [2, 4])
def test_same_parameters_after_updates(num_learners, parameters,
                                       one_learner_training):
  one_parameters, one_stats = one_learner_training
  k_parameters, k_stats = train(num_learners, TRAIN_BATCHES, parameters)
  moved = max(np.abs(p - q).max() for p, q in zip(one_parameters, parameters))
  assert moved > 1e-3  # The updates did change the parameters.
  assert_close(k_parameters, one_parameters, rtol=1e-4, atol=1e-5)
  for one, k in zip(one_stats, k_stats):
    # The norm of the summed gradients, before clipping, as one learner's.
    np.testing.assert_allclose(k['gradient_norm'], one['gradient_norm'],
                               rtol=1e-4)
    np.testing.assert_allclose(k['total_loss'], one['total_loss'], rtol=1e-4)


# ---------------------------------------------------------------------------
# Placement.


def device_index(device):
  spec = tf.DeviceSpec.from_string(device)
  return spec.device_type, spec.device_index


def test_each_replica_on_its_device_staging_area_too():
  num_learners = 4
  config = make_config(num_learners)
  with tf.Graph().as_default() as graph:
    data = constant_batch(make_batch())
    agent = build_agent(config, data)
    stage_op, parts = learner_lib.stage(data, config)
    outputs = learner_lib.build_learner(agent, parts, config)

    # The graph: what each op asks for.
    heavy = ('Conv2D', 'MatMul', 'BiasAdd', 'Relu', 'Conv2DBackpropFilter',
             'StatefulPartitionedCall', 'PartitionedCall')
    replica_ops = {i: [] for i in range(num_learners)}
    for op in graph.get_operations():
      scope = op.name.split('/')[0]
      if scope.startswith('learner_') and op.type in heavy:
        replica_ops[int(scope[len('learner_'):])].append(op)
    for i, ops in replica_ops.items():
      assert len(ops) > 10, i
      assert {device_index(op.device) for op in ops} == {('CPU', i)}
    vtrace_calls = [op for op in graph.get_operations()
                    if op.type.endswith('PartitionedCall')]
    assert {device_index(op.device)[1] for op in vtrace_calls} == set(
        range(num_learners))  # One XLA V-trace call per replica.
    stages = [op for op in graph.get_operations()
              if op.type in ('Stage', 'Unstage')]
    assert sorted(device_index(op.device)[1] for op in stages) == sorted(
        2 * list(range(num_learners)))
    for variable in list(agent.trainable_variables) + [
        tf.compat.v1.train.get_global_step()]:
      assert device_index(variable.device) == ('CPU', 0), variable.name

    # The run: where each replica's convolutions did execute.
    with session(config) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(tf.compat.v1.local_variables_initializer())
      sess.run(stage_op)
      metadata = tf.compat.v1.RunMetadata()
      sess.run((outputs, stage_op), options=tf.compat.v1.RunOptions(
          trace_level=tf.compat.v1.RunOptions.FULL_TRACE),
               run_metadata=metadata)
  ran = {}
  for device in metadata.step_stats.dev_stats:
    for node in device.node_stats:
      if node.node_name.startswith('learner_') and 'Conv2D' in (
          node.timeline_label or node.node_name):
        scope = node.node_name.split('/')[0]
        ran.setdefault(scope, set()).add(device_index(device.device))
  assert ran == {'learner_%d' % i: {('CPU', i)} for i in range(num_learners)}


def test_session_config_gives_k_logical_cpus():
  with tf.Graph().as_default(), session(make_config(3)) as sess:
    devices = sess.list_devices()
    learner_lib.check_devices(devices, make_config(3))
    with pytest.raises(ValueError, match='/cpu:3 is not in the session'):
      learner_lib.check_devices(devices, make_config(4))
  assert len([d for d in devices if d.device_type == 'CPU']) == 3


def test_describe_devices():
  assert learner_lib.describe_devices(make_config(1, learner_device='gpu')) == (
      '1 learner on /gpu:0; variables on /cpu:0')
  assert learner_lib.describe_devices(make_config(2)) == (
      '2 learners on /cpu:0, /cpu:1 (logical devices); variables on /cpu:0')


@pytest.mark.parametrize('requested,k,batch,gpus,expected', [
    (None, 1, 32, 0, 'cpu'),
    (None, 1, 32, 1, 'gpu'),
    ('cpu', 4, 32, 8, 'cpu'),
    (None, 8, 32, 8, 'gpu'),
    ('gpu', 8, 32, None, 'gpu'),  # An actor task: not checked.
    (None, 4, 32, 0, 'cpu'),      # Logical CPU devices.
])
def test_resolve_learner_device(requested, k, batch, gpus, expected):
  assert config_lib.resolve_learner_device(requested, k, batch,
                                           gpus) == expected


@pytest.mark.parametrize('requested,k,batch,gpus,message', [
    (None, 0, 32, 0, '--num_learners must be >= 1'),
    (None, 3, 32, 0, '--batch_size=32 does not split into --num_learners=3'),
    ('gpu', 1, 32, 0, 'TensorFlow sees 0'),
    (None, 4, 32, 2, '--num_learners=4 needs as many GPUs'),
])
def test_resolve_learner_device_rejects(requested, k, batch, gpus, message):
  with pytest.raises(ValueError, match=message):
    config_lib.resolve_learner_device(requested, k, batch, gpus)
