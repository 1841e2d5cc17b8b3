"""DeepMind Lab for real: our DMLab path against a real `deepmind_lab` build.

Every test here needs the real module and is skipped, with the reason, when
it cannot be imported (CI machines do not have it: it is built from source,
see README). The contract tests run on the stand-in
(tests/fake_deepmind_lab) as well, so that the stand-in, which the other
DMLab tests use everywhere, keeps agreeing with the real module.

The real engine prints its own log lines; they are noise, not failures.
Set IMPALA_DMLAB_ALL_LEVELS=1 to also start and step every DMLab-30 level,
train and test variants, through `environments.create_environment`
(minutes per level on a loaded 2-core machine).
"""

import importlib.util
import os

import numpy as np
import pytest
import tensorflow as tf

import dmlab30
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
    'with Bazel, see README "DeepMind Lab and DMLab-30"' % _WHY)


def _fake_module():
  spec = importlib.util.spec_from_file_location('fake_deepmind_lab_module',
                                                FAKE_DMLAB_PATH)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


_MODULES = [pytest.param('fake', id='stand-in'),
            pytest.param('real', id='real', marks=requires_real)]


@pytest.fixture(params=_MODULES)
def lab_module(request):
  return _fake_module() if request.param == 'fake' else REAL_DMLAB


SMALL = {'width': '96', 'height': '72'}


# ---------------------------------------------------------------------------
# The contract, on the stand-in and on the real module.


def test_contract_action_spec_is_what_our_action_set_assumes(lab_module):
  lab = lab_module.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED'], SMALL)
  spec = lab.action_spec()
  assert [(a['name'], a['min'], a['max']) for a in spec] == [
      ('LOOK_LEFT_RIGHT_PIXELS_PER_FRAME', -512, 512),
      ('LOOK_DOWN_UP_PIXELS_PER_FRAME', -512, 512),
      ('STRAFE_LEFT_RIGHT', -1, 1),
      ('MOVE_BACK_FORWARD', -1, 1),
      ('FIRE', 0, 1),
      ('JUMP', 0, 1),
      ('CROUCH', 0, 1)]
  for action in environments.DEFAULT_ACTION_SET:
    for value, a in zip(action, spec):
      assert a['min'] <= value <= a['max']
  lab.close()


def test_contract_observation_spec(lab_module):
  lab = lab_module.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED', 'INSTR'],
                       SMALL)
  spec = {o['name']: o for o in lab.observation_spec()}
  assert spec['RGB_INTERLEAVED']['shape'] == (72, 96, 3)
  assert spec['RGB_INTERLEAVED']['dtype'] == np.uint8
  assert spec['INSTR']['dtype'] == str and spec['INSTR']['shape'] == ()
  lab.close()


def test_contract_errors(lab_module):
  lab = lab_module.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED'], SMALL)
  forward = np.array(environments.DEFAULT_ACTION_SET[0], np.intc)
  # Before reset: the status is checked first, even for a bad action.
  with pytest.raises(RuntimeError, match='wrong status to advance'):
    lab.step(np.zeros(6, np.intc))
  with pytest.raises(RuntimeError, match='wrong status'):
    lab.observations()
  with pytest.raises(ValueError, match="'seed' must be int or None"):
    lab.reset(seed=np.int64(3))
  assert lab.reset(seed=3)
  with pytest.raises(ValueError, match=r'action must have shape \(7\)'):
    lab.step(np.zeros(6, np.intc))
  with pytest.raises(ValueError, match='action must have dtype np.intc'):
    lab.step(np.zeros(7, np.int64))
  with pytest.raises(TypeError, match='numpy.ndarray'):
    lab.step([0] * 7)
  assert isinstance(lab.step(forward, num_steps=4), float)
  assert lab.num_steps() == 4
  assert not hasattr(lab, 'fps')  # Documented, but the real Lab has none.
  with pytest.raises(TypeError):
    lab_module.Lab('seekavoid_arena_01', ('RGB_INTERLEAVED',), SMALL)
  with pytest.raises(TypeError):
    lab_module.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED'], {'width': 96})
  with pytest.raises(ValueError, match="Unknown observation 'FOO'"):
    lab_module.Lab('seekavoid_arena_01', ['FOO'], SMALL)
  lab.close()


def test_contract_episode_end(lab_module):
  config = dict(SMALL, episodeLengthSeconds='1')  # 60 frames.
  lab = lab_module.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED', 'INSTR'],
                       config)
  lab.reset(seed=1)
  observations = lab.observations()
  assert observations['RGB_INTERLEAVED'].shape == (72, 96, 3)
  assert observations['RGB_INTERLEAVED'].dtype == np.uint8
  assert observations['INSTR'] == ''
  steps = 0
  while lab.is_running():
    lab.step(np.array(environments.DEFAULT_ACTION_SET[5], np.intc),
             num_steps=4)
    steps += 1
  assert steps == 15 and lab.num_steps() == 60
  with pytest.raises(RuntimeError, match='wrong status'):
    lab.observations()
  with pytest.raises(RuntimeError, match='wrong status to advance'):
    lab.step(np.zeros(7, np.intc))
  lab.reset(seed=2)
  assert lab.is_running() and lab.num_steps() == 0
  lab.close()


