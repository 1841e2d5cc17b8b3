# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""experiment.py: end to end runs, learning, losses and bad input."""

import csv
import json
import os
import re
import subprocess
import sys
import time

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

import config as config_lib
import environments
import learner as learner_lib
import networks
import process_util

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Small and fast settings for end-to-end runs.
SMALL = ['--num_actors=1', '--envs_per_actor=2', '--batch_size=2',
         '--unroll_length=5', '--log_interval_secs=0.5']


def run_experiment(*args, timeout=240, pythonpath=None):
  """Runs `python experiment.py args` and returns the CompletedProcess;
  `pythonpath` goes before the inherited PYTHONPATH."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONUNBUFFERED='1')
  if pythonpath:
    env['PYTHONPATH'] = os.pathsep.join(
        [pythonpath] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, 'experiment.py')] + list(args),
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def start_experiment(*args, stderr=subprocess.DEVNULL):
  """Starts `python experiment.py args` (a Popen), stdout discarded."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONUNBUFFERED='1')
  return subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'experiment.py')] + list(args),
      cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True)


def read_progress(logdir):
  with open(os.path.join(logdir, 'progress.csv')) as f:
    return list(csv.DictReader(f))


def checkpoint_frames(logdir):
  return tf.train.load_variable(tf.train.latest_checkpoint(logdir),
                                'global_step')


def check_ok(result):
  assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize('level_name,frames_per_step', [
    ('catch', 2 * 5 * 1),        # batch x unroll x action repeats.
    ('atari/pong', 2 * 5 * 4),
])
def test_train_resume_and_test(tmp_path, level_name, frames_per_step):
  logdir = str(tmp_path / 'run')
  first_budget = 6 * frames_per_step
  check_ok(run_experiment('--level_name=' + level_name, '--logdir=' + logdir,
                          '--total_environment_frames=%d' % first_budget,
                          *SMALL))
  frames = checkpoint_frames(logdir)
  assert first_budget <= frames < first_budget + frames_per_step
  rows = read_progress(logdir)
  assert rows and int(rows[-1]['frames']) == frames
  for field in ('wall_time', 'frames', 'fps', 'learner_steps', 'total_loss',
                'mean_episode_return'):
    assert field in rows[0]

  # Same logdir: resumes from the checkpoint and continues the frame count.
  second_budget = frames + 4 * frames_per_step
  result = run_experiment('--level_name=' + level_name, '--logdir=' + logdir,
                          '--total_environment_frames=%d' % second_budget,
                          *SMALL)
  check_ok(result)
  assert 'Training %s from frame %d' % (level_name, frames) in result.stderr
  resumed = checkpoint_frames(logdir)
  assert second_budget <= resumed < second_budget + frames_per_step
  assert len(read_progress(logdir)) > len(rows)

  result = run_experiment('--level_name=' + level_name, '--logdir=' + logdir,
                          '--mode=test', '--test_num_episodes=2', *SMALL)
  check_ok(result)
  with open(os.path.join(logdir, 'test_results.json')) as f:
    results = json.load(f)
  assert results['format'] == 'impala-tf/test_results/v1'
  assert results['level_name'] == level_name
  assert results['frames'] == resumed
  assert results['agent'] == {'network': 'shallow', 'core': 'feedforward',
                              'multitask': False}
  (entry,) = results['levels'].values()
  assert len(entry['episode_returns']) == 2
  assert entry['mean'] == pytest.approx(np.mean(entry['episode_returns']))
  if level_name == 'atari/pong':
    # A game of Pong ends when a side reaches 21 points.
    assert all(-21 <= r <= 21 for r in entry['episode_returns'])
    assert entry['human_normalized_score'] is not None
  else:
    assert all(r in (-1., 1.) for r in entry['episode_returns'])
  assert 'episodes' in result.stdout  # The printed table.


