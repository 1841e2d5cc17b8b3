"""Tests for environments and atari_environment: Atari (real emulator),
DeepMind Lab (stand-in), catch, and the TF flow wrapper."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

import atari57
import atari_environment
import environments
import py_process

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_DMLAB_DIR = os.path.join(HERE, 'fake_deepmind_lab')


def _random_actions(seed, num_actions, n=100000):
  return np.random.RandomState(seed).randint(num_actions, size=n)


def _play_game(env, actions):
  """Steps until game over; returns the list of StepOutputs."""
  outputs = []
  for action in actions:
    outputs.append(env.step(action))
    if outputs[-1].info.game_over:
      return outputs
  raise AssertionError('game did not end')


def _area_resize_reference(image, size):
  """Exact area interpolation: replicate pixels `size` times, average blocks."""
  image = image.astype(np.float64)
  h, w = image.shape
  rows = np.repeat(image, size, axis=0).reshape(size, h, w).mean(axis=1)
  return np.repeat(rows, size, axis=1).reshape(size, size, w).mean(axis=2)


# ---------------------------------------------------------------------------
# Atari.


@pytest.mark.parametrize('shape', [(210, 160), (250, 160), (100, 90)])
def test_area_resize_matches_exact_area_interpolation(shape):
  image = np.random.RandomState(0).randint(0, 256, size=shape, dtype=np.uint8)
  resized = atari_environment.AreaResize(shape[0], shape[1], 84)(image)
  assert resized.shape == (84, 84) and resized.dtype == np.uint8
  expected = np.floor(_area_resize_reference(image, 84) + 0.5)
  assert np.abs(resized - expected).max() <= 1  # float32 vs float64 rounding
  assert np.mean(resized == expected) > 0.99
  constant = np.full(shape, 77, np.uint8)
  np.testing.assert_array_equal(
      atari_environment.AreaResize(shape[0], shape[1], 84)(constant), 77)


def test_atari_observation_shape_and_dtypes():
  env = atari_environment.PyProcessAtari('pong', seed=1)
  first = env.initial()
  assert first.done and first.reward == 0
  assert first.info == (0, 0, False)
  for output in (first, env.step(0)):
    frame, instruction = output.observation
    assert frame.shape == (84, 84, 4) and frame.dtype == np.uint8
    assert instruction == b''
    assert output.reward.dtype == np.float32
    assert output.info.episode_return.dtype == np.float32
    assert output.info.episode_step.dtype == np.int32
  # The first frame is stacked 4 times.
  for k in range(1, 4):
    np.testing.assert_array_equal(first.observation[0][:, :, k],
                                  first.observation[0][:, :, 0])
  specs = atari_environment.PyProcessAtari._tensor_specs(  # pylint: disable=protected-access
      'step', {}, {'frame_size': 84, 'frame_stack': 4})
  assert specs.observation[0].shape.as_list() == [84, 84, 4]


def test_atari_frames_are_max_pooled_resized_grayscale_and_stacked():
  env = atari_environment.PyProcessAtari('pong', seed=3)
  env.initial()
  noops = env._ale.getEpisodeFrameNumber()  # pylint: disable=protected-access
  # Replay the same frames on a second emulator and build frames by hand.
  replica = atari_environment._make_ale('pong', 3, False)  # pylint: disable=protected-access
  noop = replica.getLegalActionSet()[0]
  action_set = replica.getMinimalActionSet()
  for _ in range(noops):
    replica.act(noop)
  resize = atari_environment.AreaResize(210, 160, 84)
  actions = _random_actions(0, len(action_set), 60)
  expected_frames = []
  max_pool_mattered = False
  for action in actions:
    screens = []
    for _ in range(4):
      replica.act(action_set[action])
      screens.append(replica.getScreenGrayscale())
    max_pool_mattered |= bool(np.any(screens[2] != screens[3]))
    expected_frames.append(resize(np.maximum(screens[2], screens[3])))
    frame = env.step(action).observation[0]
    # Channels are the last 4 frames, oldest first.
    for k in range(4):
      if len(expected_frames) >= 4 - k:
        np.testing.assert_array_equal(frame[:, :, k],
                                      expected_frames[k - 4])
  assert max_pool_mattered


def test_atari_noop_starts():
  counts = []
  for seed in range(8):
    env = atari_environment.PyProcessAtari('pong', seed=seed)
    env.initial()
    counts.append(env._ale.getEpisodeFrameNumber())  # pylint: disable=protected-access
  assert all(1 <= c <= 30 for c in counts)
  assert len(set(counts)) > 1
  env = atari_environment.PyProcessAtari('pong', seed=0, noop_max=0)
  env.initial()
  assert env._ale.getEpisodeFrameNumber() == 0  # pylint: disable=protected-access


def test_atari_life_loss_ends_episodes_but_not_the_game():
  env = atari_environment.PyProcessAtari('breakout', seed=3)
  env.initial()
  frames_before = []
  outputs = []
  for action in _random_actions(1, env.num_actions):
    frames_before.append(env._ale.getEpisodeFrameNumber())  # pylint: disable=protected-access
    outputs.append(env.step(action))
    if outputs[-1].info.game_over:
      break
  dones = [i for i, o in enumerate(outputs) if o.done]
  assert len(dones) == 5  # Breakout has 5 lives.
  assert dones[-1] == len(outputs) - 1
  assert [o.info.game_over for o in outputs].count(True) == 1
  # No no-ops after a life loss: the step after it starts 4 frames later.
  for i in dones[:-1]:
    assert frames_before[i + 1] == frames_before[i] + 4
  # The score covers the whole game, summed across lives.
  rewards = [o.reward for o in outputs]
  assert outputs[-1].info.episode_return == pytest.approx(sum(rewards))
  assert outputs[-1].info.episode_step == len(outputs)
  running = np.cumsum(rewards)
  np.testing.assert_allclose([o.info.episode_return for o in outputs],
                             running)
  # And restart after the game.
  after = env.step(0)
  assert after.info.episode_step == 1 and not after.info.game_over
  assert after.info.episode_return == after.reward

  env = atari_environment.PyProcessAtari('breakout', seed=3,
                                    terminal_on_life_loss=False)
  env.initial()
  outputs = _play_game(env, _random_actions(1, env.num_actions))
  assert [o.done for o in outputs].count(True) == 1 and outputs[-1].done


def test_atari_episode_cap_and_return_with_negative_rewards():
  env = atari_environment.PyProcessAtari('pong', seed=5,
                                        max_episode_frames=1000)
  env.initial()
  noops = env._ale.getEpisodeFrameNumber()  # pylint: disable=protected-access
  outputs = _play_game(env, _random_actions(2, env.num_actions))
  last = outputs[-1]
  assert last.done and last.info.game_over
  assert last.info.episode_step == len(outputs) == -(-(1000 - noops) // 4)
  rewards = [o.reward for o in outputs]
  assert min(rewards) == -1  # Raw rewards, including points lost.
  assert last.info.episode_return == pytest.approx(sum(rewards))
  # The observation on the game-over step is the next game's first.
  frame = last.observation[0]
  for k in range(1, 4):
    np.testing.assert_array_equal(frame[:, :, k], frame[:, :, 0])


def test_atari_is_deterministic_per_seed():
  def play(seed, sticky=False):
    env = atari_environment.PyProcessAtari('pong', seed=seed,
                                      sticky_actions=sticky)
    outputs = [env.initial()]
    outputs += [env.step(a) for a in _random_actions(7, env.num_actions, 150)]
    return np.stack([o.observation[0] for o in outputs])

  np.testing.assert_array_equal(play(11), play(11))
  assert np.any(play(11) != play(12))
  sticky = play(11, sticky=True)
  np.testing.assert_array_equal(sticky, play(11, sticky=True))
  assert np.any(sticky != play(11))


def test_atari_action_sets():
  minimal = atari_environment.PyProcessAtari('pong', seed=0)
  full = atari_environment.PyProcessAtari('pong', seed=0,
                                         full_action_space=True)
  assert minimal.num_actions == 6 == environments.num_actions('atari', 'pong')
  assert full.num_actions == 18 == environments.num_actions(
      'atari', 'pong', full_action_space=True)
  assert atari_environment.atari_num_actions('breakout') == 4
  assert minimal._ale.getFloat('repeat_action_probability') == 0  # pylint: disable=protected-access
  full.initial()
  full.step(17)
  with pytest.raises(ValueError, match=r'action must be in \[0, 6\)'):
    minimal.step(6)
  with pytest.raises(ValueError, match='atari_game_ids'):
    environments.create_environment('atari', 'Pong-v5', seed=0)
  assert 'space_invaders' in atari_environment.atari_game_ids()


def test_every_atari57_game_steps_with_the_full_and_minimal_action_sets():
  """All 57 games, one ROM load each, in this process: action k is the same
  ALE action (the standard order NOOP, FIRE, UP, ... DOWNLEFTFIRE) in every
  game, even where the ROM's legal set is smaller (Skiing: 9)."""
  import ale_py  # pylint: disable=g-import-not-at-top
  full_set = [ale_py.Action(k) for k in range(18)]
  assert [a.name for a in full_set] == list(
      atari_environment.ATARI_FULL_ACTION_SET)
  for game in atari57.GAMES:
    env = atari_environment.PyProcessAtari(game, seed=1, full_action_space=True)
    assert env.num_actions == 18 == environments.num_actions(
        'atari', game, full_action_space=True), game
    assert list(env._action_set) == full_set, game  # pylint: disable=protected-access
    minimal = list(env._ale.getMinimalActionSet())  # pylint: disable=protected-access
    assert 2 <= len(minimal) <= 18 and minimal[0] == ale_py.Action.NOOP, game
    env.initial()
    for action in list(range(18)) + [full_set.index(a) for a in minimal]:
      output = env.step(action)
      assert output.observation[0].shape == (84, 84, 4), game
      assert np.isfinite(output.reward), game
    with pytest.raises(ValueError, match=r'action must be in \[0, 18\)'):
      env.step(18)


