# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Atari 2600 games (ale-py) as IMPALA environments, with the paper's
preprocessing (Appendix G).

`PyProcessAtari` runs in a child process (`py_process.PyProcess`, through
`environments.create_environment('atari', game, seed)`); `atari_game_ids`,
`atari_num_actions` and `atari_full_action_set` answer in the parent without
one; `AreaResize` is the frame resizing. The module does not import
TensorFlow at import time (children import it to unpickle their class).
"""

import functools

import numpy as np

import environment_base as base

def _area_weights(size_in, size_out):
  """[size_out, size_in] weights of area interpolation (shrinking).

  Output pixel i averages the input interval [i * s, (i + 1) * s), s =
  size_in / size_out, each input pixel weighted by its overlap with the
  interval: the averaging of OpenCV's INTER_AREA. Rows sum to 1.
  """
  if size_out > size_in:
    raise ValueError('area interpolation only shrinks: %d -> %d.' %
                     (size_in, size_out))
  scale = size_in / size_out
  weights = np.zeros([size_out, size_in], np.float64)
  for i in range(size_out):
    low, high = i * scale, (i + 1) * scale
    for j in range(int(np.floor(low)), min(size_in, int(np.ceil(high)))):
      weights[i, j] = (min(high, j + 1) - max(low, j)) / scale
  return weights


class AreaResize:
  """Resizes uint8 [H, W] images to [size, size] by area interpolation.

  Separable: rows, then columns. Each output pixel is a weighted sum of at
  most a few input pixels (3 for 210 -> 84 and 160 -> 84), so each stage is a
  few gathers and multiply-adds with precomputed indices and weights. This
  avoids OpenCV and also BLAS, whose thread pool makes small matrix products
  slow when many processes share the cores.
  """

  def __init__(self, height, width, size):
    self._row_index, row_weights = self._sparse(height, size)
    self._row_weights = row_weights[:, :, None]
    self._column_index, self._column_weights = self._sparse(width, size)

  @staticmethod
  def _sparse(size_in, size_out):
    """Indices and weights [K, size_out] of the nonzero area weights."""
    weights = _area_weights(size_in, size_out)
    nonzero = [np.flatnonzero(row) for row in weights]
    k = max(len(n) for n in nonzero)
    index = np.zeros([k, size_out], np.intp)
    sparse_weights = np.zeros([k, size_out], np.float32)
    for i, n in enumerate(nonzero):
      index[:len(n), i] = n
      sparse_weights[:len(n), i] = weights[i, n]
    return index, sparse_weights

  def __call__(self, image):
    rows = image[self._row_index[0]] * self._row_weights[0]  # float32
    for index, weights in zip(self._row_index[1:], self._row_weights[1:]):
      rows += image[index] * weights
    resized = rows[:, self._column_index[0]] * self._column_weights[0]
    for index, weights in zip(self._column_index[1:],
                              self._column_weights[1:]):
      resized += rows[:, index] * weights
    resized += 0.5  # Round to nearest.
    return resized.astype(np.uint8)


def _import_ale():
  try:
    import ale_py  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError('Atari levels need ale-py (pip install "ale-py>=0.10"), '
                      'which bundles the ROMs.') from e
  return ale_py


def atari_game_ids():
  """The ale-py ROM ids usable as Atari levels (e.g. 'pong', 'space_invaders')."""
  from ale_py import roms  # pylint: disable=g-import-not-at-top
  return tuple(roms.get_all_rom_ids())


def atari_rom_path(game):
  if not isinstance(game, str) or game not in atari_game_ids():
    raise ValueError(
        'Unknown Atari game %r. Use an ale-py ROM id (lower case with '
        'underscores, e.g. "pong", "space_invaders", "ms_pacman"); list them '
        'with `python -c "import atari_environment; '
        'print(atari_environment.atari_game_ids())"`.' % (game,))
  from ale_py import roms  # pylint: disable=g-import-not-at-top
  return roms.get_rom_path(game)


def _make_ale(game, seed, sticky_actions):
  ale_py = _import_ale()
  ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
  ale = ale_py.ALEInterface()
  ale.setInt('random_seed', int(seed) % (2**31))
  ale.setFloat('repeat_action_probability', 0.25 if sticky_actions else 0.)
  ale.setInt('max_num_frames_per_episode', 0)  # The cap is ours, below.
  ale.loadROM(atari_rom_path(game))
  return ale


# The full Atari action set (paper Appendix G: "the full Atari action set
# consisting of 18 actions"), in ALE's standard order, the same for every game
# so that action k is the same joystick input in all 57 games. A ROM's legal
# set can be smaller (Skiing's has 9 with ale-py 0.12); ALE accepts all 18.
ATARI_FULL_ACTION_SET = (
    'NOOP', 'FIRE', 'UP', 'RIGHT', 'LEFT', 'DOWN', 'UPRIGHT', 'UPLEFT',
    'DOWNRIGHT', 'DOWNLEFT', 'UPFIRE', 'RIGHTFIRE', 'LEFTFIRE', 'DOWNFIRE',
    'UPRIGHTFIRE', 'UPLEFTFIRE', 'DOWNRIGHTFIRE', 'DOWNLEFTFIRE')


def atari_full_action_set():
  """The 18 `ale_py.Action`s of ATARI_FULL_ACTION_SET, in that order."""
  ale_py = _import_ale()
  return tuple(ale_py.Action[name] for name in ATARI_FULL_ACTION_SET)


def _atari_action_set(ale, full_action_space):
  return (atari_full_action_set() if full_action_space
          else tuple(ale.getMinimalActionSet()))


@functools.lru_cache(maxsize=None)
def atari_num_actions(game, full_action_space=False):
  """Size of the game's action set (minimal, or all 18), without a child."""
  if full_action_space:
    atari_rom_path(game)  # Validates the name.
    return len(ATARI_FULL_ACTION_SET)
  return len(_make_ale(game, 0, False).getMinimalActionSet())


