# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""population.py: the PBT rule against a reference; the member's hook."""

import math
import os
import random

import numpy as np
import pytest
import tensorflow as tf

import config as config_lib
import environments
import learner as learner_lib
import networks
import files
import population

NAMES = ('learning_rate', 'entropy_cost', 'epsilon')
START = dict(learning_rate=6e-4, entropy_cost=1e-2, epsilon=1e-2,
             gradient_clipping=40.)


def pbt_config(**kwargs):
  values = dict(
      population_size=4, burn_in_frames=0, interval_episodes=1,
      fitness_threshold=5., relative_threshold=False,
      perturb_probability=1. / 3, perturb_factor=1.2, hyperparameters=NAMES,
      poll_secs=1., max_restarts=1, seed=1, member_checkpoint_secs=1,
      start_members=True)
  values.update(kwargs)
  return config_lib.PbtConfig(**values)


def reference_evolve(rng, own, fitness, other, other_fitness, names,
                     threshold, relative, probability, factor):
  """Appendix F, written out: copy if more than `threshold` better, then
  perturb each hyperparameter with `probability` by `factor` or 1/factor."""
  if relative:
    better = other_fitness > fitness + abs(fitness) * threshold / 100.
  else:
    better = other_fitness > fitness + threshold
  values = dict(other) if better else dict(own)
  for name in names:
    if rng.random() < probability:
      if rng.random() < .5:
        values[name] = values[name] * factor
      else:
        values[name] = values[name] / factor
  return better, values


@pytest.mark.parametrize('relative', [False, True])
def test_evolve_equals_reference(relative):
  cases = random.Random(7)
  for _ in range(2000):
    own = {n: cases.uniform(1e-4, 1.) for n in START}
    other = {n: cases.uniform(1e-4, 1.) for n in START}
    fitness = cases.uniform(-50., 50.)
    other_fitness = fitness + cases.choice([-6., 4.9, 5.1, 6., 0.])
    probability = cases.choice([0., 1. / 3, 1.])
    config = pbt_config(relative_threshold=relative,
                        perturb_probability=probability)
    seed = cases.random()
    decision = population.evolve(random.Random(seed), config, own, fitness,
                                 other, other_fitness)
    expected = reference_evolve(random.Random(seed), own, fitness, other,
                                other_fitness, NAMES, 5., relative,
                                probability, 1.2)
    assert decision.exploit == expected[0]
    assert decision.hyperparameters == pytest.approx(expected[1], rel=1e-12)
    assert set(decision.perturbed) == {
        n for n in NAMES if decision.hyperparameters[n] !=
        (other if decision.exploit else own)[n]}
    assert decision.hyperparameters['gradient_clipping'] == (
        other if decision.exploit else own)['gradient_clipping']


def test_copy_only_above_threshold():
  # Absolute (a suite's HNS in percent): more than 5 points.
  assert not population.should_exploit(40., 45., 5., relative=False)
  assert population.should_exploit(40., 45.01, 5., relative=False)
  assert not population.should_exploit(40., 30., 5., relative=False)
  # Relative (a single level's return): more than 5% of |own|.
  assert not population.should_exploit(-20., -19., 5., relative=True)
  assert population.should_exploit(-20., -18.9, 5., relative=True)
  assert not population.should_exploit(0.8, 0.84, 5., relative=True)
  assert population.should_exploit(0.8, 0.85, 5., relative=True)
  # No copy when the other's weights cannot be had (no checkpoint yet).
  decision = population.evolve(random.Random(0), pbt_config(), START, 0.,
                               dict(START, learning_rate=1.), 100.,
                               copy_weights=lambda: False)
  assert not decision.exploit
  assert decision.hyperparameters['learning_rate'] in (
      START['learning_rate'], START['learning_rate'] * 1.2,
      START['learning_rate'] / 1.2)


def test_perturbation_probability_and_factors():
  rng = random.Random(0)
  trials = 30000
  counts = {n: [0, 0] for n in NAMES}  # (up, down) per hyperparameter.
  for _ in range(trials):
    new, perturbed = population.perturb(rng, START, NAMES, 1. / 3, 1.2)
    for name in NAMES:
      ratio = new[name] / START[name]
      if name in perturbed:
        assert ratio == pytest.approx(1.2) or ratio == pytest.approx(1 / 1.2)
        counts[name][ratio < 1] += 1
      else:
        assert ratio == 1.
    assert new['gradient_clipping'] == START['gradient_clipping']
  sigma = math.sqrt(trials * (1 / 3) * (2 / 3))
  for up, down in counts.values():
    assert abs(up + down - trials / 3) < 4 * sigma
    assert abs(up - down) < 4 * math.sqrt(up + down)


