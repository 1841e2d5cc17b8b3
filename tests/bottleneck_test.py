# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""bottleneck.py: the time splits, the diagnosis, and both on real runs."""

import csv
import logging
import os
import time

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

import bottleneck
import config as config_lib
import experiment
import learner as learner_lib


def step(start, end, staged_at, computed_at, fill=0., actor_times=()):
  return bottleneck.StepTimes(start, end, bottleneck.LearnerProbes(
      staged_at, computed_at, fill, np.reshape(actor_times, [-1, 3])))


def figures(waiting, computing, fill=0., actors=(None, None, None)):
  return bottleneck.Figures(60., waiting, computing, fill, *actors)


def test_learner_split_waiting_is_the_dequeue_after_the_update():
  # The next batch arrived 0.3 s after the update ended: waited 0.3 s.
  assert bottleneck.learner_split(step(10., 11., 10.9, 10.6)) == (
      pytest.approx(.3), pytest.approx(.7))
  # The batch was there before the update ended: no waiting.
  assert bottleneck.learner_split(step(10., 11., 10.2, 10.6)) == (0., 1.)
  # Clipped to the step.
  assert bottleneck.learner_split(step(10., 11., 12., 9.)) == (1., 0.)


def test_actor_split_adds_up_to_one_and_none_without_an_unroll():
  then = [[1., 2., 4.], [0., 0., 0.]]
  now = [[2., 5., 8.], [1., 1., 4.]]  # Spent: 2 inference, 4 env, 8 wall.
  inference, environment, waiting = bottleneck.actor_split(then, now)
  assert (inference, environment, waiting) == pytest.approx((.25, .5, .25))
  assert bottleneck.actor_split(now, now) == (None, None, None)


def test_window_shares_of_wall_time():
  window = bottleneck.Window(100., np.zeros([1, 3]))
  window.add(step(100., 101., 100.8, 100.2, fill=1.,
                  actor_times=[.5, 1., 2.]))
  window.add(step(101., 102., 101.1, 101.9, fill=0.,
                  actor_times=[1., 2., 4.]))
  f = window.figures(104.)
  assert f.wall_secs == 4.
  # Waited .6 s of the first step, none of the second; 2 s outside steps.
  assert (f.learner_waiting, f.learner_computing) == pytest.approx(
      (.6 / 4, 1.4 / 4))
  assert f.queue_fill == .5
  assert (f.actor_inference, f.actor_environment, f.actor_waiting) == (
      pytest.approx((.25, .5, .25)))
  later = window.next(104.)
  later.add(step(104., 105., 0., 0., actor_times=[2., 2., 8.]))
  assert later.figures(105.).actor_inference == pytest.approx(.25)


def test_diagnose_names_the_bottleneck():
  assert 'the actors are the bottleneck' in bottleneck.diagnose(
      figures(.85, .14, 0., (.2, .7, .1)))
  assert '70% of their time in environments' in bottleneck.diagnose(
      figures(.85, .14, 0., (.2, .7, .1)))
  assert 'the learner is the bottleneck' in bottleneck.diagnose(
      figures(.02, .97, 1., (.1, .2, .7)))
  # Distributed: no actor times on the learner; the queue tells.
  assert 'the learner is the bottleneck' in bottleneck.diagnose(
      figures(.02, .97, .9))
  # Both sides busy, or thresholds not reached: nothing to say.
  assert bottleneck.diagnose(figures(.3, .68, .5, (.4, .5, .1))) is None
  assert bottleneck.diagnose(figures(.02, .97, 1., (.4, .4, .2))) is None
  assert bottleneck.diagnose(figures(.02, .97, .1)) is None
  assert bottleneck.diagnose(figures(.2, .8, 1., (.1, .1, .8))) is None


# ---------------------------------------------------------------------------
# Real runs (catch, in this process).


@pytest.fixture
def catch_config():
  saved = flags.FLAGS.flag_values_dict()
  flags.FLAGS(['experiment.py'])
  yield config_lib.resolve_config('catch')._replace(
      log_interval_secs=.5, diagnosis_interval_secs=2.)
  for name, value in saved.items():
    setattr(flags.FLAGS, name, value)


def train(config, logdir, caplog):
  caplog.set_level(logging.INFO, logger='absl')
  start = time.time()
  experiment.train(config, logdir)
  with open(os.path.join(logdir, 'progress.csv')) as f:
    rows = list(csv.DictReader(f))
  diagnoses = [r.getMessage() for r in caplog.records
               if 'bottleneck' in r.getMessage()]
  print('%s: %.1f s, load %.1f\n%s\n%s' % (
      logdir, time.time() - start, os.getloadavg()[0],
      '\n'.join(str(r) for r in rows), '\n'.join(diagnoses)))
  return rows[1:], diagnoses  # The first row holds the compiling step.


def check_figures_add_up(rows):
  learner = [float(r['learner_waiting']) + float(r['learner_computing'])
             for r in rows]
  actors = [float(r['actor_inference']) + float(r['actor_environment']) +
            float(r['actor_waiting']) for r in rows if r['actor_inference']]
  # Waiting + computing is the wall time but for the loop's own Python.
  assert all(.7 <= total <= 1.001 for total in learner), learner
  assert np.median(learner) >= .85, learner
  assert actors and np.allclose(actors, 1., atol=.002), actors


def test_starved_learner_names_the_actors(catch_config, tmp_path, caplog):
  """One actor fills each batch: the learner waits for its unrolls."""
  # Long enough for diagnoses on an idle machine too (16K frames took 3 s).
  config = catch_config._replace(num_actors=1, envs_per_actor=8,
                                 batch_size=8, total_environment_frames=48000,
                                 diagnosis_interval_secs=.5)
  rows, diagnoses = train(config, str(tmp_path / 'starved'), caplog)
  check_figures_add_up(rows)
  assert np.median([float(r['learner_waiting']) for r in rows]) >= .5
  assert diagnoses
  assert all('the actors are the bottleneck' in d for d in diagnoses), (
      diagnoses)


def test_slowed_learner_is_named(catch_config, tmp_path, caplog,
                                 monkeypatch):
  """Many actors and a learner slowed by 0.15 s per step."""
  build_learner = learner_lib.build_learner

  def slow_build_learner(agent, data, config):
    outputs = build_learner(agent, data, config)
    with tf.control_dependencies([outputs.num_env_frames]):
      slept = tf.numpy_function(lambda: np.float32(time.sleep(.15) or 0),
                                [], tf.float32)
    with tf.control_dependencies([slept]):
      return outputs._replace(
          num_env_frames=tf.identity(outputs.num_env_frames))

  monkeypatch.setattr(learner_lib, 'build_learner', slow_build_learner)
  config = catch_config._replace(num_actors=4, envs_per_actor=2,
                                 batch_size=2, unroll_length=10,
                                 total_environment_frames=900)
  rows, diagnoses = train(config, str(tmp_path / 'slowed'), caplog)
  check_figures_add_up(rows)
  assert np.median([float(r['learner_computing']) for r in rows]) >= .9
  assert np.median([float(r['queue_fill']) for r in rows]) >= .5
  assert diagnoses
  assert all('the learner is the bottleneck' in d for d in diagnoses), (
      diagnoses)