def test_stop_at_frames_stops_early_on_the_budget_s_schedule(tmp_path):
  logdir, budget, frames_per_step = str(tmp_path / 'run'), 100000, 2 * 5
  result = run_experiment('--level_name=catch', '--logdir=' + logdir,
                          '--total_environment_frames=%d' % budget,
                          '--stop_at_frames=60', *SMALL)
  check_ok(result)
  assert ('to 60 frames (--stop_at_frames; the budget is %d)' % budget
          in result.stderr)
  frames = checkpoint_frames(logdir)
  assert 60 <= frames < 60 + frames_per_step
  # The learning rate anneals over the budget, not to 0 at the stop.
  row = read_progress(logdir)[-1]
  assert float(row['learning_rate']) == pytest.approx(
      0.002 * (1 - frames / budget), rel=0.05)
  # The progress line's percent refers to the stop, not to the budget.
  percents = re.findall(r'frames \d+ \(([\d.]+)%\)', result.stderr)
  assert percents and float(percents[-1]) >= 100, result.stderr[-2000:]

  check_ok(run_experiment('--level_name=catch', '--logdir=' + logdir,
                          '--total_environment_frames=%d' % budget,
                          '--stop_at_frames=120', *SMALL))
  assert 120 <= checkpoint_frames(logdir) < 120 + frames_per_step


def test_catch_learns_within_budget_and_lr_zero_does_not(tmp_path):
  """The catch defaults learn (max return 1) within their frame budget."""
  start = time.time()
  logdir = str(tmp_path / 'learn')
  check_ok(run_experiment('--level_name=catch', '--logdir=' + logdir,
                          '--seed=3', timeout=300))
  learn_time = time.time() - start
  rows = read_progress(logdir)
  final_return = float(rows[-1]['mean_episode_return'])
  print('catch: %.1f s, final mean return %.3f at %s frames' %
        (learn_time, final_return, rows[-1]['frames']))
  assert int(rows[-1]['frames']) <= 150e3 + 2000
  assert final_return >= 0.9
  assert learn_time < 180
  # The diagnostics see it: a near-deterministic policy, last columns.
  assert float(rows[-1]['policy_distance_from_uniform']) > 0.3
  assert rows[-1]['level_name'] == 'catch'

  control = str(tmp_path / 'control')
  check_ok(run_experiment('--level_name=catch', '--logdir=' + control,
                          '--seed=3', '--learning_rate=0',
                          '--total_environment_frames=40000', timeout=300))
  control_rows = read_progress(control)
  assert float(control_rows[-1]['mean_episode_return']) < 0.5
  assert float(control_rows[-1]['policy_entropy_ratio']) > 0.9


def test_catch_learns_with_two_learners(tmp_path):
  """--num_learners=2 (two logical CPU devices here) learns catch within the
  same frame budget as one learner (the test above)."""
  logdir = str(tmp_path / 'two')
  result = run_experiment('--level_name=catch', '--logdir=' + logdir,
                          '--seed=3', '--num_learners=2', timeout=300)
  check_ok(result)
  assert '2 learners on /cpu:0, /cpu:1' in result.stderr
  rows = read_progress(logdir)
  assert int(rows[-1]['frames']) <= 150e3 + 2000
  assert float(rows[-1]['mean_episode_return']) >= 0.9


# ---------------------------------------------------------------------------
# The losses, against NumPy.


def _numpy_vtrace(log_rhos, discounts, rewards, values, bootstrap_value):
  rhos = np.exp(log_rhos)
  clipped_rhos = np.minimum(1., rhos)
  cs = np.minimum(1., rhos)
  values_t_plus_1 = np.concatenate([values[1:], bootstrap_value[None]], 0)
  deltas = clipped_rhos * (rewards + discounts * values_t_plus_1 - values)
  vs_minus_v = np.zeros_like(values)
  acc = np.zeros_like(bootstrap_value)
  for t in reversed(range(len(values))):
    acc = deltas[t] + discounts[t] * cs[t] * acc
    vs_minus_v[t] = acc
  vs = vs_minus_v + values
  vs_t_plus_1 = np.concatenate([vs[1:], bootstrap_value[None]], 0)
  pg_advantages = clipped_rhos * (rewards + discounts * vs_t_plus_1 - values)
  return vs, pg_advantages