# ---------------------------------------------------------------------------
# DeepMind Lab, through the stand-in module.


@pytest.fixture
def fake_dmlab(monkeypatch):
  monkeypatch.syspath_prepend(FAKE_DMLAB_DIR)
  monkeypatch.delitem(sys.modules, 'deepmind_lab', raising=False)
  import deepmind_lab  # pylint: disable=g-import-not-at-top
  yield deepmind_lab
  sys.modules.pop('deepmind_lab', None)


def test_fake_dmlab_rejects_bad_actions_like_the_engine(fake_dmlab):
  lab = fake_dmlab.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED'])
  lab.reset(seed=1)
  with pytest.raises(ValueError, match='intc'):
    lab.step(np.zeros(7, np.int64))
  with pytest.raises(ValueError, match='shape'):
    lab.step(np.zeros(6, np.intc))
  with pytest.raises(TypeError):
    lab.step([0] * 7)
  with pytest.raises(TypeError, match='strings'):
    fake_dmlab.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED'],
                   config={'width': 96})
  assert [a['name'] for a in lab.action_spec()][3] == 'MOVE_BACK_FORWARD'


def test_dmlab_action_mapping_and_observations(fake_dmlab):
  del fake_dmlab
  env = environments.PyProcessDmLab('language_select_described_object', {},
                                    num_action_repeats=4, seed=1)
  first = env.initial()
  frame, instruction = first.observation
  assert frame.shape == (72, 96, 3) and frame.dtype == np.uint8
  assert instruction == b'Pick the red object.'
  assert first.done and first.info == (0, 0, False)
  for action in range(9):
    env.step(action)
  received = env._env._actions  # pylint: disable=protected-access
  assert len(received) == 9
  for action, (raw, num_steps) in enumerate(received):
    assert raw.dtype == np.intc and raw.shape == (7,)
    assert tuple(raw) == environments.DEFAULT_ACTION_SET[action]
    assert num_steps == 4
  assert environments.DEFAULT_ACTION_SET[4] == (-20, 0, 0, 0, 0, 0, 0)
  with pytest.raises(ValueError):
    env.step(9)
  assert environments.num_actions('dmlab', 'any') == 9
  no_language = environments.PyProcessDmLab('seekavoid_arena_01', {}, 4, 1)
  assert no_language.initial().observation[1] == b''


