# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Environments for IMPALA: DeepMind Lab, a small test game, and how to run any.

`create_environment(domain, level, seed)` makes the process of an Atari game
(atari_environment.py), a DeepMind Lab level, `catch`, or the `null`
stand-in for an Atari game whose steps cost nothing (here);
`FlowEnvironment` steps it from TF ops; `num_actions` sizes the agent.

Each environment is a Python class that runs in a child process
(`py_process.PyProcess`) and is called from the actor's TF graph through
`FlowEnvironment`. Every class has
- `initial()`: starts a new episode and returns its first `StepOutput`
  (reward 0, info zeros, done True);
- `step(action)`: takes one agent step (`num_action_repeats` frames) with the
  integer `action` and returns a `StepOutput`. When a training episode ends
  (`done` True), the environment has already started the next one: the
  observation on that step is the first of the next episode (as in the
  release);
- `close()`, and `_tensor_specs(method_name, kwargs, constructor_kwargs)`,
  the output specs that `PyProcess` builds the op with.

`StepOutput(reward, info, done, observation)`:
- `reward`: float32, the raw reward summed over the action repeats (the
  learner clips it);
- `info = StepOutputInfo(episode_return, episode_step, game_over)`:
  `episode_return` (float32) sums the raw rewards and `episode_step` (int32)
  counts agent steps over the whole game; both carry their final values on
  the step where `game_over` is True and restart at 0 after it. For Atari a
  game spans several training episodes (a life loss ends the training
  episode, paper Table G.1), so `game_over` can be False where `done` is True;
  elsewhere `game_over == done`. The score of a game is `episode_return` at
  `game_over`;
- `done`: bool, True on the step that ended a training episode;
- `observation = (frame, instruction)`: frame uint8 [H, W, C], instruction a
  string ('' where the domain has none), for every domain.