def _log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_loss_and_gradient_equal_numpy():
  rng = np.random.RandomState(0)
  t_len, batch, num_actions = 4, 3, 5
  target_logits = rng.randn(t_len, batch, num_actions)
  behaviour_logits = rng.randn(t_len, batch, num_actions)
  actions = rng.randint(num_actions, size=(t_len, batch))
  values = rng.randn(t_len, batch)
  bootstrap_value = rng.randn(batch)
  rewards = rng.randn(t_len, batch) * 2  # Some beyond [-1, 1]: clipped.
  done = rng.rand(t_len, batch) < 0.3
  config = config_lib.Config(
      level_set=None, num_actions=num_actions, total_environment_frames=1,
      num_actors=1, envs_per_actor=1, batch_size=batch, unroll_length=t_len,
      num_action_repeats=4, network='shallow', core='feedforward',
      use_instruction=False, entropy_cost=0.01, baseline_cost=0.5,
      discounting=0.9, reward_clipping='abs_one', gradient_clipping=0.,
      learning_rate=0., decay=.99, momentum=0., epsilon=.1,
      full_action_space=False)

  with tf.Graph().as_default():
    logits_t = tf.constant(target_logits, tf.float32)
    values_t = tf.constant(values, tf.float32)
    learner = networks.AgentOutput(action=None, policy_logits=logits_t,
                                   baseline=values_t)
    behaviour = networks.AgentOutput(
        action=tf.constant(actions, tf.int32),
        policy_logits=tf.constant(behaviour_logits, tf.float32),
        baseline=None)
    env = environments.StepOutput(
        reward=tf.constant(rewards, tf.float32), info=None,
        done=tf.constant(done), observation=None)
    total_loss, parts = learner_lib.compute_loss(
        learner, behaviour, env, tf.constant(bootstrap_value, tf.float32),
        config)
    grad_logits, grad_values = tf.gradients(total_loss, [logits_t, values_t])
    with tf.compat.v1.Session() as session:
      got = session.run(dict(total=total_loss, parts=parts,
                             grad_logits=grad_logits,
                             grad_values=grad_values))

  # By hand: V-trace targets, then the three losses of section 4.2.
  log_pi = _log_softmax(target_logits)
  log_mu = _log_softmax(behaviour_logits)
  take = lambda lp: np.take_along_axis(lp, actions[..., None], -1)[..., 0]
  log_rhos = take(log_pi) - take(log_mu)
  discounts = (~done) * 0.9
  vs, pg_adv = _numpy_vtrace(log_rhos, discounts, np.clip(rewards, -1, 1),
                             values, bootstrap_value)
  pi = np.exp(log_pi)
  pg_loss = -np.sum(take(log_pi) * pg_adv)
  baseline_loss = 0.5 * 0.5 * np.sum((vs - values) ** 2)
  entropy_loss = 0.01 * np.sum(pi * log_pi)
  np.testing.assert_allclose(got['parts']['policy_gradient_loss'], pg_loss,
                             rtol=1e-4)
  np.testing.assert_allclose(got['parts']['baseline_loss'], baseline_loss,
                             rtol=1e-4)
  np.testing.assert_allclose(got['parts']['entropy_loss'], entropy_loss,
                             rtol=1e-4)
  np.testing.assert_allclose(got['total'],
                             pg_loss + baseline_loss + entropy_loss,
                             rtol=1e-4)
  # Gradients: vs and pg_advantages are constants.
  np.testing.assert_allclose(got['grad_values'], -0.5 * (vs - values),
                             rtol=1e-4, atol=1e-6)
  one_hot = np.eye(num_actions)[actions]
  entropy = -np.sum(pi * log_pi, -1, keepdims=True)
  expected_grad_logits = (
      -pg_adv[..., None] * (one_hot - pi)
      # d/dz sum_a pi log pi = -pi * (H + log pi) ... = pi * (log pi + H).
      + 0.01 * pi * (log_pi + entropy))
  np.testing.assert_allclose(got['grad_logits'], expected_grad_logits,
                             rtol=1e-4, atol=1e-6)


def test_soft_asymmetric_clipping_is_used():
  with tf.Graph().as_default(), tf.compat.v1.Session() as session:
    clipped = session.run(learner_lib.clip_rewards(
        tf.constant([-10., -1., 0., 1., 10.]), 'soft_asymmetric'))
  r = np.array([-10., -1., 0., 1., 10.])
  expected = np.where(r < 0, 0.3, 1.) * 5 * np.tanh(r / 5)
  np.testing.assert_allclose(clipped, expected, rtol=1e-6)


# ---------------------------------------------------------------------------
# Defaults and bad input.


@pytest.fixture
def parsed_flags():
  saved = flags.FLAGS.flag_values_dict()
  flags.FLAGS(['experiment.py'])
  yield flags.FLAGS
  for name, value in saved.items():
    setattr(flags.FLAGS, name, value)


