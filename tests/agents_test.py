# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The paper's baselines (--agent, a3c.py, a2c.py): A3C's gradient against
NumPy, concurrent A3C workers, synchronous A2C without policy lag, catch
learned by each architecture, test mode, and the entry points' refusals."""

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

import a2c
import a3c
import actor as actor_lib
import config as config_lib
import environments
import experiment_test
import learner as learner_lib
import levels as levels_lib
import networks
import py_process

ROOT = experiment_test.ROOT
nest = tf.nest

# The flags of the learning tests below (docs/baselines.md): each learns
# catch (mean return >= 0.9 over the last 100 games) within its budget in
# well under a minute on 2 cores.
CATCH_FLAGS = {
    'a3c': ['--num_actors=4', '--envs_per_actor=1',
            '--total_environment_frames=40000'],
    'a2c_sync_step': ['--num_actors=2', '--envs_per_actor=4',
                      '--learning_rate=0.004',
                      '--total_environment_frames=60000'],
    'a2c_sync_traj': ['--num_actors=2', '--envs_per_actor=4',
                      '--learning_rate=0.004',
                      '--total_environment_frames=60000'],
}


parsed_flags = experiment_test.parsed_flags  # The fixture.


def catch_config(agent, **overrides):
  """A small resolved catch Config for `--agent=agent`."""
  return config_lib.Config(
      level_set=None, num_actions=3, total_environment_frames=100000,
      num_actors=2, envs_per_actor=2, batch_size=1, unroll_length=5,
      num_action_repeats=1, network='shallow', core='feedforward',
      use_instruction=False, entropy_cost=0.01, baseline_cost=0.5,
      discounting=0.99, reward_clipping='abs_one', gradient_clipping=40.,
      learning_rate=0.002, decay=.99, momentum=0., epsilon=.01,
      full_action_space=False, off_policy_correction='none',
      agent=agent)._replace(level_set=levels_lib.resolve('catch'), **overrides)


def test_resolved_baselines_are_on_policy_with_their_batch(parsed_flags):
  parsed_flags.agent = 'a3c'
  config = config_lib.resolve_config('catch')
  assert (config.agent, config.off_policy_correction, config.batch_size) == (
      'a3c', 'none', 1)
  for agent in ('a2c_sync_step', 'a2c_sync_traj'):
    parsed_flags.agent = agent
    config = config_lib.resolve_config('catch')
    assert config.off_policy_correction == 'none'
    assert config.batch_size == config.num_actors * config.envs_per_actor
  parsed_flags.agent = 'impala'
  assert config_lib.resolve_config('catch').off_policy_correction == 'vtrace'


# ---------------------------------------------------------------------------
# A3C's update against the on-policy actor-critic gradient in NumPy.


class LinearAgent:
  """logits = x W, V = x v on the frame's features x: small enough to write
  its gradient out by hand."""

  def __init__(self, weights, value_weights, name):
    with tf.compat.v1.variable_scope(name):
      self.w = tf.Variable(weights, dtype=tf.float32, name='w')
      self.v = tf.Variable(value_weights, dtype=tf.float32, name='v')

  @property
  def trainable_variables(self):
    return (self.w, self.v)

  def unroll(self, actions, env_outputs, state):
    x = env_outputs.observation[0]
    return networks.AgentOutput(
        action=actions, policy_logits=tf.einsum('tbf,fa->tba', x, self.w),
        baseline=tf.einsum('tbf,f->tb', x, self.v)), state