def test_contract_hold_out_levels_need_the_flag(lab_module):
  name = 'contributed/dmlab30/rooms_collect_good_objects_test'
  with pytest.raises(RuntimeError, match='allowHoldOutLevels'):
    lab_module.Lab(name, ['RGB_INTERLEAVED'], SMALL).reset(seed=1)
  lab = lab_module.Lab(name, ['RGB_INTERLEAVED'],
                       dict(SMALL, allowHoldOutLevels='true'))
  lab.reset(seed=1)
  assert lab.observations()['RGB_INTERLEAVED'].shape == (72, 96, 3)
  lab.close()


# ---------------------------------------------------------------------------
# Our code on the real module.


@requires_real
def test_real_pyprocess_dmlab_observations_and_actions():
  env = environments.PyProcessDmLab('seekavoid_arena_01', {},
                                    num_action_repeats=4, seed=1)
  first = env.initial()
  frame, instruction = first.observation
  assert frame.shape == (72, 96, 3) and frame.dtype == np.uint8
  assert instruction == b''
  assert first.done and first.info == (0, 0, False)
  frames = [frame]
  for action in range(9):
    output = env.step(action)
    assert output.reward.dtype == np.float32
    assert output.info.episode_step == action + 1
    frames.append(output.observation[0])
  assert env._env.num_steps() == 9 * 4  # pylint: disable=protected-access
  # The view changes as the agent moves and turns.
  assert any(np.any(a != b) for a, b in zip(frames, frames[1:]))
  with pytest.raises(ValueError):
    env.step(9)
  env.close()


@requires_real
def test_real_episode_end_resets_and_reports_the_return():
  env = environments.PyProcessDmLab(
      'seekavoid_arena_01', {'episodeLengthSeconds': '1'},
      num_action_repeats=4, seed=2)
  env.initial()
  outputs = [env.step(a) for a in [6, 7] * 8]
  dones = [o.done for o in outputs]
  assert dones[:15] == [False] * 14 + [True]
  last = outputs[14]
  assert last.info.game_over and last.info.episode_step == 15
  assert last.info.episode_return == pytest.approx(
      sum(o.reward for o in outputs[:15]))
  assert last.observation[0].shape == (72, 96, 3)  # Next episode's first.
  assert outputs[15].info.episode_step == 1
  env.close()


@requires_real
def test_real_seeds_give_reproducible_episodes():
  def first_frames(seed):
    env = environments.PyProcessDmLab('rooms_watermaze', {}, 4, seed=seed)
    frames = [env.initial().observation[0]]
    frames += [env.step(a).observation[0] for a in (0, 6, 7)]
    env.close()
    return np.stack(frames)
  a, b = first_frames(5), first_frames(5)
  np.testing.assert_array_equal(a, b)


@requires_real
def test_real_level_cache_compiles_each_map_once(tmp_path):
  # A level script that builds its map at init (as procedural DMLab-30
  # levels do each episode); the map is compiled once, then fetched.
  cache_dir = str(tmp_path / 'cache')
  first = environments.PyProcessDmLab('tests/empty_room_test', {}, 4, 1,
                                      level_cache=cache_dir)
  first.initial()
  cached = os.listdir(cache_dir)
  assert len(cached) == 1 and not cached[0].endswith('.tmp')
  mtime = os.path.getmtime(os.path.join(cache_dir, cached[0]))
  first.close()
  second = environments.PyProcessDmLab('tests/empty_room_test', {}, 4, 2,
                                       level_cache=cache_dir)
  frame = second.initial().observation[0]
  assert frame.shape == (72, 96, 3)
  assert os.listdir(cache_dir) == cached
  assert os.path.getmtime(os.path.join(cache_dir, cached[0])) == mtime
  second.close()


@requires_real
def test_real_test_mode_uses_hold_out_levels():
  with pytest.raises(RuntimeError, match='allowHoldOutLevels'):
    environments.PyProcessDmLab(
        'contributed/dmlab30/rooms_collect_good_objects_test', {}, 4, 1
    ).initial()
  env = environments.PyProcessDmLab(
      'contributed/dmlab30/rooms_collect_good_objects_test', {}, 4, 1,
      is_test=True)
  assert env.initial().observation[0].shape == (72, 96, 3)
  env.close()


@requires_real
def test_real_through_a_child_process_and_tf_ops(tmp_path):
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
  with pytest.raises(ValueError, match='dataset_path'):
    environments.PyProcessDmLab(
        'contributed/dmlab30/psychlab_arbitrary_visuomotor_mapping', {}, 4, 1)


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