def test_domain_defaults_follow_the_paper(parsed_flags):
  del parsed_flags
  atari = config_lib.resolve_config('atari/pong')  # Table G.1.
  assert (atari.unroll_length, atari.batch_size, atari.learning_rate,
          atari.entropy_cost, atari.epsilon, atari.gradient_clipping,
          atari.num_action_repeats, atari.core) == (
              20, 32, 0.0006, 0.01, 0.01, 40., 4, 'feedforward')
  assert atari.num_actions == 6 and not atari.full_action_space
  # Not the paper's: how many of an actor's 32 environments share a process.
  assert (atari.envs_per_actor, atari.envs_per_process) == (32, 8)
  suite = config_lib.resolve_config('atari57')
  assert suite.network == 'deep' and suite.full_action_space
  assert suite.num_actions == 18 and len(suite.level_set.levels) == 57


def test_single_dmlab_level_defaults_fill_a_batch(parsed_flags, monkeypatch,
                                                  tmp_path):
  parsed_flags.dataset_path = str(tmp_path)  # dmlab30's psychlab levels.
  monkeypatch.syspath_prepend(os.path.join(ROOT, 'tests', 'fake_deepmind_lab'))
  monkeypatch.delitem(sys.modules, 'deepmind_lab', raising=False)
  try:
    config = config_lib.resolve_config('seekavoid_arena_01')
    suite = config_lib.resolve_config('dmlab30')
  finally:
    sys.modules.pop('deepmind_lab', None)  # The stand-in.
  # Table D.3's batch of 32 distinct environments (4 x 8 on <= 4 cores).
  assert config.batch_size == 32
  assert config.num_actors * config.envs_per_actor >= config.batch_size
  if (os.cpu_count() or 1) <= 4:
    assert (config.num_actors, config.envs_per_actor) == (4, 8)
  assert (suite.num_actors, suite.envs_per_actor) == (150, 1)
  # One DeepMind Lab per process, as the release, unless asked otherwise.
  assert config.envs_per_process == suite.envs_per_process == 1


def test_envs_per_process_is_a_divisor_of_envs_per_actor(parsed_flags):
  parsed_flags.envs_per_actor, parsed_flags.batch_size = 12, 8
  assert config_lib.resolve_config('atari/pong').envs_per_process == 6
  parsed_flags.envs_per_actor = 7
  assert config_lib.resolve_config('atari/pong').envs_per_process == 7
  parsed_flags.envs_per_actor = 11
  assert config_lib.resolve_config('atari/pong').envs_per_process == 1
  parsed_flags.envs_per_process = 11
  assert config_lib.resolve_config('atari/pong').envs_per_process == 11


@pytest.mark.parametrize('args,message', [
    (['--level_name=atari/not_a_game'], 'Unknown --level_name'),
    (['--level_name=nonsense_level'], 'Unknown --level_name'),
    (['--batch_size=64', '--num_actors=2', '--envs_per_actor=4'],
     '--batch_size=64 exceeds'),
    (['--num_actors=0'], '--num_actors must be >= 1'),
    (['--batch_size=-3'], '--batch_size must be >= 1'),
    (['--unroll_length=0'], '--unroll_length must be >= 1'),
    (['--learning_rate=-1'], '--learning_rate must be >= 0'),
    (['--level_name=atari57', '--num_actors=2', '--envs_per_actor=4',
      '--batch_size=8'], 'some levels would never be played'),
    (['--level_name=atari57', '--num_actors=3', '--envs_per_actor=32'],
     'e.g. --envs_per_actor=38 (with --num_actors=3) or --num_actors=57'),
    (['--level_name=dmlab30'], 'DeepMind Lab'),
    (['--level_name=seekavoid_arena_01'], 'DeepMind Lab'),
    (['--logdir=/proc/impala_cannot_write_here'], 'cannot be written'),
    (['--num_learners=3'], 'does not split into --num_learners=3'),
    (['--num_learners=0'], '--num_learners must be >= 1'),
    (['--stop_at_frames=0'], '--stop_at_frames must be >= 1'),
    (['--learner_device=gpu', '--num_learners=64', '--batch_size=64',
      '--num_actors=8'], '--num_learners=64 needs as many GPUs'),
    # The paper's baselines (--agent, docs/baselines.md).
    (['--agent=a3c', '--replay_proportion=0.5'],
     '--agent=a3c learns on-policy: leave out --replay_proportion'),
    (['--agent=a2c_sync_step', '--num_learners=2'],
     '--agent=a2c_sync_step has one learner'),
    (['--agent=a2c_sync_traj', '--off_policy_correction=none'],
     'leave out --off_policy_correction'),
    (['--agent=a3c', '--task=0', '--job_name=actor'],
     '--agent=a3c runs on one machine'),
    (['--agent=a2c_sync_traj', '--num_actors=2', '--envs_per_actor=4',
      '--batch_size=4'], '--agent=a2c_sync_traj: --batch_size=4 must be 8'),
    (['--agent=a3c', '--batch_size=4'], '--agent=a3c: --batch_size=4 must be 1'),
    (['--num_actors=2', '--envs_per_actor=4', '--batch_size=8',
      '--envs_per_process=3'],
     '--envs_per_process=3 must be >= 1 and divide --envs_per_actor=4'),
])
def test_bad_input_is_a_one_line_error_before_any_process(args, message,
                                                          tmp_path):
  start = time.time()
  pythonpath = None
  if message == 'DeepMind Lab':
    # Without DeepMind Lab, also where a real build is installed.
    (tmp_path / 'deepmind_lab.py').write_text(
        "raise ImportError('hidden by the test')\n")
    pythonpath = str(tmp_path)
  result = run_experiment('--level_name=catch', *args, timeout=120,
                          pythonpath=pythonpath)
  assert result.returncode != 0
  error_lines = [l for l in result.stderr.splitlines()
                 if l.startswith('experiment.py: error:')]
  assert len(error_lines) == 1, result.stderr[-2000:]
  assert message in error_lines[0]
  assert 'Traceback' not in result.stderr
  # Nothing was started: no training or environment log lines.
  assert 'Training' not in result.stderr
  assert time.time() - start < 60