def test_table_d1_sampling():
  rng = random.Random(1)
  samples = [population.sample_hyperparameters(rng, NAMES, START)
             for _ in range(8000)]

  def check_log_uniform(name, low, high):
    values = np.array([s[name] for s in samples])
    assert values.min() >= low and values.max() <= high
    logs = (np.log(values) - math.log(low)) / (math.log(high) - math.log(low))
    # Uniform in log space: each quarter holds a quarter (4 sigma).
    counts = np.histogram(logs, bins=4, range=(0, 1))[0]
    assert np.all(np.abs(counts - 2000) < 4 * math.sqrt(8000 * .25 * .75))

  check_log_uniform('entropy_cost', 5e-5, 1e-2)
  check_log_uniform('learning_rate', 5e-6, 5e-3)
  epsilons = [s['epsilon'] for s in samples]
  assert set(epsilons) == {1e-1, 1e-3, 1e-5, 1e-7}
  for value in (1e-1, 1e-3, 1e-5, 1e-7):
    assert abs(epsilons.count(value) - 2000) < 4 * math.sqrt(1500)
  # Not in Table D.1: gradient clipping starts at the run's value.
  assert {s['gradient_clipping'] for s in samples} == {40.}
  # Only the evolving ones are sampled.
  only = population.sample_hyperparameters(rng, ('epsilon',), START)
  assert only['learning_rate'] == START['learning_rate']


# ---------------------------------------------------------------------------
# Hyperparameters as variables in the learner's update.


def _tiny_config(**kwargs):
  values = dict(
      level_set=None, num_actions=2, total_environment_frames=100,
      num_actors=1, envs_per_actor=1, batch_size=1, unroll_length=1,
      num_action_repeats=1, network='shallow', core='feedforward',
      use_instruction=False, entropy_cost=0.01, baseline_cost=0.5,
      discounting=0.9, reward_clipping='abs_one', gradient_clipping=1.,
      learning_rate=0.1, decay=.9, momentum=0., epsilon=.5,
      full_action_space=False)
  values.update(kwargs)
  return config_lib.Config(**values)


def test_assigned_hyperparameters_drive_rmsprop_and_clipping():
  config = _tiny_config()
  gradient = np.array([3., 4.], np.float32)  # Norm 5.
  with tf.Graph().as_default():
    x = tf.compat.v1.get_variable('x', initializer=tf.zeros([2]),
                                  use_resource=True)
    hyperparameters = learner_lib.hyperparameter_variables(config)
    assert learner_lib.hyperparameter_variables(config) == hyperparameters
    step, stats = learner_lib.apply_gradients(
        [tf.constant(gradient)], [x], 25, config, hyperparameters)
    assign = [v.assign(value) for v, value in
              zip(hyperparameters, (0.2, 0.01, 0.25, 2.))]
    with tf.compat.v1.Session() as session:
      session.run([tf.compat.v1.global_variables_initializer(),
                   tf.compat.v1.local_variables_initializer()])
      session.run(assign)
      frames, got = session.run([step, stats])
      new_x = session.run(x)
  assert frames == 25
  assert got['learning_rate'] == pytest.approx(0.2)  # At frame 0 of 100.
  # RMSProp of TF 1 (mean square starts at 1), on the gradient clipped to
  # the assigned norm 2, with the assigned learning rate and epsilon.
  clipped = gradient * 2. / 5.
  mean_square = .9 * 1. + .1 * clipped ** 2
  expected = -0.2 * clipped / np.sqrt(mean_square + 0.25)
  np.testing.assert_allclose(new_x, expected, rtol=1e-5)


def test_entropy_cost_variable_scales_the_entropy_loss():
  config = _tiny_config()
  logits = np.array([[[1., 0.]]], np.float32)
  with tf.Graph().as_default():
    learner = networks.AgentOutput(
        action=None, policy_logits=tf.constant(logits),
        baseline=tf.zeros([1, 1]))
    behaviour = networks.AgentOutput(
        action=tf.zeros([1, 1], tf.int32), policy_logits=tf.constant(logits),
        baseline=None)
    env = environments.StepOutput(
        reward=tf.zeros([1, 1]), info=None, done=tf.zeros([1, 1], tf.bool),
        observation=None)
    hyperparameters = learner_lib.hyperparameter_variables(config)
    _, parts = learner_lib.compute_loss(learner, behaviour, env,
                                        tf.zeros([1]), config,
                                        hyperparameters)
    _, constant_parts = learner_lib.compute_loss(learner, behaviour, env,
                                                 tf.zeros([1]), config)
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.local_variables_initializer())
      before, constant = session.run([parts['entropy_loss'],
                                      constant_parts['entropy_loss']])
      session.run(hyperparameters.entropy_cost.assign(0.03))
      after = session.run(parts['entropy_loss'])
  assert before == pytest.approx(constant)
  assert after == pytest.approx(3 * before)