def numpy_actor_critic_gradient(x, w, v, actions, rewards, done, config):
  """The gradient of A3C's loss on one trajectory, written out (Mnih et al.
  2016, Algorithm S3, with the losses summed as in section 4.2).

  x: [T+1, B, F] features; actions, rewards, done: [T, B] of the steps after
  x_0..x_{T-1}. Returns (dL/dW, dL/dv).
  """
  logits, values = x @ w, x @ v                     # [T+1, B, A], [T+1, B].
  t_len = len(actions)
  rewards = np.clip(rewards, -1, 1)
  returns = np.zeros_like(values[:-1])
  ret = values[-1]                                  # Bootstrap: V(x_T).
  for t in reversed(range(t_len)):
    ret = rewards[t] + config.discounting * (1 - done[t]) * ret
    returns[t] = ret
  advantages = returns - values[:-1]
  z = logits[:-1] - logits[:-1].max(-1, keepdims=True)
  policy = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
  log_policy = np.log(policy)
  entropy = -(policy * log_policy).sum(-1, keepdims=True)
  one_hot = np.eye(w.shape[1])[actions]
  # d/dlogits of -log pi(a) A, of -c_e H (= c_e sum pi log pi), d/dV of
  # c_b/2 (G - V)^2 (G and A held constant).
  d_logits = (-advantages[..., None] * (one_hot - policy) +
              config.entropy_cost * policy * (log_policy + entropy))
  d_values = -config.baseline_cost * advantages
  d_w = np.einsum('tbf,tba->fa', x[:-1], d_logits)
  d_v = np.einsum('tbf,tb->f', x[:-1], d_values)
  return d_w, d_v


def test_a3c_update_is_the_on_policy_actor_critic_gradient():
  """A worker's gradient of its local copy, applied to the shared
  parameters by the shared RMSProp, equals NumPy's (one step of RMSProp from
  its initial slots), and leaves the local copy alone."""
  rng = np.random.RandomState(0)
  t_len, batch, features, num_actions = 6, 1, 4, 3
  config = catch_config('a3c', gradient_clipping=0., learning_rate=0.01,
                        unroll_length=t_len, num_action_repeats=4)
  x = rng.randn(t_len + 1, batch, features)
  w0, v0 = rng.randn(features, num_actions) * .5, rng.randn(features) * .5
  actions = rng.randint(num_actions, size=(t_len + 1, batch))
  rewards = rng.randn(t_len + 1, batch) * 2           # Some clipped.
  done = rng.rand(t_len + 1, batch) < 0.3
  with tf.Graph().as_default():
    shared = LinearAgent(w0, v0, 'shared')
    local = LinearAgent(w0 * 0 + 1., v0 * 0 - 1., 'local')  # Not w0: the
    # gradient must be the local copy's, taken at the local copy's weights.
    env_outputs = environments.StepOutput(
        reward=tf.constant(rewards, tf.float32),
        info=environments.StepOutputInfo(
            episode_return=tf.zeros([t_len + 1, batch]),
            episode_step=tf.zeros([t_len + 1, batch], tf.int32),
            game_over=tf.constant(done)),
        done=tf.constant(done),
        observation=(tf.constant(x, tf.float32), tf.constant([''] * batch)))
    agent_outputs = networks.AgentOutput(
        action=tf.constant(actions, tf.int32),
        policy_logits=tf.zeros([t_len + 1, batch, num_actions]),
        baseline=tf.zeros([t_len + 1, batch]))
    data = actor_lib.ActorOutput(
        level_name=tf.constant(['catch'] * batch), agent_state=(),
        env_outputs=env_outputs, agent_outputs=agent_outputs)
    optimizer = learner_lib.make_optimizer(config)
    outputs = learner_lib.build_learner(
        local, data, config, optimizer=optimizer,
        variables=shared.trainable_variables)
    with tf.compat.v1.Session() as session:
      session.run([tf.compat.v1.global_variables_initializer(),
                   tf.compat.v1.local_variables_initializer()])
      frames = session.run(outputs.num_env_frames)
      w1, v1, lw, lv = session.run(shared.trainable_variables +
                                   local.trainable_variables)
  assert frames == t_len * batch * 4
  np.testing.assert_allclose(lw, 1.)
  np.testing.assert_allclose(lv, -1.)
  gradients = numpy_actor_critic_gradient(
      x, np.ones_like(w0), -np.ones_like(v0), actions[1:], rewards[1:],
      done[1:], config)
  for before, after, g in zip((w0, v0), (w1, v1), gradients):
    mean_square = config.decay + (1 - config.decay) * g ** 2  # rms slot: 1.
    expected = before - config.learning_rate * g / np.sqrt(
        mean_square + config.epsilon)
    np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# Concurrent A3C workers.