def test_dmlab_episode_end_and_reset(fake_dmlab):
  del fake_dmlab
  # 1 s at 60 fps = 60 frames = 15 agent steps of 4 frames.
  env = environments.PyProcessDmLab('seekavoid_arena_01', {'width': 32},
                                    num_action_repeats=4, seed=2)
  env.initial()
  outputs = [env.step(a) for a in [0] * 14 + [8]]  # Forward; fire at the end.
  assert [o.done for o in outputs] == [False] * 14 + [True]
  last = outputs[-1]
  assert last.reward == 40  # Stand-in reward: 10 per frame with FIRE.
  assert last.info == (14 * 4 + 40, 15, True)
  assert last.observation[0].shape == (72, 32, 3)
  assert env._env.num_steps() == 0  # Already reset.  # pylint: disable=protected-access
  following = env.step(1)
  assert following.info.episode_step == 1 and following.reward == -4


def test_dmlab_level_cache(fake_dmlab, tmp_path):
  del fake_dmlab
  cache_dir = str(tmp_path / 'cache')
  first = environments.PyProcessDmLab('seekavoid_arena_01', {}, 4, 1,
                                      level_cache=cache_dir)
  assert first._env._map_source == 'compiled'  # pylint: disable=protected-access
  assert len(os.listdir(cache_dir)) == 1
  second = environments.PyProcessDmLab(
      'seekavoid_arena_01', {}, 4, 2,
      level_cache=environments.LocalLevelCache(cache_dir))
  assert second._env._map_source == 'cache'  # pylint: disable=protected-access
  other = environments.PyProcessDmLab('lt_chasm', {}, 4, 1,
                                      level_cache=cache_dir)
  assert other._env._map_source == 'compiled'  # pylint: disable=protected-access


