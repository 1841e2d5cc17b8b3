# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""pbt.py: a population on catch evolves, survives a killed member, stops
and resumes, and learns; bad flags fail before any process starts."""

import glob
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

import config as config_lib
from experiment_test import parsed_flags  # pylint: disable=unused-import
import pbt
import files
import population
import process_util

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PBT = os.path.join(ROOT, 'pbt.py')


def pbt_command(logdir, *args):
  return [sys.executable, PBT, '--level_name=catch', '--logdir=' + logdir
          ] + list(args)


def environment():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONUNBUFFERED='1')


def wait_for(condition, what, timeout):
  deadline = time.time() + timeout
  while time.time() < deadline:
    value = condition()
    if value:
      return value
    time.sleep(0.5)
  raise AssertionError('timed out waiting for ' + what)


def test_defaults_follow_the_paper(parsed_flags):
  atari = config_lib.resolve_pbt_config(config_lib.resolve_config('atari57'))
  assert (atari.population_size, atari.burn_in_frames,
          atari.interval_episodes, atari.fitness_threshold,
          atari.perturb_probability, atari.perturb_factor) == (
              24, 20e6, 5000, 5., 1. / 3, 1.2)
  assert atari.hyperparameters == ('learning_rate', 'entropy_cost', 'epsilon',
                                   'gradient_clipping')
  assert not atari.relative_threshold  # Absolute HNS points on a suite.
  parsed_flags.save_checkpoint_secs = 30
  parsed_flags['save_checkpoint_secs'].present = 1
  catch = config_lib.resolve_pbt_config(config_lib.resolve_config('catch'))
  parsed_flags['save_checkpoint_secs'].present = 0
  assert catch.hyperparameters == ('learning_rate', 'entropy_cost', 'epsilon')
  assert catch.relative_threshold and catch.member_checkpoint_secs == 30


@pytest.mark.parametrize('values,message', [
    (dict(population_size=1), '--population_size must be >= 2.'),
    (dict(pbt_perturb_probability=1.5), '--pbt_perturb_probability must be'),
    (dict(pbt_perturb_factor=0.8), '--pbt_perturb_factor must be >= 1'),
    (dict(pbt_interval_episodes=0), '--pbt_interval_episodes must be >= 1'),
    (dict(pbt_hyperparameters=['learning_rate', 'momentum']),
     '--pbt_hyperparameters: unknown momentum'),
    (dict(pbt_hyperparameters=['gradient_clipping'], gradient_clipping=0.),
     'needs --gradient_clipping > 0'),
    (dict(mode='test'), 'pbt.py trains on one machine'),
])
def test_bad_flags_raise(parsed_flags, values, message):
  for name, value in values.items():
    setattr(parsed_flags, name, value)
  with pytest.raises(ValueError, match=re.escape(message)):
    config_lib.resolve_pbt_config(config_lib.resolve_config('catch'))


def test_bad_flags_fail_with_one_line_before_any_process(tmp_path):
  logdir = str(tmp_path / 'pbt')
  result = subprocess.run(
      pbt_command(logdir, '--pbt_hyperparameters=momentum'),
      env=environment(), capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert lines[-1] == ('pbt.py: error: --pbt_hyperparameters: unknown '
                       'momentum; choose from learning_rate, entropy_cost, '
                       'epsilon, gradient_clipping.')
  assert 'Traceback' not in result.stderr
  assert 'absl::InitializeLog' not in result.stderr  # console.py's filter.
  assert not glob.glob(os.path.join(logdir, 'member_*'))


def member_rows(logdir, k):
  return pbt.read_rows(os.path.join(logdir, 'member_%02d' % k,
                                    'progress.csv'))


def test_population_evolves_recovers_and_resumes(tmp_path):
  """3 members on catch, 100K frames each. With --seed=2 the Table D.1
  draws are learning rates 3.7e-3 (epsilon 0.1), 9.4e-6 and 8.1e-4
  (epsilon 1e-5): trained alone with these flags, the first reaches a mean
  return of 0.98 by 28K frames, the other two stay below 0 at 100K. The
  burn-in lets the first show it before anyone copies on noise (at 5K
  frames every member is at chance, about -0.6, and an early copy could
  replace the good draw); after it, the others must copy it to learn."""
  logdir = str(tmp_path / 'pbt')
  lineage_path = os.path.join(logdir, 'pbt.csv')
  command = pbt_command(
      logdir, '--population_size=3', '--num_actors=1', '--envs_per_actor=8',
      '--batch_size=8', '--total_environment_frames=100000',
      '--pbt_burn_in_frames=30000',
      '--pbt_interval_episodes=150', '--pbt_poll_secs=0.5',
      '--log_interval_secs=1', '--seed=2')
  start = time.time()
  controller = subprocess.Popen(command, env=environment(),
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
  try:
    # Evolution: a copy of another member's weights.
    wait_for(lambda: any(r['event'] == 'exploit'
                         for r in pbt.read_rows(lineage_path)),
             'an exploit in pbt.csv', 400)
    # A killed member is restarted from its checkpoint.
    members = [p for p in process_util.children_of(controller.pid)
               if process_util.alive(p) and
               pbt.EXPERIMENT_SCRIPT in process_util.command_line(p)]
    assert len(members) == 3
    # The other two are held still (each member is its own process group)
    # until Ctrl-C, so that neither reaches its budget first: on a fast
    # machine they would while the killed one restarts.
    for pid in members[1:]:
      os.killpg(pid, signal.SIGSTOP)
    os.kill(members[0], signal.SIGKILL)
    wait_for(lambda: any(r['event'] == 'restart'
                         for r in pbt.read_rows(lineage_path)),
             'the restart in pbt.csv', 60)
    (restarted,) = {r['member'] for r in pbt.read_rows(lineage_path)
                    if r['event'] == 'restart'}
    restarted_log = os.path.join(logdir, 'member_%02d' % int(restarted),
                                 'member.log')
    wait_for(lambda: open(restarted_log).read().count('Training catch from '
                                                      'frame') == 2,
             'the restarted member', 200)
    # Ctrl-C stops the population with checkpoints.
    for pid in members[1:]:
      os.killpg(pid, signal.SIGCONT)
    controller.send_signal(signal.SIGINT)
    assert controller.wait(200) == 0
  finally:
    if controller.poll() is None:
      controller.kill()
  stopped_events = len({r['event_id'] for r in pbt.read_rows(lineage_path)})
  state = population.read_json(os.path.join(logdir, 'pbt_state.json'))
  assert state['events'] == stopped_events
  stopped_frames = [tf.train.load_variable(
      tf.train.latest_checkpoint(os.path.join(logdir, 'member_%02d' % k)),
      'global_step') for k in range(3)]
  print('PBT on catch: stopped at frames', stopped_frames)
  assert all(0 < f < 100000 for f in stopped_frames), stopped_frames

  # The same command resumes every member and the controller's state.
  result = subprocess.run(command, env=environment(), capture_output=True,
                          text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  print('PBT on catch: %.0f s in all' % (time.time() - start))
  lineage = pbt.read_rows(lineage_path)
  assert max(int(r['event_id']) for r in lineage) > stopped_events
  assert [r for r in lineage if r['event'] == 'init'] == [
      r for r in lineage[:9]]  # Sampled once, not again on resume.
  for k in range(3):
    log = open(os.path.join(logdir, 'member_%02d' % k, 'member.log')).read()
    assert 'Training catch from frame %d' % stopped_frames[k] in log
  assert {'exploit', 'explore'} <= {r['event'] for r in lineage}
  assert os.path.getsize(os.path.join(logdir, 'pbt.png')) > 10000

  # A copied member's weights equal its source's checkpoint at the copy.
  restored = glob.glob(os.path.join(logdir, 'member_*', 'pbt_copies', 'v*',
                                    population.RESTORED_FILE))
  assert restored
  for path in restored:
    record = population.read_json(path)
    reader = tf.train.load_checkpoint(record['restored_checkpoint'])
    weights = {name: reader.get_tensor(name)
               for name in reader.get_variable_to_shape_map()
               if name != 'global_step'}
    assert population.weights_digest(weights) == record['weights_sha256']

  # Every member reaches its budget and learns catch: the single-run bar.
  finals = []
  for k in range(3):
    rows = member_rows(logdir, k)
    finals.append(float(rows[-1]['mean_episode_return']))
    assert int(rows[-1]['frames']) >= 100000
  print('PBT on catch: final mean returns', finals)
  assert min(finals) >= 0.9, finals


def test_request_snapshot_waits_for_the_answer_or_gives_up(tmp_path):
  source = str(tmp_path / 'source')
  os.makedirs(source)
  destination = str(tmp_path / 'copies' / 'v1')

  def answer_when_asked():
    request = population.read_json(
        os.path.join(source, population.SNAPSHOT_REQUEST_FILE))
    if request is not None:
      files.write_json(
          os.path.join(source, population.SNAPSHOT_FILE),
          dict(id=request['id'], frames=5,
               checkpoint=request['destination'] + '/model.ckpt'))
    return True

  assert pbt.request_snapshot(source, destination, answer_when_asked,
                              timeout=5) == destination + '/model.ckpt'
  # An answer to an earlier request does not count; a dead source ends the
  # wait at once.
  start = time.time()
  assert pbt.request_snapshot(source, destination, lambda: False,
                              timeout=30) is None
  assert time.time() - start < 5
  assert pbt.request_snapshot(source, destination, lambda: True,
                              timeout=0.3) is None


def test_remove_old_copies_keeps_the_newest_versions(tmp_path):
  for name in ('v1', 'v2', 'v2.latest', 'v10', 'v11.tmp', 'other'):
    os.makedirs(tmp_path / name)
  pbt.remove_old_copies(str(tmp_path), keep=2)
  assert sorted(os.listdir(tmp_path)) == ['other', 'v10', 'v11.tmp', 'v2',
                                          'v2.latest']