class RecordingProgress:
  """progress.Progress's `add`, recording which thread reported what."""

  def __init__(self):
    self.reports = []

  def add(self, outputs, frames, times=None):
    del times
    self.reports.append((threading.current_thread().name, outputs, frames))


def test_concurrent_a3c_workers_share_parameters_slots_and_frames():
  config = catch_config('a3c', num_actors=3, envs_per_actor=1)
  budget = 600  # Workers stop here; the learning rate anneals far later.
  with tf.Graph().as_default():
    graph = a3c.build_workers(config)
    shared = list(graph.agent.trainable_variables)
    saved = {v.name for v in tf.compat.v1.global_variables()}
    assert not any(v.name in saved for w in graph.workers
                   for v in w.agent.trainable_variables)  # Local copies.
    slots = [v for v in tf.compat.v1.global_variables()
             if 'RMSProp' in v.name]
    assert len(slots) == 2 * len(shared)  # One optimizer: rms, momentum.
    global_step = tf.compat.v1.train.get_global_step()
    run_steps = a3c.make_run_steps(graph.workers, budget)
    progress = RecordingProgress()
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()],
        session_creator=tf.compat.v1.train.ChiefSessionCreator(
            config=learner_lib.session_config(3))) as session:
      raw = session._tf_sess()  # pylint: disable=protected-access
      before = raw.run(shared + slots)
      frames = run_steps(session, progress, threading.Event(), 0)
      after = raw.run(shared + slots)
      assert frames == raw.run(global_step)
      # Each worker alone moves the shared parameters and slots.
      for worker in graph.workers:
        raw.run(worker.sync_op)
        copied = raw.run(worker.agent.trainable_variables)
        for c, s in zip(copied, raw.run(shared)):
          np.testing.assert_array_equal(c, s)
        start = raw.run(shared + slots)
        raw.run(worker.outputs.num_env_frames)
        end = raw.run(shared + slots)
        assert all(not np.array_equal(s, e) for s, e in zip(start, end))
  assert all(not np.array_equal(b, a) for b, a in zip(before, after))
  threads = {name for name, _, _ in progress.reports}
  assert threads == {'a3c_0', 'a3c_1', 'a3c_2'}
  # The frame counter is the sum of the workers' frames.
  worker_frames = sum(o.done.size for _, o, _ in progress.reports)
  assert frames == worker_frames * config.num_action_repeats
  assert frames >= budget
  reported = [f for _, _, f in progress.reports]
  assert reported == sorted(reported) and reported[-1] == frames


# ---------------------------------------------------------------------------
# Synchronous A2C: no policy lag.


def lag_replica(agent, data, config):
  """replica_gradients, plus how far the learner's policy is from the
  actors' at the actions taken (the importance weights' logs)."""
  gradients, stats, env_outputs = learner_lib.replica_gradients(agent, data,
                                                                config)
  learner_outputs, _ = agent.unroll(data.agent_outputs.action,
                                    data.env_outputs, data.agent_state)
  target = learner_outputs.policy_logits[:-1]
  behaviour = data.agent_outputs.policy_logits[1:]
  actions = data.agent_outputs.action[1:]

  def log_prob(logits):
    return -tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=actions, logits=logits)

  stats['max_abs_log_rho'] = tf.reduce_max(tf.abs(log_prob(target) -
                                                  log_prob(behaviour)))
  stats['max_abs_logit_difference'] = tf.reduce_max(tf.abs(target -
                                                           behaviour))
  return gradients, stats, env_outputs