This module does not import TensorFlow at import time (children import it to
unpickle their class); TF is imported where graph objects are built.
"""

import os
import shutil
import sys
import tempfile
import types

import numpy as np

import atari_environment
import environment_base as base
import py_process

# The seam of the design (StepOutput's fields are described above).
StepOutput = base.StepOutput
StepOutputInfo = base.StepOutputInfo

DOMAINS = ('atari', 'dmlab', 'catch', 'null')


# ---------------------------------------------------------------------------
# DeepMind Lab: written against its documented Python API, checked against a
# real build (google-deepmind/lab b1db91a; tests/dmlab_real_test.py).

# The IMPALA action set (paper Table D.2) as DeepMind Lab 7-vectors:
# (LOOK_LEFT_RIGHT_PIXELS_PER_FRAME, LOOK_DOWN_UP_PIXELS_PER_FRAME,
#  STRAFE_LEFT_RIGHT, MOVE_BACK_FORWARD, FIRE, JUMP, CROUCH).
DEFAULT_ACTION_SET = (
    (0, 0, 0, 1, 0, 0, 0),     # Forward
    (0, 0, 0, -1, 0, 0, 0),    # Backward
    (0, 0, -1, 0, 0, 0, 0),    # Strafe Left
    (0, 0, 1, 0, 0, 0, 0),     # Strafe Right
    (-20, 0, 0, 0, 0, 0, 0),   # Look Left
    (20, 0, 0, 0, 0, 0, 0),    # Look Right
    (-20, 0, 0, 1, 0, 0, 0),   # Look Left + Forward
    (20, 0, 0, 1, 0, 0, 0),    # Look Right + Forward
    (0, 0, 0, 0, 1, 0, 0),     # Fire
)

DMLAB_WIDTH = 96  # Paper Table D.3: 96 x 72 RGB.
DMLAB_HEIGHT = 72
DMLAB_TEST_MIXER_SEED = 0x600D5EED  # The release's seed for test episodes.

DMLAB_INSTALL_MESSAGE = (
    'DeepMind Lab levels need the `deepmind_lab` Python module, which is not '
    'installed. It is not on PyPI: build it from source with Bazel following '
    'its own instructions (https://github.com/google-deepmind/lab, '
    'docs/users/build.md and python/pip_package/README.md), then pip install '
    'the wheel it builds into this environment, with dm-env (its __init__ '
    'imports dm_env). '
    'psychlab_arbitrary_visuomotor_mapping and psychlab_continuous_recognition '
    'also need the Brady et al. (2008) image data set (--dataset_path). Atari '
    'and catch levels need none of this.')

# DMLab-30 levels that read the Brady, Konkle, Alvarez & Oliva (2008) images
# (the level scripts' `datasets.brady_konkle_oliva2008`); the other two
# psychlab levels draw their stimuli procedurally.
DMLAB_LEVELS_NEEDING_DATASET = ('psychlab_arbitrary_visuomotor_mapping',
                                'psychlab_continuous_recognition')

# Where compiled DMLab maps are kept when no level cache is given (as the
# release's LocalLevelCache): procedural levels compile a map per episode,
# seconds to minutes of q3map2 each, so every process shares one cache.
DEFAULT_DMLAB_LEVEL_CACHE = os.path.join(tempfile.gettempdir(),
                                         'impala_dmlab_level_cache')


def _is_real_dmlab(deepmind_lab):
  """True for the built module (`Lab` a C type), False for a Python stand-in."""
  init = vars(deepmind_lab.Lab).get('__init__')
  return not isinstance(init, types.FunctionType)


def check_dmlab_dataset(level, config=None, dataset_path=None):
  """Raises ValueError if `level` needs the psychlab data set and has none.

  Without it DeepMind Lab fails only inside its level script, with a Lua
  traceback, or aborts the process.
  """
  name = level.rsplit('/', 1)[-1]
  if name in DMLAB_LEVELS_NEEDING_DATASET and not (
      dataset_path or (config or {}).get('datasetPath')):
    raise ValueError(
        'DMLab level %r needs the Brady et al. (2008) image data set: pass '
        'its directory as dataset_path (--dataset_path), see '
        'https://github.com/google-deepmind/lab/tree/master/data/brady_konkle_oliva2008.'
        % (level,))


def check_dmlab_available():
  """Raises ImportError, saying how to install DeepMind Lab, if it is missing."""
  try:
    import deepmind_lab  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError as e:
    raise ImportError(DMLAB_INSTALL_MESSAGE) from e


def dmlab_config(config=None, is_test=False, dataset_path=None):
  """The DeepMind Lab `config` dict (str -> str) for an IMPALA environment.

  Starts from `config`, sets width and height to 96 x 72 unless given, and
  for test mode (`is_test`) enables the hold-out level variants and the
  release's evaluation mixer seed, so that test episodes differ from training
  ones. `dataset_path` is passed as `datasetPath` (psychlab levels).
  """
  config = dict(config or {})
  config.setdefault('width', DMLAB_WIDTH)
  config.setdefault('height', DMLAB_HEIGHT)
  if dataset_path:
    config['datasetPath'] = dataset_path
  if is_test:
    config['allowHoldOutLevels'] = 'true'
    config['mixerSeed'] = DMLAB_TEST_MIXER_SEED
  return {str(k): str(v) for k, v in config.items()}


class LocalLevelCache:
  """A DeepMind Lab level cache in a local directory.

  DeepMind Lab compiles a level's map before its first episode, which takes
  seconds to minutes; with a cache, each map is compiled once and shared by
  all processes. Implements the `fetch` / `write` interface of `Lab`'s
  `level_cache` argument.
  """

  def __init__(self, cache_dir):
    self._cache_dir = cache_dir
    os.makedirs(cache_dir, exist_ok=True)

  def fetch(self, key, pk3_path):
    path = os.path.join(self._cache_dir, key)
    if os.path.isfile(path):
      shutil.copyfile(path, pk3_path)
      return True
    return False

  def write(self, key, pk3_path):
    path = os.path.join(self._cache_dir, key)
    if not os.path.isfile(path):
      # Write then rename, so that a concurrent fetch never sees half a file.
      temporary = '%s.tmp.%d' % (path, os.getpid())
      shutil.copyfile(pk3_path, temporary)
      os.replace(temporary, path)


class PyProcessDmLab:
  """A DeepMind Lab level, as in the release (`deepmind_lab` imported here).

  Observations RGB_INTERLEAVED (uint8 [height, width, 3]) and INSTR; the 9
  actions of `DEFAULT_ACTION_SET` as np.intc 7-vectors, each repeated for
  `num_action_repeats` frames (4 in the paper); each episode reset with a
  seed drawn from `seed`. `config` is completed by `dmlab_config`
  (96 x 72 unless given; test mode; dataset path). `level_cache` is an object
  with `fetch`/`write` or a directory (a `LocalLevelCache`); None means
  `DEFAULT_DMLAB_LEVEL_CACHE`, False none.
  """

  def __init__(self, level, config, num_action_repeats, seed,
               runfiles_path=None, level_cache=None, is_test=False,
               dataset_path=None):
    try:
      import deepmind_lab  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ImportError(DMLAB_INSTALL_MESSAGE) from e
    self._num_action_repeats = base.check_int('num_action_repeats',
                                          num_action_repeats, 1)
    self._rng = np.random.RandomState(int(seed) % (2**32))
    check_dmlab_dataset(level, config, dataset_path)
    if 'tensorflow' in sys.modules and _is_real_dmlab(deepmind_lab):
      # Seen with DeepMind Lab b1db91a (software rendering) and TF 2.21:
      # reset() dies with a segmentation fault in such a process.
      raise RuntimeError(
          'DeepMind Lab cannot run in a process that has imported TensorFlow '
          '(it crashes in reset()). Run it in a child process, as '
          'create_environment does (py_process children never import '
          'TensorFlow).')
    if runfiles_path:
      deepmind_lab.set_runfiles_path(runfiles_path)
    if level_cache is None:
      level_cache = DEFAULT_DMLAB_LEVEL_CACHE
    elif level_cache is False:
      level_cache = None
    if isinstance(level_cache, str):
      level_cache = LocalLevelCache(level_cache)
    self._observation_names = ['RGB_INTERLEAVED', 'INSTR']
    self._env = deepmind_lab.Lab(
        level=level, observations=self._observation_names,
        config=dmlab_config(config, is_test, dataset_path),
        level_cache=level_cache)
    self._action_set = np.array(DEFAULT_ACTION_SET, dtype=np.intc)
    self._game = base.GameAccounting()

  def _reset(self):
    # DeepMind Lab takes only a Python int (ValueError for numpy integers).
    self._env.reset(seed=int(self._rng.randint(0, 2**31 - 1)))

  def _observation(self):
    observations = self._env.observations()
    instruction = observations['INSTR']
    if isinstance(instruction, str):
      instruction = instruction.encode('utf-8')
    return observations['RGB_INTERLEAVED'], instruction

  def initial(self):
    self._reset()
    return self._game.initial(*self._observation())

  def step(self, action):
    raw_action = self._action_set[base.check_action(action,
                                                len(self._action_set))]
    reward = self._env.step(raw_action, num_steps=self._num_action_repeats)
    done = not self._env.is_running()
    info = self._game.record(reward, done)
    if done:
      self._reset()
    return StepOutput(np.float32(reward), info, done, self._observation())

  def close(self):
    self._env.close()

  @staticmethod
  def _tensor_specs(method_name, unused_kwargs, constructor_kwargs):
    config = dmlab_config(constructor_kwargs.get('config'))
    return base.specs_for('PyProcessDmLab', method_name,
                      [int(config['height']), int(config['width']), 3])


# ---------------------------------------------------------------------------
# Catch: a small game for tests and smoke runs.

CATCH_ACTIONS = ('left', 'stay', 'right')


class PyProcessCatch:
  """Catch: a ball falls down a grid; the agent moves a paddle to catch it.

  The ball starts in a uniformly random column of the top row and falls one
  row per step; the paddle sits on the bottom row (starting in the middle)
  and moves one column per step (actions 0 left, 1 stay, 2 right). When the
  ball reaches the bottom row the episode ends with reward +1 if the paddle
  is under it and -1 otherwise, and a new episode starts: an episode is
  `rows - 1` steps. Frame uint8 [rows * pixels_per_cell,
  columns * pixels_per_cell, 1]: ball and paddle 255, background 0. No
  instruction; `done == game_over`.
  """

  def __init__(self, seed, rows=10, columns=5, pixels_per_cell=4):
    self._rows = base.check_int('rows', rows, 2)
    self._columns = base.check_int('columns', columns, 1)
    self._pixels = base.check_int('pixels_per_cell', pixels_per_cell, 1)
    self._rng = np.random.RandomState(int(seed) % (2**32))
    self._ball_row = self._ball_column = self._paddle = 0
    self._game = base.GameAccounting()

  def _new_episode(self):
    self._ball_row = 0
    self._ball_column = self._rng.randint(self._columns)
    self._paddle = self._columns // 2

  def _frame(self):
    p = self._pixels
    frame = np.zeros([self._rows * p, self._columns * p, 1], np.uint8)
    for row, column in ((self._ball_row, self._ball_column),
                        (self._rows - 1, self._paddle)):
      frame[row * p:(row + 1) * p, column * p:(column + 1) * p] = 255
    return frame

  def initial(self):
    self._new_episode()
    return self._game.initial(self._frame(), b'')

  def step(self, action):
    move = base.check_action(action, len(CATCH_ACTIONS)) - 1
    self._paddle = min(max(self._paddle + move, 0), self._columns - 1)
    self._ball_row += 1
    reward = 0.
    done = self._ball_row == self._rows - 1
    if done:
      reward = 1. if self._paddle == self._ball_column else -1.
    info = self._game.record(reward, done)
    if done:
      self._new_episode()
    return StepOutput(np.float32(reward), info, done, (self._frame(), b''))

  def close(self):
    pass

  @staticmethod
  def _tensor_specs(method_name, unused_kwargs, constructor_kwargs):
    pixels = constructor_kwargs.get('pixels_per_cell', 4)
    return base.specs_for('PyProcessCatch', method_name,
                      [constructor_kwargs.get('rows', 10) * pixels,
                       constructor_kwargs.get('columns', 5) * pixels, 1])


# ---------------------------------------------------------------------------
# Null: an Atari game's shapes at no cost (--null_environment; issue 25).

NULL_EPISODE_STEPS = 1000  # Agent steps per episode.
NULL_REWARD = 1.  # The reward of an episode's last step; 0 elsewhere.


class PyProcessNull:
  """A stand-in for an Atari game whose steps cost nothing.

  Returns one fixed frame, uint8 [frame_size, frame_size, frame_stack]
  ([84, 84, 4], as `atari_environment.PyProcessAtari`), drawn once from
  `seed`, on every step; accepts the game's `num_actions` actions and
  ignores them; every episode is `episode_steps` agent steps, rewarded 0
  except `NULL_REWARD` on its last. No instruction; `done == game_over`.
  An actor stepping it costs only inference, queueing and gRPC: it measures
  how many actors a learner can serve (benchmarks/learner_ingest.py).
  """

  def __init__(self, num_actions, seed, episode_steps=NULL_EPISODE_STEPS,
               frame_size=84, frame_stack=4):
    self._num_actions = base.check_int('num_actions', num_actions, 1)
    self._episode_steps = base.check_int('episode_steps', episode_steps, 1)
    size = base.check_int('frame_size', frame_size, 1)
    stack = base.check_int('frame_stack', frame_stack, 1)
    rng = np.random.RandomState(int(seed) % (2**32))
    self._frame = rng.randint(0, 256, [size, size, stack]).astype(np.uint8)
    self._frame.flags.writeable = False
    self._step = 0
    self._game = base.GameAccounting()

  def initial(self):
    self._step = 0
    return self._game.initial(self._frame, b'')

  def step(self, action):
    base.check_action(action, self._num_actions)
    self._step += 1
    done = self._step == self._episode_steps
    reward = NULL_REWARD if done else 0.
    info = self._game.record(reward, done)
    if done:
      self._step = 0
    return StepOutput(np.float32(reward), info, done, (self._frame, b''))

  def close(self):
    pass

  @staticmethod
  def _tensor_specs(method_name, unused_kwargs, constructor_kwargs):
    size = constructor_kwargs.get('frame_size', 84)
    return base.specs_for('PyProcessNull', method_name,
                          [size, size, constructor_kwargs.get('frame_stack',
                                                              4)])


class EnvironmentGroup:
  """Several environments in one child process, stepped one after another.

  A child process per environment costs CPU on every step besides the
  environment's own: the call's messages both ways, and a process woken with
  caches that the other children have taken (docs/performance.md#actors
  measures it). A group of k environments in one process pays that once per
  k steps. Each environment is the same object, with the same seed, as alone
  in its process, so the grouping changes no result, only the cost.

  `members`: [(type_, constructor kwargs)] of one environment class (as
  `environment_spec` returns them). `initial()` and `step(action)` (action
  int [k], one per member) return `StepOutput`s of the members stacked along
  a new first axis of size k; `close()` closes every member.
  """

  _preload_modules = ('ale_py',)

  def __init__(self, members):
    if not members:
      raise ValueError('EnvironmentGroup needs at least one environment.')
    self._members = [type_(**kwargs) for type_, kwargs in members]

  def initial(self):
    return _stacked([member.initial() for member in self._members])

  def step(self, action):
    action = np.asarray(action)
    if action.shape != (len(self._members),):
      raise ValueError('EnvironmentGroup.step: %d actions for %d '
                       'environments.' % (action.size, len(self._members)))
    return _stacked([member.step(a)
                     for member, a in zip(self._members, action.tolist())])

  def close(self):
    for member in self._members:
      if hasattr(member, 'close'):
        member.close()

  @staticmethod
  def _tensor_specs(method_name, kwargs, constructor_kwargs):
    import inspect  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    members = constructor_kwargs['members']
    type_, member_kwargs = members[0]
    bound = inspect.signature(type_).bind(**member_kwargs)
    bound.apply_defaults()
    specs = type_._tensor_specs(method_name, kwargs, dict(bound.arguments))  # pylint: disable=protected-access
    if specs is None:
      return None
    return tf.nest.map_structure(
        lambda spec: tf.TensorSpec([len(members)] + spec.shape.as_list(),
                                   spec.dtype), specs)


def _stacked(structures):
  """The leaves of equal nests (tuples, namedtuples) stacked: numpy arrays
  with a new first axis; strings as object arrays."""
  first = structures[0]
  if isinstance(first, tuple):
    parts = [_stacked(list(leaves)) for leaves in zip(*structures)]
    return type(first)(*parts) if hasattr(first, '_fields') else tuple(parts)
  if isinstance(first, (bytes, str)):
    return np.array(structures, dtype=object)
  return np.stack([np.asarray(leaf) for leaf in structures])


# ---------------------------------------------------------------------------
# TF side.


class FlowEnvironment:
  """An environment in a child process, stepped by TF ops (as in the release).

  `initial()` returns `(env_state, StepOutput)` and `step(action, env_state)`
  returns `(env_state, StepOutput)`, all tensors. `env_state` is an int64
  scalar that carries control dependencies from each call to the next, so
  that TF runs the calls in order even across `session.run` calls when the
  actor keeps the state in a variable. Treat it as opaque.
  """

  def __init__(self, env, group_size=None):
    """`env`: a `py_process.PyProcess` of an environment class, a
    `py_process.PyProcessBatch` of them (tensors then get a leading batch
    dimension), or the `proxy` of either. With `group_size` k, a
    `PyProcessBatch` of M `EnvironmentGroup`s of k environments each: the
    batch dimension is then M * k, environment j of group m at m * k + j."""
    if isinstance(env, (py_process.PyProcess, py_process.PyProcessBatch)):
      env = env.proxy
    self._env = env
    self._group_size = group_size

  def _call(self, method, *args):
    """`method` of the environment, with groups folded into the batch."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    k = self._group_size
    if k is None:
      return getattr(self._env, method)(*args)
    args = [tf.reshape(arg, [-1, k]) for arg in args]
    output = getattr(self._env, method)(*args)
    return tf.nest.map_structure(
        lambda t: tf.reshape(t, [-1] + t.shape[2:].as_list()), output)

  def initial(self):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    with tf.name_scope('flow_environment_initial'):
      output = self._call('initial')
      # The next step cannot start before the initial output has been read.
      with tf.control_dependencies(tf.nest.flatten(output)):
        env_state = tf.constant(0, dtype=tf.int64)
      return env_state, output

  def step(self, action, env_state):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    with tf.name_scope('flow_environment_step'):
      env_state = tf.convert_to_tensor(env_state)
      # The previous call must have run before this step.
      with tf.control_dependencies([env_state]):
        output = self._call('step', action)
      with tf.control_dependencies(tf.nest.flatten(output)):
        env_state = tf.add(env_state, 1)
      return env_state, output