def test_ctrl_c_stops_cleanly_with_a_checkpoint(tmp_path):
  logdir = str(tmp_path / 'interrupted')
  process = start_experiment(
      '--level_name=catch', '--logdir=' + logdir,
      '--total_environment_frames=100000000', '--save_checkpoint_secs=3600',
      *SMALL, stderr=subprocess.PIPE)
  try:
    deadline = time.time() + 120
    progress = os.path.join(logdir, 'progress.csv')
    while time.time() < deadline and (
        not os.path.exists(progress) or len(read_progress(logdir)) < 2):
      assert process.poll() is None, process.stderr.read()[-2000:]
      time.sleep(0.5)
    assert len(read_progress(logdir)) >= 2
    children = process_util.children_of(process.pid)
    assert children  # The environments' processes.
    process.send_signal(2)  # SIGINT, as Ctrl-C.
    _, stderr = process.communicate(timeout=60)
  finally:
    if process.poll() is None:
      process.kill()
  assert process.returncode == 0, stderr[-2000:]
  # A checkpoint at exit, later than the first one (at frame 0).
  assert checkpoint_frames(logdir) >= int(read_progress(logdir)[0]['frames'])
  deadline = time.time() + 10
  while time.time() < deadline and any(
      os.path.exists('/proc/%d' % c) for c in children):
    time.sleep(0.2)
  assert not [c for c in children if os.path.exists('/proc/%d' % c)]


def test_dmlab_level_trains_and_tests_through_the_stand_in(tmp_path):
  """The DMLab path (deep LSTM agent, language input, test level mapping)
  end to end, with the stand-in `deepmind_lab` that follows the real API."""
  logdir = str(tmp_path / 'dmlab')
  stand_in = os.path.join(ROOT, 'tests', 'fake_deepmind_lab')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
             PYTHONPATH=stand_in + os.pathsep + os.environ.get('PYTHONPATH',
                                                               ''))
  common = [sys.executable, os.path.join(ROOT, 'experiment.py'),
            '--level_name=rooms_collect_good_objects_train',
            '--logdir=' + logdir, '--num_actors=2', '--envs_per_actor=1',
            '--batch_size=2', '--unroll_length=10', '--log_interval_secs=1']
  result = subprocess.run(common + ['--total_environment_frames=160'],
                          env=env, capture_output=True, text=True,
                          timeout=240)
  check_ok(result)
  assert checkpoint_frames(logdir) == 160  # 2 steps of 2 x 10 x 4 frames.
  result = subprocess.run(common + ['--mode=test', '--test_num_episodes=1'],
                          env=env, capture_output=True, text=True,
                          timeout=240)
  check_ok(result)
  with open(os.path.join(logdir, 'test_results.json')) as f:
    results = json.load(f)
  assert results['agent'] == {'network': 'deep', 'core': 'lstm',
                              'multitask': False}
  # Test mode plays the hold-out test variant of the level.
  assert list(results['levels']) == ['rooms_collect_good_objects_test']
  assert len(results['levels']['rooms_collect_good_objects_test'][
      'episode_returns']) == 1