@pytest.mark.parametrize('agent', ['a2c_sync_step', 'a2c_sync_traj'])
def test_synchronous_a2c_has_no_policy_lag(agent):
  config = catch_config(agent, batch_size=4, learning_rate=0.05)
  with tf.Graph().as_default():
    graph_agent, stage_op, outputs = a2c.build_training(config, lag_replica)
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      session.run(stage_op)
      for step in range(1, 6):
        before = session.run(graph_agent.trainable_variables)
        result = session.run(outputs)
        after = session.run(graph_agent.trainable_variables)
        assert result.num_env_frames == step * 4 * config.unroll_length
        assert result.infos.episode_return.shape == (config.unroll_length, 4)
        assert result.stats['max_abs_log_rho'] < 1e-5
        assert result.stats['max_abs_logit_difference'] < 1e-5
        assert any(not np.array_equal(b, a) for b, a in zip(before, after))
  # Every actor's environments in the batch, in order.
  assert sorted(result.level_name) == [b'catch'] * 4


# ---------------------------------------------------------------------------
# End to end: catch learned, test mode, bad input.


@pytest.mark.parametrize('agent', sorted(CATCH_FLAGS))
def test_each_architecture_learns_catch(tmp_path, agent):
  logdir = str(tmp_path / agent)
  start = time.time()
  result = experiment_test.run_experiment(
      '--agent=' + agent, '--level_name=catch', '--logdir=' + logdir,
      '--seed=3', *CATCH_FLAGS[agent], timeout=300)
  experiment_test.check_ok(result)
  rows = experiment_test.read_progress(logdir)
  first = [r for r in rows if float(r['mean_episode_return']) >= 0.9]
  print('%s: %.1f s, final mean return %s at %s frames; 0.9 first at %s' % (
      agent, time.time() - start, rows[-1]['mean_episode_return'],
      rows[-1]['frames'], first[0]['frames'] if first else None))
  assert float(rows[-1]['mean_episode_return']) >= 0.9
  assert int(rows[-1]['episodes']) >= 100
  assert rows[-1]['total_loss'] and rows[-1]['policy_entropy']


def test_a3c_resumes_and_tests(tmp_path):
  logdir = str(tmp_path / 'a3c')
  args = ['--agent=a3c', '--level_name=catch', '--logdir=' + logdir,
          '--num_actors=2', '--envs_per_actor=1', '--unroll_length=5',
          '--log_interval_secs=0.5']
  experiment_test.check_ok(experiment_test.run_experiment(
      *args, '--total_environment_frames=200'))
  frames = experiment_test.checkpoint_frames(logdir)
  assert 200 <= frames < 200 + 2 * 5
  result = experiment_test.run_experiment(
      *args, '--total_environment_frames=%d' % (frames + 100))
  experiment_test.check_ok(result)
  assert 'Training catch from frame %d' % frames in result.stderr
  assert 'A3C' in result.stderr
  result = experiment_test.run_experiment(*args, '--mode=test',
                                          '--test_num_episodes=2')
  experiment_test.check_ok(result)
  with open(os.path.join(logdir, 'test_results.json')) as f:
    results = json.load(f)
  assert results['agent'] == {'network': 'shallow', 'core': 'feedforward',
                              'multitask': False, 'architecture': 'a3c'}
  assert results['frames'] >= frames + 100
  (entry,) = results['levels'].values()
  assert len(entry['episode_returns']) == 2


@pytest.mark.parametrize('program,args,message', [
    ('distributed.py', ['--agent=a3c'],
     'distributed.py runs --agent=impala only, not --agent=a3c'),
    ('distributed.py', ['--agent=a2c_sync_step', '--task=0'],
     '--agent=a2c_sync_step runs on one machine'),
    ('pbt.py', ['--agent=a2c_sync_traj'],
     'pbt.py runs --agent=impala only, not --agent=a2c_sync_traj'),
])
def test_distributed_and_pbt_refuse_the_baselines(tmp_path, program, args,
                                                  message):
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, program), '--level_name=catch',
       '--logdir=' + str(tmp_path / 'run')] + args,
      cwd=ROOT, capture_output=True, text=True, timeout=120,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
  assert result.returncode != 0
  errors = [l for l in result.stderr.splitlines() if ': error: ' in l]
  assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
