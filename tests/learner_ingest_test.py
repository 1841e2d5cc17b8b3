# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""benchmarks/learner_ingest.py's pure parts: arguments, bytes per trajectory,
the measured window and the saturation estimate (no cluster started)."""

import os
import sys

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(_ROOT, 'benchmarks'))

import learner_ingest  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_actor_counts_are_checked():
  assert learner_ingest.parse_actor_counts(['1', '2', '16']) == [1, 2, 16]
  for bad, message in ((['0'], '>= 1'), (['a'], 'must be integers'),
                       ([], '>= 1'), (['2', '2'], 'repeats')):
    with pytest.raises(ValueError, match=message):
      learner_ingest.parse_actor_counts(bad)


def test_environments_per_actor_fill_a_batch():
  assert [learner_ingest.envs_per_actor(32, k) for k in (1, 2, 4, 8, 16)] == [
      32, 16, 8, 4, 2]
  assert learner_ingest.envs_per_actor(32, 5) == 7
  assert learner_ingest.envs_per_actor(32, 64) == 1
  assert learner_ingest.envs_per_actor(32, 4, given=3) == 3


def test_bytes_per_trajectory_from_specs():
  specs = {'frames': tf.TensorSpec([4, 21, 84, 84, 4], tf.uint8),
           'logits': tf.TensorSpec([4, 21, 6], tf.float32),
           'level_name': tf.TensorSpec([4], tf.string)}
  assert learner_ingest.bytes_per_trajectory(specs, 'atari/pong') == (
      21 * 84 * 84 * 4 + 21 * 6 * 4 + len('atari/pong'))


def test_bytes_per_trajectory_of_a_real_config():
  saved = flags.FLAGS.flag_values_dict()
  try:
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['learner_ingest.py', '--level_name=atari/pong'])
    (config,) = learner_ingest.resolve_configs([2]).values()
    assert config.null_environment and config.envs_per_actor == 16
    import distributed  # pylint: disable=g-import-not-at-top
    size = learner_ingest.bytes_per_trajectory(
        distributed.trajectory_specs(config), 'atari/pong')
  finally:
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['learner_ingest.py'])
    for name, value in saved.items():
      setattr(flags.FLAGS, name, value)
  # T + 1 = 21 frames of [84, 84, 4] dominate.
  frames = 21 * 84 * 84 * 4
  assert frames < size < frames * 1.01


def _row(wall_time, frames, steps, computing=.5, fill=.25):
  return dict(wall_time=wall_time, frames=frames, learner_steps=steps,
              learner_computing=computing, queue_fill=fill)


def test_window_figures():
  rows = [_row(99., 0, 0), _row(100., 2560, 1), _row(101., 5120, 2, .4, .5),
          _row(102., 10240, 4, .6, float('nan'))]
  f = learner_ingest.window_figures(rows, 100., 2560, 32)
  assert f['seconds'] == 2.
  assert f['frames_per_sec'] == 3840.
  assert f['traj_per_sec'] == 3 * 32 / 2.
  np.testing.assert_allclose(f['step_ms'], 2000. / 3)
  np.testing.assert_allclose(f['compute_ms'], 2000. / 3 * .5)
  np.testing.assert_allclose(f['ceiling_frames_per_sec'],
                             2560 / (2. / 3 * .5))
  assert f['queue_fill'] == .5  # NaN (no sample) left out.
  with pytest.raises(ValueError, match='no learner steps'):
    learner_ingest.window_figures(rows, 101.5, 2560, 32)


def test_saturation():
  assert learner_ingest.saturation(10000., 2500.) == 4.
  for learner, actor in ((0., 1.), (1., 0.), (1., float('nan')),
                         (None, 1.)):
    with pytest.raises(ValueError, match='must be > 0'):
      learner_ingest.saturation(learner, actor)


def test_descendants_and_task_pids_of_this_process():
  assert os.getpid() not in learner_ingest.descendants(os.getpid())
  assert learner_ingest.task_pids(os.getpid(), 'actor') == []


def test_results_table_and_estimate(tmp_path):
  row = dict(num_actors=2, envs_per_actor=16, traj_per_sec=10.,
             frames_per_sec=800., step_ms=300., compute_ms=250.,
             ceiling_frames_per_sec=10240., queue_fill=None,
             bytes_per_trajectory=2048, parameter_bytes=4096)
  saved = flags.FLAGS.actor_frames_per_second
  flags.FLAGS.actor_frames_per_second = 2560.
  try:
    estimate = learner_ingest.estimate_lines([row])
  finally:
    flags.FLAGS.actor_frames_per_second = saved
  assert 'N* = 10240 / 2560 = 4.0 actors' in estimate[1]
  path = str(tmp_path / 'ingest.json')
  learner_ingest.write_results(path, {'rows': {'2': row}}, [row], estimate)
  with open(str(tmp_path / 'ingest.md')) as f:
    table = f.read()
  assert '| 2 | 16 | 10.0 | 800 | 300.0 | 250.0 | 10240 | - | 2.0 | 4 |' in (
      table)
  assert learner_ingest.estimate_lines([]) == ['No rows: nothing to '
                                               'estimate.']