def _split_kwargs(domain, kwargs, allowed):
  unknown = sorted(set(kwargs) - set(allowed))
  if unknown:
    raise TypeError('create_environment(%r): unknown keyword arguments %s; '
                    'allowed: %s.' % (domain, unknown, sorted(allowed)))


_ATARI_KWARGS = ('num_action_repeats', 'full_action_space', 'sticky_actions',
                 'noop_max', 'max_episode_frames', 'terminal_on_life_loss',
                 'frame_size', 'frame_stack')
_DMLAB_KWARGS = ('num_action_repeats', 'config', 'width', 'height',
                 'runfiles_path', 'level_cache', 'dataset_path')
_CATCH_KWARGS = ('rows', 'columns', 'pixels_per_cell')
_NULL_KWARGS = ('num_actions', 'episode_steps', 'frame_size', 'frame_stack')


def environment_spec(domain, level, seed, is_test=False, **kwargs):
  """The class of an environment and its constructor arguments, checked.

  `(type_, kwargs)` such that `type_(**kwargs)` is the environment; what
  `create_environment` runs in a child process of its own and
  `EnvironmentGroup` with others in one. Arguments and errors as
  `create_environment`'s.
  """
  base.check_int('seed', seed, 0)
  if domain == 'atari':
    _split_kwargs(domain, kwargs, _ATARI_KWARGS)
    atari_environment.atari_rom_path(level)
    return atari_environment.PyProcessAtari, dict(game=level, seed=seed,
                                                  **kwargs)
  if domain == 'dmlab':
    _split_kwargs(domain, kwargs, _DMLAB_KWARGS)
    check_dmlab_available()
    config = dict(kwargs.pop('config', None) or {})
    check_dmlab_dataset(level, config, kwargs.get('dataset_path'))
    for key in ('width', 'height'):
      if key in kwargs:
        config[key] = kwargs.pop(key)
    return PyProcessDmLab, dict(
        level=level, config=config,
        num_action_repeats=kwargs.pop('num_action_repeats', 4), seed=seed,
        is_test=is_test, **kwargs)
  if domain == 'catch':
    _split_kwargs(domain, kwargs, _CATCH_KWARGS)
    if level != 'catch':
      raise ValueError("level for domain 'catch' must be 'catch', got %r." %
                       (level,))
    return PyProcessCatch, dict(seed=seed, **kwargs)
  if domain == 'null':
    _split_kwargs(domain, kwargs, _NULL_KWARGS)
    if 'num_actions' not in kwargs:
      kwargs['num_actions'] = atari_environment.atari_num_actions(level)
    return PyProcessNull, dict(seed=seed, **kwargs)
  raise ValueError('domain must be one of %s, got %r.' % (DOMAINS, domain))