def test_dmlab_test_mode_config(fake_dmlab):
  del fake_dmlab
  config = environments.dmlab_config({'width': 96}, is_test=True,
                                     dataset_path='/data/brady')
  assert config == {'width': '96', 'height': '72',
                    'allowHoldOutLevels': 'true',
                    'mixerSeed': str(0x600D5EED),
                    'datasetPath': '/data/brady'}
  assert 'allowHoldOutLevels' not in environments.dmlab_config()
  with pytest.raises(RuntimeError, match='allowHoldOutLevels'):
    environments.PyProcessDmLab('language_answer_quantitative_question_test',
                                {}, 4, seed=1)
  test_env = environments.PyProcessDmLab(
      'language_answer_quantitative_question_test', {}, 4, seed=1,
      is_test=True)
  train_env = environments.PyProcessDmLab(
      'language_answer_quantitative_question', {}, 4, seed=1)
  assert test_env._env._config['mixerSeed'] == str(0x600D5EED)  # pylint: disable=protected-access
  # Same seed, different mixer seed: different episodes.
  assert np.any(test_env.initial().observation[0] !=
                train_env.initial().observation[0])


def test_dmlab_missing_module_fails_before_any_process(monkeypatch):
  monkeypatch.setitem(sys.modules, 'deepmind_lab', None)  # Import fails.
  with pytest.raises(ImportError, match='github.com/google-deepmind/lab'):
    environments.check_dmlab_available()
  with tf.Graph().as_default():
    with pytest.raises(ImportError, match='build it from source with Bazel'):
      environments.create_environment(
          'dmlab', 'contributed/dmlab30/rooms_watermaze', seed=1)
    assert not py_process.graph_processes()
  with pytest.raises(ImportError, match='not installed'):
    environments.PyProcessDmLab('seekavoid_arena_01', {}, 4, 1)


def test_dmlab_through_a_child_process(fake_dmlab, tmp_path):
  del fake_dmlab
  with tf.Graph().as_default():
    process = environments.create_environment(
        'dmlab', 'language_select_described_object', seed=3, is_test=False,
        width=48, height=36, level_cache=str(tmp_path))
    env = environments.FlowEnvironment(process)
    state, first = env.initial()
    state, output = env.step(tf.constant(0), state)
    assert output.observation[0].shape.as_list() == [36, 48, 3]
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      first_value, output_value = session.run((first, output))
    assert first_value.observation[1] == b'Pick the red object.'
    assert output_value.reward == 4 and not output_value.done
    assert output_value.observation[0].shape == (36, 48, 3)
  assert os.listdir(str(tmp_path))  # The child wrote the level cache.