# ---------------------------------------------------------------------------
# The member's hook: hyperparameters and copied weights in a live session.


def _member_graph(config):
  tf.compat.v1.train.get_or_create_global_step()
  weights = tf.compat.v1.get_variable(
      'weights', shape=[3, 2], use_resource=True,
      initializer=tf.compat.v1.random_normal_initializer())
  hyperparameters = learner_lib.hyperparameter_variables(config)
  train = tf.compat.v1.assign_add(tf.compat.v1.train.get_global_step(), 1)
  return weights, hyperparameters, train


def test_member_hook_applies_hyperparameters_and_copies_weights(tmp_path):
  config = _tiny_config()
  source, member = str(tmp_path / 'source'), str(tmp_path / 'member')
  with tf.Graph().as_default():  # The source: a checkpoint at frame 7.
    tf.compat.v1.set_random_seed(1)
    weights, _, _ = _member_graph(config)
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      session.run(tf.compat.v1.train.get_global_step().assign(7))
      source_weights = session.run(weights)
      tf.compat.v1.train.Saver().save(session, source + '/model.ckpt', 7)
  checkpoint = tf.train.latest_checkpoint(source)
  os.makedirs(member)
  request = population.make_request(
      3, dict(learning_rate=.5, entropy_cost=.25, epsilon=.125,
              gradient_clipping=2.), checkpoint)
  files.write_json(os.path.join(member, population.REQUEST_FILE),
                        request)

  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(2)
    weights, hyperparameters, train = _member_graph(config)
    hook = population.MemberHook(config, member, poll_secs=0.)
    with tf.compat.v1.train.MonitoredTrainingSession(
        checkpoint_dir=member, hooks=[hook], save_summaries_steps=None,
        save_summaries_secs=None, log_step_count_steps=None) as session:
      got = session.run(hyperparameters)
      copied = session.run(weights)
      for _ in range(3):
        frames = session.run(train)
  assert got == pytest.approx((.5, .25, .125, 2.))
  np.testing.assert_array_equal(copied, source_weights)
  assert frames == 3  # The copier keeps its own frame counter.
  applied = population.read_json(os.path.join(member,
                                              population.APPLIED_FILE))
  assert applied['version'] == 3 and applied['frames'] == 0
  reader = tf.train.load_checkpoint(checkpoint)
  assert applied['weights_sha256'] == population.weights_digest(
      {'weights': reader.get_tensor('weights')})
  # The copy was checkpointed at once, in the member's own logdir.
  saved = tf.train.load_checkpoint(os.path.join(member, 'model.ckpt-0'))
  np.testing.assert_array_equal(saved.get_tensor('weights'), source_weights)
  restored = population.read_json(os.path.join(source,
                                               population.RESTORED_FILE))
  assert restored == applied


def test_member_hook_writes_a_snapshot_of_its_current_weights(tmp_path):
  """A copy's source saves its weights as they are at the request (not its
  last checkpoint), once per request."""
  config = _tiny_config()
  member = str(tmp_path / 'member')
  os.makedirs(member)
  destination = str(tmp_path / 'copier' / 'pbt_copies' / 'v4')
  with tf.Graph().as_default():
    weights, _, train = _member_graph(config)
    change = weights.assign_add(tf.ones_like(weights))
    hook = population.MemberHook(config, member, poll_secs=0.)
    with tf.compat.v1.train.MonitoredTrainingSession(
        checkpoint_dir=member, hooks=[hook], save_summaries_steps=None,
        save_summaries_secs=None, log_step_count_steps=None) as session:
      for _ in range(5):
        session.run([train, change])
      files.write_json(
          os.path.join(member, population.SNAPSHOT_REQUEST_FILE),
          population.make_snapshot_request('first', destination))
      session.run(train)  # The hook answers after this step.
      expected = session.run(weights)
      answer = population.read_json(os.path.join(member,
                                                 population.SNAPSHOT_FILE))
      session.run([train, change])  # Later steps do not write it again.
      mtime = os.stat(os.path.join(member, population.SNAPSHOT_FILE)).st_mtime
      session.run(train)
  assert answer['id'] == 'first' and answer['frames'] == 6
  assert answer['checkpoint'] == os.path.join(destination, 'model.ckpt')
  reader = tf.train.load_checkpoint(answer['checkpoint'])
  np.testing.assert_array_equal(reader.get_tensor('weights'), expected)
  assert 'global_step' not in reader.get_variable_to_shape_map()
  assert os.stat(os.path.join(member,
                              population.SNAPSHOT_FILE)).st_mtime == mtime
  assert not os.path.exists(destination + '.tmp')
