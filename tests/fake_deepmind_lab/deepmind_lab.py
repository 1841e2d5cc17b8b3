"""A stand-in for DeepMind Lab's `deepmind_lab` module, for tests only.

DeepMind Lab is built from source with Bazel and cannot be installed here.
This module implements the documented Python contract
(/work/shared/reference/dmlab_python_api.md, from upstream
docs/users/python_api.md) with the same names, arguments, types and errors,
over a trivial world, so that environments.PyProcessDmLab is tested against
the interface it will meet. Tests put this directory on sys.path only for
DeepMind Lab tests.

Stand-in world (not DeepMind Lab's): each episode lasts
`episodeLengthSeconds` (a level-script setting, default 1) times `fps`
frames. The reward of a frame is MOVE_BACK_FORWARD + 10 * FIRE. The frame is
filled with values derived from the episode seed, the mixer seed and the
frame number. Levels whose name contains 'language' have an instruction.
Levels ending in '_test' are hold-out levels that need
allowHoldOutLevels='true'.

Attributes starting with an underscore (`_config`, `_actions`, `_map_source`)
are stand-in introspection for assertions, not part of the real API.

Checked against a real DeepMind Lab build (google-deepmind/lab b1db91a,
python/dmlab_module.c; tests/dmlab_real_test.py runs the same contract
tests on both), which differs from the documented contract in places; this
module follows the real one:
- `Lab` has no `fps()` method (the engine always runs at 60 fps);
- `observations` must be a list, `config` a dict, `seed` a Python int or
  None (a numpy integer is refused with ValueError);
- `step` checks the status first (RuntimeError before reset or after the
  episode's end), then the action's shape, then its dtype, with the real
  messages;
- `num_steps()` adds the requested `num_steps` even when the episode ends
  within them;
- `observation_spec()` lists more observations than the stand-in serves;
  asking `Lab` for an unknown one fails with ValueError.
"""

import hashlib
import os
import tempfile

import numpy as np

_runfiles_path = os.path.join(tempfile.gettempdir(), 'fake_deepmind_lab')

_ACTION_SPEC = (
    ('LOOK_LEFT_RIGHT_PIXELS_PER_FRAME', -512, 512),
    ('LOOK_DOWN_UP_PIXELS_PER_FRAME', -512, 512),
    ('STRAFE_LEFT_RIGHT', -1, 1),
    ('MOVE_BACK_FORWARD', -1, 1),
    ('FIRE', 0, 1),
    ('JUMP', 0, 1),
    ('CROUCH', 0, 1),
)

_OBSERVATIONS = ('RGB_INTERLEAVED', 'RGB', 'INSTR')


def set_runfiles_path(path):
  global _runfiles_path
  _runfiles_path = path


def runfiles_path():
  return _runfiles_path


