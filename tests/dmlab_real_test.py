"""DeepMind Lab for real: our DMLab path against a real `deepmind_lab` build.

Every test here needs the real module and is skipped, with the reason, when
it cannot be imported (CI machines do not have it: it is built from source,
see docs/dmlab.md). The contract tests run on the stand-in
(tests/fake_deepmind_lab) as well, so that the stand-in, which the other
DMLab tests use everywhere, keeps agreeing with the real module.

The real engine prints its own log lines; they are noise, not failures.
Set IMPALA_DMLAB_ALL_LEVELS=1 to also start and step every DMLab-30 level,
train and test variants, through `environments.create_environment`
(minutes per level on a loaded 2-core machine).
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import dmlab30
import dmlab_contract
import environments
import levels
import py_process

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_DMLAB_PATH = os.path.join(HERE, 'fake_deepmind_lab', 'deepmind_lab.py')


def _real_module():
  """The real `deepmind_lab` module, or None (with why) if not importable."""
  spec = importlib.util.find_spec('deepmind_lab')
  if spec is None:
    return None, 'deepmind_lab is not installed'
  if spec.origin and os.path.abspath(spec.origin) == FAKE_DMLAB_PATH:
    return None, 'only the stand-in deepmind_lab is on sys.path'
  try:
    import deepmind_lab  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    return None, 'deepmind_lab does not import: %s' % e
  return deepmind_lab, ''


REAL_DMLAB, _WHY = _real_module()
requires_real = pytest.mark.skipif(
    REAL_DMLAB is None,
    reason='needs a real DeepMind Lab build (%s); it is built from source '
    'with Bazel, see docs/dmlab.md' % _WHY)


def _run_real_contract(*checks):
  """Runs dmlab_contract checks on the real module in a fresh process (no
  TensorFlow there: DeepMind Lab crashes in a process that imported it)."""
  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join(
      [os.path.dirname(HERE)] + ([env['PYTHONPATH']] if 'PYTHONPATH' in env
                                 else []))
  result = subprocess.run(
      [sys.executable, os.path.join(HERE, 'dmlab_contract.py'), 'real'] +
      list(checks), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
      timeout=600, check=False)
  output = result.stdout.decode(errors='replace')
  assert result.returncode == 0, output[-3000:]
  for check in checks:
    assert 'contract check %s passed on the real module' % check in output


# ---------------------------------------------------------------------------
# The contract (tests/dmlab_contract.py), on the stand-in and the real module.


@pytest.mark.parametrize('check', [c.__name__ for c in dmlab_contract.CHECKS])
def test_contract_on_the_stand_in(check):
  getattr(dmlab_contract, check)(dmlab_contract.load_fake())


@requires_real
@pytest.mark.parametrize('check', [c.__name__ for c in dmlab_contract.CHECKS])
def test_contract_on_the_real_module(check):
  _run_real_contract(check)


# ---------------------------------------------------------------------------
# Our code on the real module, each environment in a child process.


def _child(level, seed=1, **kwargs):
  """PyProcessDmLab in a started child (the process as training uses it)."""
  kwargs.setdefault('config', {})
  kwargs.setdefault('num_action_repeats', 4)
  process = py_process.PyProcess(environments.PyProcessDmLab, level=level,
                                 seed=seed, **kwargs)
  process.start()
  return process


@requires_real
def test_real_refuses_to_run_next_to_tensorflow():
  # This test process has imported TensorFlow; DeepMind Lab would crash.
  assert 'tensorflow' in sys.modules
  with pytest.raises(RuntimeError, match='child process'):
    environments.PyProcessDmLab('seekavoid_arena_01', {}, 4, seed=1)


@requires_real
def test_real_observations_and_actions():
  with _child('seekavoid_arena_01') as env:
    first = env.call('initial')
    frame, instruction = first.observation
    assert frame.shape == (72, 96, 3) and frame.dtype == np.uint8
    assert instruction == b''
    assert first.done and tuple(first.info) == (0, 0, False)
    frames = [frame]
    for action in range(9):
      output = env.call('step', action)
      assert output.reward.dtype == np.float32
      assert output.info.episode_step == action + 1
      assert not output.done
      frames.append(output.observation[0])
    # The view changes as the agent moves and turns.
    assert any(np.any(a != b) for a, b in zip(frames, frames[1:]))
    with pytest.raises(py_process.PyProcessError, match='action must be in'):
      env.call('step', 9)


@requires_real
def test_real_episode_end_resets_and_reports_the_return():
  with _child('seekavoid_arena_01', seed=2,
              config={'episodeLengthSeconds': '1'}) as env:  # 15 steps.
    env.call('initial')
    outputs = [env.call('step', a) for a in [6, 7] * 8]
  dones = [o.done for o in outputs]
  assert dones[:15] == [False] * 14 + [True]
  last = outputs[14]
  assert last.info.game_over and last.info.episode_step == 15
  assert last.info.episode_return == pytest.approx(
      sum(o.reward for o in outputs[:15]))
  assert last.observation[0].shape == (72, 96, 3)  # Next episode's first.
  assert outputs[15].info.episode_step == 1
  assert not outputs[15].done


@requires_real
def test_real_seeds_give_reproducible_episodes():
  def frames(seed):
    with _child('contributed/dmlab30/rooms_watermaze', seed=seed) as env:
      result = [env.call('initial').observation[0]]
      result += [env.call('step', a).observation[0] for a in (0, 6, 7)]
    return np.stack(result)
  np.testing.assert_array_equal(frames(5), frames(5))


@requires_real
def test_real_level_cache_compiles_each_map_once(tmp_path):
  # tests/empty_room_test builds its map when the level starts, as the
  # procedural DMLab-30 levels do each episode: compiled once, then fetched.
  cache_dir = str(tmp_path / 'cache')
  with _child('tests/empty_room_test', level_cache=cache_dir) as env:
    env.call('initial')
  cached = os.listdir(cache_dir)
  assert len(cached) == 1 and not cached[0].endswith('.tmp'), cached
  mtime = os.path.getmtime(os.path.join(cache_dir, cached[0]))
  with _child('tests/empty_room_test', seed=2, level_cache=cache_dir) as env:
    assert env.call('initial').observation[0].shape == (72, 96, 3)
  assert os.listdir(cache_dir) == cached
  assert os.path.getmtime(os.path.join(cache_dir, cached[0])) == mtime


@requires_real
def test_real_test_mode_uses_hold_out_levels():
  level = 'contributed/dmlab30/rooms_collect_good_objects_test'
  with pytest.raises(py_process.PyProcessError, match='allowHoldOutLevels'):
    _child(level)
  with _child(level, is_test=True) as env:
    assert env.call('initial').observation[0].shape == (72, 96, 3)


@requires_real
def test_real_through_tf_ops(tmp_path):
  with tf.Graph().as_default():
    process = environments.create_environment(
        'dmlab', 'seekavoid_arena_01', seed=3, level_cache=str(tmp_path))
    env = environments.FlowEnvironment(process)
    state, first = env.initial()
    outputs = []
    for action in (0, 8, 5):
      state, output = env.step(tf.constant(action), state)
      outputs.append(output)
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      first_value, output_values = session.run((first, outputs))
  assert first_value.observation[0].shape == (72, 96, 3)
  assert first_value.observation[1] == b''
  assert [o.info.episode_step for o in output_values] == [1, 2, 3]


@requires_real
def test_real_psychlab_without_data_set_fails_clearly():
  for level in environments.DMLAB_LEVELS_NEEDING_DATASET:
    with pytest.raises(ValueError, match='dataset_path'):
      environments.create_environment('dmlab', 'contributed/dmlab30/' + level,
                                      seed=1)
    with pytest.raises(ValueError, match='Brady'):
      environments.PyProcessDmLab('contributed/dmlab30/' + level, {}, 4, 1)


# ---------------------------------------------------------------------------
# Every DMLab-30 level, train and test variant (opt-in: slow).

_ALL = os.environ.get('IMPALA_DMLAB_ALL_LEVELS') == '1'


@requires_real
@pytest.mark.skipif(not _ALL, reason='set IMPALA_DMLAB_ALL_LEVELS=1 to '
                    'start every DMLab-30 level (minutes each)')
@pytest.mark.parametrize('is_test', [False, True], ids=['train', 'test'])
@pytest.mark.parametrize('level', list(dmlab30.LEVEL_MAPPING))
def test_real_every_dmlab30_level(level, is_test, tmp_path):
  name = levels.evaluation_level(level) if is_test else level
  domain, script = levels.environment_level(name)
  assert domain == 'dmlab'
  if name.startswith('natlab_') and not os.path.exists(os.path.join(
      REAL_DMLAB.runfiles_path(), 'baselab', 'maps',
      'natlab_forage_ltm_day.bsp')):
    pytest.skip('this DeepMind Lab build lacks the prebuilt natlab maps '
                '(assets/maps/built/natlab_*.bsp)')
  if name in environments.DMLAB_LEVELS_NEEDING_DATASET:
    with pytest.raises(ValueError, match='dataset_path'):
      environments.create_environment(domain, script, seed=1, is_test=is_test)
    return
  with environments.create_environment(
      domain, script, seed=1, is_test=is_test,
      level_cache=str(tmp_path)) as process:
    first = process.call('initial')
    assert first.observation[0].shape == (72, 96, 3)
    assert isinstance(first.observation[1], bytes)
    if name.startswith('language_'):
      assert first.observation[1]
    for action in np.random.RandomState(0).randint(9, size=50):
      output = process.call('step', int(action))
      assert output.observation[0].shape == (72, 96, 3)