class PyProcessAtari:
  """An Atari 2600 game (ale-py) with the paper's preprocessing.

  IMPALA paper Appendix G, Table G.1, after Mnih et al. (2016):
  - each agent step repeats the action for `num_action_repeats` (4) frames;
    the frame is the pixel-wise max over the last 2 of them (flicker);
  - grayscale (ALE's luminance), resized to `frame_size` x `frame_size` (84)
    by area interpolation, and the last `frame_stack` (4) frames stacked:
    frame uint8 [84, 84, 4], oldest first;
  - a life loss ends the training episode (`done`) but not the game, which
    runs on to its true end (`game_over`) for the reported score; set
    `terminal_on_life_loss=False` to end episodes at game over only;
  - each game starts with a uniformly random number of no-op frames in
    [1, noop_max] (not after a life loss), as in the evaluation protocol
    (no-op starts, Section 5.3) and dqn_zoo;
  - a game is cut at `max_episode_frames` (108,000 frames = 30 minutes, the
    cap used for the human and random reference scores); the cut counts as
    game over;
  - the minimal action set of the game by default (single-game experts),
    the 18 actions of ATARI_FULL_ACTION_SET with `full_action_space=True`
    (the multi-task agent), in the same order for every game;
  - sticky actions (repeat_action_probability 0.25) only with
    `sticky_actions=True`; the paper does not use them.
  Rewards are raw. Given the seed (ALE's and the no-op sampler's), the
  environment is deterministic.
  """

  # Imported by the fork server once, instead of by each child (py_process).
  _preload_modules = ('ale_py',)

  def __init__(self, game, seed, num_action_repeats=4, full_action_space=False,
               sticky_actions=False, noop_max=30, max_episode_frames=108000,
               terminal_on_life_loss=True, frame_size=84, frame_stack=4):
    self._num_action_repeats = base.check_int('num_action_repeats',
                                          num_action_repeats, 1)
    self._noop_max = base.check_int('noop_max', noop_max, 0)
    self._max_episode_frames = base.check_int('max_episode_frames',
                                          max_episode_frames, 1)
    frame_size = base.check_int('frame_size', frame_size, 1)
    frame_stack = base.check_int('frame_stack', frame_stack, 1)
    self._terminal_on_life_loss = bool(terminal_on_life_loss)
    self._ale = _make_ale(game, seed, sticky_actions)
    self._action_set = _atari_action_set(self._ale, full_action_space)
    self._noop = atari_full_action_set()[0]  # Action.NOOP
    self._rng = np.random.RandomState(int(seed) % (2**32))
    height, width = self._ale.getScreenDims()
    self._resize = AreaResize(height, width, frame_size)
    self._screens = np.zeros([2, height, width], np.uint8)
    self._screen_index = 0  # Where the next screen goes in _screens.
    # The last `frame_stack` frames, a ring: the next frame goes to _planes[
    # _next_plane], which is also the oldest frame.
    self._planes = np.zeros([frame_stack, frame_size, frame_size], np.uint8)
    self._next_plane = 0
    self._lives = 0
    self._game = base.GameAccounting()

  @property
  def num_actions(self):
    return len(self._action_set)

  def _grab_screen(self):
    self._ale.getScreenGrayscale(self._screens[self._screen_index])
    self._screen_index ^= 1

  def _push_frame(self, fill=False):
    frame = self._resize(np.maximum(self._screens[0], self._screens[1]))
    if fill:
      self._planes[...] = frame
    else:
      self._planes[self._next_plane] = frame
      self._next_plane = (self._next_plane + 1) % len(self._planes)

  def _new_game(self):
    self._ale.reset_game()
    self._grab_screen()
    self._grab_screen()
    noops = self._rng.randint(1, self._noop_max + 1) if self._noop_max else 0
    for _ in range(noops):
      self._ale.act(self._noop)
      self._grab_screen()
      if self._ale.game_over(with_truncation=False):
        self._ale.reset_game()
    self._lives = self._ale.lives()
    self._push_frame(fill=True)

  def _observation(self):
    """(frame [size, size, frame_stack], oldest first; empty instruction)."""
    num_planes = len(self._planes)
    frame = np.empty(self._planes.shape[1:] + (num_planes,), np.uint8)
    for k in range(num_planes):
      frame[:, :, k] = self._planes[(self._next_plane + k) % num_planes]
    return frame, b''

  def initial(self):
    self._new_game()
    return self._game.initial(*self._observation())

  def step(self, action):
    ale_action = self._action_set[base.check_action(action,
                                                len(self._action_set))]
    reward = 0.
    game_over = False
    repeats = self._num_action_repeats
    for repeat in range(repeats):
      reward += self._ale.act(ale_action)
      if repeat >= repeats - 2:
        self._grab_screen()
      if (self._ale.game_over(with_truncation=False) or
          self._ale.getEpisodeFrameNumber() >= self._max_episode_frames):
        game_over = True
        break
    lives = self._ale.lives()
    life_lost = lives < self._lives
    self._lives = lives
    done = game_over or (self._terminal_on_life_loss and life_lost)
    info = self._game.record(reward, game_over)
    if game_over:
      self._new_game()
    else:
      self._push_frame()
    return base.StepOutput(np.float32(reward), info, done, self._observation())

  def close(self):
    self._ale = None

  @staticmethod
  def _tensor_specs(method_name, unused_kwargs, constructor_kwargs):
    size = constructor_kwargs.get('frame_size', 84)
    stack = constructor_kwargs.get('frame_stack', 4)
    return base.specs_for('PyProcessAtari', method_name, [size, size, stack])