# ---------------------------------------------------------------------------
# Catch.


def test_catch_dynamics_and_rewards():
  env = environments.PyProcessCatch(seed=4)
  first = env.initial()
  frame = first.observation[0]
  assert frame.shape == (40, 20, 1) and frame.dtype == np.uint8
  assert set(np.unique(frame)) == {0, 255}
  grid = frame[::4, ::4, 0] == 255
  ball_column = int(np.flatnonzero(grid[0])[0])
  assert grid.sum() == 2 and grid[9, 2]  # Ball on top, paddle mid-bottom.
  np.testing.assert_array_equal(frame, np.kron(grid * 255, np.ones(
      [4, 4]))[:, :, None])

  def catch_policy(ball, paddle):
    return 1 + int(np.sign(ball - paddle))

  # Follow the ball: +1 after 9 steps, ball falling one row per step.
  paddle = 2
  for step in range(1, 10):
    output = env.step(catch_policy(ball_column, paddle))
    paddle = min(max(paddle + catch_policy(ball_column, paddle) - 1, 0), 4)
    if step < 9:
      grid = output.observation[0][::4, ::4, 0] == 255
      assert grid[step, ball_column] and grid[9, paddle]
      assert output.reward == 0 and not output.done
  assert output.done and output.info.game_over and output.reward == 1
  assert output.info == (1, 9, True)
  # New episode; move away from the ball: -1.
  grid = output.observation[0][::4, ::4, 0] == 255
  ball_column = int(np.flatnonzero(grid[0])[0])
  away = 0 if ball_column >= 2 else 2
  for _ in range(9):
    output = env.step(away)
  assert output.done and output.reward == -1 and output.info == (-1, 9, True)
  with pytest.raises(ValueError):
    env.step(3)

  columns = set()
  for _ in range(90):
    out = env.step(1)
    if out.done:
      columns.add(int(np.flatnonzero(out.observation[0][0, ::4, 0])[0]))
  assert len(columns) > 1  # The ball starts in random columns.
  second = environments.PyProcessCatch(seed=4)
  np.testing.assert_array_equal(second.initial().observation[0],
                                first.observation[0])
  assert environments.num_actions('catch', 'catch') == 3


def test_catch_in_a_tf_unroll_through_a_child():
  with tf.Graph().as_default():
    env = environments.FlowEnvironment(
        environments.create_environment('catch', 'catch', seed=0, rows=6))
    state, first = env.initial()

    def body(t, state, steps, dones):
      state, output = env.step(1, state)
      return (t + 1, state, steps.write(t, output.info.episode_step),
              dones.write(t, output.done))

    _, _, steps, dones = tf.while_loop(
        lambda t, *_: t < 12, body,
        (0, state, tf.TensorArray(tf.int32, 12), tf.TensorArray(tf.bool, 12)))
    steps, dones = steps.stack(), dones.stack()
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      first_value, steps_value, dones_value = session.run(
          (first, steps, dones))
  assert first_value.observation[0].shape == (24, 20, 1)
  # Steps ran in order: episodes of 5 steps.
  np.testing.assert_array_equal(steps_value, [1, 2, 3, 4, 5] * 2 + [1, 2])
  np.testing.assert_array_equal(dones_value,
                                [False] * 4 + [True] + [False] * 4 + [True] +
                                [False] * 2)


def test_atari_in_a_tf_graph_through_a_child():
  with tf.Graph().as_default():
    env = environments.FlowEnvironment(environments.create_environment(
        'atari', 'pong', seed=1).proxy)
    state, first = env.initial()
    outputs = []
    for action in (2, 3, 0):  # Ordered by the env_state dependencies.
      state, output = env.step(tf.constant(action), state)
      outputs.append(output)
    assert output.observation[0].shape.as_list() == [84, 84, 4]
    assert output.info.game_over.dtype == tf.bool
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      first_value, values = session.run((first, outputs))
  assert first_value.done and first_value.info.episode_step == 0
  assert [v.info.episode_step for v in values] == [1, 2, 3]
  assert values[0].observation[0].dtype == np.uint8
  # Frames shift through the stack from step to step.
  np.testing.assert_array_equal(values[2].observation[0][:, :, 2],
                                values[1].observation[0][:, :, 3])


