"""The `deepmind_lab` contract our DMLab code relies on, as checks that run on
the stand-in (tests/fake_deepmind_lab) and on a real DeepMind Lab build.

This module imports neither TensorFlow nor pytest: a real DeepMind Lab dies
(segmentation fault in `reset`) in a process that has imported TensorFlow,
so tests/dmlab_real_test.py runs the real checks here in a fresh process:

    python tests/dmlab_contract.py real CHECK [CHECK ...]

Each check takes the module and raises AssertionError on a difference.
"""

import contextlib
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_DMLAB_PATH = os.path.join(HERE, 'fake_deepmind_lab', 'deepmind_lab.py')

SMALL = {'width': '96', 'height': '72'}

# The IMPALA action set, as environments.DEFAULT_ACTION_SET (not imported
# here, to keep this module free of the project's imports).
ACTIONS = ((0, 0, 0, 1, 0, 0, 0), (0, 0, 0, -1, 0, 0, 0), (0, 0, -1, 0, 0, 0, 0),
           (0, 0, 1, 0, 0, 0, 0), (-20, 0, 0, 0, 0, 0, 0),
           (20, 0, 0, 0, 0, 0, 0), (-20, 0, 0, 1, 0, 0, 0),
           (20, 0, 0, 1, 0, 0, 0), (0, 0, 0, 0, 1, 0, 0))


@contextlib.contextmanager
def raises(error, pattern=None):
  try:
    yield
  except error as e:
    if pattern is not None and not re.search(pattern, str(e)):
      raise AssertionError('%s %r does not match %r' % (
          type(e).__name__, str(e), pattern)) from e
  else:
    raise AssertionError('did not raise %s' % error.__name__)


def action_spec(lab_module):
  lab = lab_module.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED'], SMALL)
  spec = lab.action_spec()
  got = [(a['name'], a['min'], a['max']) for a in spec]
  assert got == [
      ('LOOK_LEFT_RIGHT_PIXELS_PER_FRAME', -512, 512),
      ('LOOK_DOWN_UP_PIXELS_PER_FRAME', -512, 512),
      ('STRAFE_LEFT_RIGHT', -1, 1),
      ('MOVE_BACK_FORWARD', -1, 1),
      ('FIRE', 0, 1),
      ('JUMP', 0, 1),
      ('CROUCH', 0, 1)], got
  for action in ACTIONS:
    for value, a in zip(action, spec):
      assert a['min'] <= value <= a['max'], (action, a)
  lab.close()


def observation_spec(lab_module):
  lab = lab_module.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED', 'INSTR'],
                       SMALL)
  spec = {o['name']: o for o in lab.observation_spec()}
  assert spec['RGB_INTERLEAVED']['shape'] == (72, 96, 3), spec
  assert spec['RGB_INTERLEAVED']['dtype'] == np.uint8, spec
  assert spec['INSTR']['dtype'] == str and spec['INSTR']['shape'] == (), spec
  lab.close()


def errors(lab_module):
  lab = lab_module.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED'], SMALL)
  forward = np.array(ACTIONS[0], np.intc)
  # Before reset the status is checked first, even for a bad action.
  with raises(RuntimeError, 'wrong status to advance'):
    lab.step(np.zeros(6, np.intc))
  with raises(RuntimeError, 'wrong status'):
    lab.observations()
  with raises(ValueError, "'seed' must be int or None"):
    lab.reset(seed=np.int64(3))
  assert lab.reset(seed=3)
  with raises(ValueError, r'action must have shape \(7\)'):
    lab.step(np.zeros(6, np.intc))
  with raises(ValueError, 'action must have dtype np.intc'):
    lab.step(np.zeros(7, np.int64))
  with raises(TypeError, 'numpy.ndarray'):
    lab.step([0] * 7)
  assert isinstance(lab.step(forward, num_steps=4), float)
  assert lab.num_steps() == 4, lab.num_steps()
  assert not hasattr(lab, 'fps')  # Documented, but the real Lab has none.
  with raises(TypeError):
    lab_module.Lab('seekavoid_arena_01', ('RGB_INTERLEAVED',), SMALL)
  with raises(TypeError):
    lab_module.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED'], {'width': 96})
  with raises(ValueError, "Unknown observation 'FOO'"):
    lab_module.Lab('seekavoid_arena_01', ['FOO'], SMALL)
  lab.close()


def episode_end(lab_module):
  config = dict(SMALL, episodeLengthSeconds='1')  # 60 frames at 60 fps.
  lab = lab_module.Lab('seekavoid_arena_01', ['RGB_INTERLEAVED', 'INSTR'],
                       config)
  lab.reset(seed=1)
  observations = lab.observations()
  assert observations['RGB_INTERLEAVED'].shape == (72, 96, 3)
  assert observations['RGB_INTERLEAVED'].dtype == np.uint8
  assert observations['INSTR'] == '', observations['INSTR']
  steps = 0
  while lab.is_running():
    lab.step(np.array(ACTIONS[5], np.intc), num_steps=4)
    steps += 1
  assert steps == 15 and lab.num_steps() == 60, (steps, lab.num_steps())
  with raises(RuntimeError, 'wrong status'):
    lab.observations()
  with raises(RuntimeError, 'wrong status to advance'):
    lab.step(np.zeros(7, np.intc))
  lab.reset(seed=2)
  assert lab.is_running() and lab.num_steps() == 0
  lab.close()


def hold_out_levels(lab_module):
  name = 'contributed/dmlab30/rooms_collect_good_objects_test'
  with raises(RuntimeError, 'allowHoldOutLevels'):
    lab_module.Lab(name, ['RGB_INTERLEAVED'], SMALL).reset(seed=1)
  lab = lab_module.Lab(name, ['RGB_INTERLEAVED'],
                       dict(SMALL, allowHoldOutLevels='true'))
  lab.reset(seed=1)
  assert lab.observations()['RGB_INTERLEAVED'].shape == (72, 96, 3)
  lab.close()


CHECKS = (action_spec, observation_spec, errors, episode_end, hold_out_levels)


def load_fake():
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location('fake_deepmind_lab_module',
                                                FAKE_DMLAB_PATH)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def main(argv):
  which, names = argv[1], argv[2:]
  if which == 'real':
    import deepmind_lab  # pylint: disable=g-import-not-at-top
    module = deepmind_lab
  else:
    module = load_fake()
  checks = {c.__name__: c for c in CHECKS}
  for name in names or checks:
    checks[name](module)
    print('contract check %s passed on the %s module' % (name, which))
    sys.stdout.flush()


if __name__ == '__main__':
  main(sys.argv)