def create_environment(domain, level, seed, is_test=False, **kwargs):
  """A `py_process.PyProcess` running the environment (not started).

  Args:
    domain: 'atari', 'dmlab', 'catch' or 'null'.
    level: for 'atari' an ale-py ROM id ('pong'); for 'dmlab' a level script
      ('contributed/dmlab30/explore_goal_locations_small'); for 'catch',
      'catch'; for 'null' the ROM id of the Atari game it stands in for
      (its action count, unless `num_actions` is given).
    seed: integer seed of the environment.
    is_test: DeepMind Lab test mode (hold-out levels, evaluation mixer seed).
      Atari and catch have no test variant; it has no effect there.
    **kwargs: constructor arguments of the domain's class
      (`atari_environment.PyProcessAtari`, `PyProcessDmLab`,
      `PyProcessCatch`, `PyProcessNull`); for 'dmlab' also
      `width` and `height` (default 96 x 72).

  Raises:
    ValueError: unknown domain or Atari game; a psychlab level that needs
      the data set without `dataset_path`.
    ImportError: 'dmlab' without DeepMind Lab installed (checked here, in the
      parent, before any process starts).
  """
  type_, constructor_kwargs = environment_spec(domain, level, seed, is_test,
                                               **kwargs)
  return py_process.PyProcess(type_, **constructor_kwargs)


def create_environment_group(specs):
  """A `py_process.PyProcess` running the `environment_spec`s' environments
  together as one `EnvironmentGroup` (not started)."""
  specs = list(specs)
  if not specs or len({type_ for type_, _ in specs}) != 1:
    raise ValueError('an environment group needs one or more environments '
                     'of one class, got %s.' % [t.__name__ for t, _ in specs])
  return py_process.PyProcess(EnvironmentGroup, specs)


def num_actions(domain, level, **kwargs):
  """The number of actions of a level, without starting its process."""
  if domain == 'atari':
    return atari_environment.atari_num_actions(
        level, bool(kwargs.get('full_action_space', False)))
  if domain == 'dmlab':
    return len(DEFAULT_ACTION_SET)
  if domain == 'catch':
    return len(CATCH_ACTIONS)
  if domain == 'null':
    return kwargs.get('num_actions') or atari_environment.atari_num_actions(
        level, bool(kwargs.get('full_action_space', False)))
  raise ValueError('domain must be one of %s, got %r.' % (DOMAINS, domain))