def test_create_environment_rejects_bad_arguments():
  with pytest.raises(ValueError, match='domain must be one of'):
    environments.create_environment('procgen', 'coinrun', seed=0)
  with pytest.raises(ValueError, match="'catch'"):
    environments.create_environment('catch', 'pong', seed=0)
  with pytest.raises(TypeError, match='unknown keyword arguments'):
    environments.create_environment('catch', 'catch', seed=0, colour=True)
  with pytest.raises(ValueError, match='seed'):
    environments.create_environment('catch', 'catch', seed=-1)
  with pytest.raises(ValueError, match='domain must be one of'):
    environments.num_actions('snake', 'snake')


def test_batched_environments_in_one_op():
  with tf.Graph().as_default():
    processes = [environments.create_environment('catch', 'catch', seed=s)
                 for s in range(3)]
    env = environments.FlowEnvironment(py_process.PyProcessBatch(processes))
    state, first = env.initial()
    state, output = env.step(tf.constant([0, 1, 2]), state)
    assert output.observation[0].shape.as_list() == [3, 40, 20, 1]
    with tf.compat.v1.train.MonitoredSession(
        hooks=[py_process.PyProcessHook()]) as session:
      first_value, value = session.run((first, output))
  assert first_value.done.tolist() == [True] * 3
  assert value.info.episode_step.tolist() == [1, 1, 1]
  # Paddles moved left, stayed, moved right from the middle column (2).
  paddles = [int(np.flatnonzero(f[-1, ::4, 0])[0])
             for f in value.observation[0]]
  assert paddles == [1, 2, 3]


def _run_flow(env, actions):
  """The initial output and the outputs of stepping `actions` [steps, K]."""
  state, first = env.initial()
  outputs = []
  for action in actions:
    state, output = env.step(tf.constant(action, tf.int32), state)
    outputs.append(output)
  with tf.compat.v1.train.MonitoredSession(
      hooks=[py_process.PyProcessHook()]) as session:
    return session.run((first, outputs))


def test_grouped_environments_step_as_the_same_environments_alone():
  # Four Atari games in two groups of two against four processes of one
  # each: equal frames, rewards and accounting, in the same batch order.
  specs = [environments.environment_spec('atari', 'pong', seed=s,
                                         noop_max=5) for s in range(4)]
  actions = np.random.RandomState(0).randint(6, size=(12, 4))
  with tf.Graph().as_default():
    alone = environments.FlowEnvironment(py_process.PyProcessBatch(
        [py_process.PyProcess(t, **kwargs) for t, kwargs in specs]))
    expected = _run_flow(alone, actions)
  with tf.Graph().as_default():
    groups = [environments.create_environment_group(specs[:2]),
              environments.create_environment_group(specs[2:])]
    grouped = environments.FlowEnvironment(py_process.PyProcessBatch(groups),
                                           group_size=2)
    state, output = grouped.step(tf.zeros([4], tf.int32),
                                 grouped.initial()[0])
    assert output.observation[0].shape.as_list() == [4, 84, 84, 4]
    assert output.observation[1].shape.as_list() == [4]
    got = _run_flow(grouped, actions)
  for want, have in zip(tf.nest.flatten(expected), tf.nest.flatten(got)):
    np.testing.assert_array_equal(want, have)
  # The games differ (seeds), so the order of the batch was checked.
  first_frames = expected[1][-1].observation[0]
  assert not np.array_equal(first_frames[0], first_frames[2])


def test_an_environment_group_checks_its_members_and_actions():
  catch = environments.environment_spec('catch', 'catch', seed=0)
  null = environments.environment_spec('null', 'pong', seed=0)
  with pytest.raises(ValueError, match='of one class'):
    environments.create_environment_group([catch, null])
  with pytest.raises(ValueError, match='of one class'):
    environments.create_environment_group([])
  group = environments.EnvironmentGroup([catch, catch])
  assert group.initial().observation[0].shape == (2, 40, 20, 1)
  with pytest.raises(ValueError, match='3 actions for 2 environments'):
    group.step(np.array([0, 1, 2]))
  output = group.step(np.array([0, 2]))
  assert output.info.episode_step.tolist() == [1, 1]
  assert output.observation[1].tolist() == [b'', b'']