class Lab:
  """The `deepmind_lab.Lab` environment (stand-in)."""

  def __init__(self, level, observations, config=None, renderer='software',
               level_cache=None):
    if not isinstance(level, str):
      raise TypeError('level must be a string.')
    if not isinstance(observations, list):
      raise TypeError('observations must be a list.')
    config = {} if config is None else config
    if not isinstance(config, dict):
      raise TypeError('config must be a dict.')
    for key, value in config.items():
      if not isinstance(key, str) or not isinstance(value, str):
        raise TypeError('Config keys and values must be strings; got %r: %r.'
                        % (key, value))
    if renderer not in ('software', 'hardware'):
      raise ValueError('renderer must be "software" or "hardware".')
    for name in observations:
      if name not in _OBSERVATIONS:
        raise ValueError("Unknown observation '%s'." % (name,))
    if level.endswith('_test') and config.get('allowHoldOutLevels') != 'true':
      raise RuntimeError('Failed to open level %r: hold-out level; set '
                         'allowHoldOutLevels to "true".' % level)
    self._level = level
    self._observation_names = list(observations)
    self._config = dict(config)
    self._width = int(config.get('width', '320'))
    self._height = int(config.get('height', '240'))
    self._fps = int(config.get('fps', '60'))
    self._mixer_seed = int(config.get('mixerSeed', '0'))
    self._episode_frames = int(
        float(config.get('episodeLengthSeconds', '1')) * self._fps)
    self._status = 'initialized'
    self._frames = 0
    self._steps_since_reset = 0
    self._episode_seed = 0
    self._actions = []
    self._map_source = self._build_map(level_cache)

  def _build_map(self, level_cache):
    """Compiles the level's map once, through the level cache if given."""
    key = hashlib.md5(
        ('%s|%d' % (self._level, self._mixer_seed)).encode()).hexdigest()
    directory = tempfile.mkdtemp(prefix='fake_dmlab_')
    pk3_path = os.path.join(directory, key + '.pk3')
    if level_cache is not None and level_cache.fetch(key, pk3_path):
      with open(pk3_path) as f:
        assert f.read() == 'map of ' + self._level
      return 'cache'
    with open(pk3_path, 'w') as f:
      f.write('map of ' + self._level)
    if level_cache is not None:
      level_cache.write(key, pk3_path)
    return 'compiled'

  def _check_open(self):
    if self._status == 'closed':
      raise RuntimeError('Environment closed.')

  def reset(self, episode=-1, seed=None):
    self._check_open()
    del episode
    if seed is not None and not isinstance(seed, int):
      raise ValueError("'seed' must be int or None, was '%s'." %
                       type(seed).__name__)
    self._episode_seed = 0 if seed is None else seed
    self._frames = 0
    self._steps_since_reset = 0
    self._status = 'running'
    return True

  def step(self, action, num_steps=1):
    self._check_open()
    if not isinstance(action, np.ndarray):
      raise TypeError('argument 1 must be numpy.ndarray, not %s' %
                      type(action).__name__)
    if self._status != 'running':
      raise RuntimeError('Environment in wrong status to advance.')
    if action.shape != (len(_ACTION_SPEC),):
      raise ValueError('action must have shape (%d)' % len(_ACTION_SPEC))
    if action.dtype != np.intc:
      raise ValueError('action must have dtype np.intc')
    self._actions.append((action.copy(), num_steps))
    reward = 0.
    self._steps_since_reset += num_steps
    for _ in range(num_steps):
      reward += float(action[3] + 10 * action[4])
      self._frames += 1
      if self._frames >= self._episode_frames:
        self._status = 'episode_end'
        break
    return reward

  def is_running(self):
    return self._status == 'running'

  def observations(self):
    self._check_open()
    if self._status != 'running':
      raise RuntimeError(
          'Environment in wrong status for call to observations()')
    value = (self._episode_seed * 7 + self._mixer_seed * 13 +
             self._frames) % 256
    frame = np.full([self._height, self._width, 3], value, np.uint8)
    result = {}
    for name in self._observation_names:
      if name == 'RGB_INTERLEAVED':
        result[name] = frame
      elif name == 'RGB':
        result[name] = np.ascontiguousarray(frame.transpose(2, 0, 1))
      elif name == 'INSTR':
        result[name] = ('Pick the red object.' if 'language' in self._level
                        else '')
    return result

  def observation_spec(self):
    return [
        {'name': 'RGB_INTERLEAVED', 'dtype': np.uint8,
         'shape': (self._height, self._width, 3)},
        {'name': 'RGB', 'dtype': np.uint8,
         'shape': (3, self._height, self._width)},
        {'name': 'INSTR', 'dtype': str, 'shape': ()},
    ]

  def action_spec(self):
    return [{'name': name, 'min': low, 'max': high}
            for name, low, high in _ACTION_SPEC]

  def num_steps(self):
    return self._steps_since_reset

  def events(self):
    return []

  def close(self):
    self._status = 'closed'
    return True
