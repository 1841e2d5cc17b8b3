# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The test-results file: written by experiment.py's test mode, read by report.py.

Build it with `make_test_results` (its levels and suite entries come from
scores.py's `level_summaries` and `suite_summary`), read it back with
`load_results`:

    {
      "format": "impala-tf/test_results/v1",
      "level_name": "atari57",     # the --level_name flag value
      "domain": "atari",           # 'atari' | 'dmlab' | 'catch'
      "agent": {"network": "deep", "core": "feedforward", "multitask": true},
      "frames": 200000000,         # environment frames of the checkpoint
      "levels": {"atari/pong": {"episode_returns": [20.0, 21.0],
                                "mean": 20.5,
                                "human_normalized_score": 116.9}, ...},
      "suite": {"metric": "median_human_normalized_score", "value": 59.7,
                "num_levels": 57}  # or null
    }

Level keys are scores.py's. A results file of a pbt.py member also has
`"pbt": true` in "agent"; one of the paper's baselines (experiment.py
--agent=a3c, a2c_sync_step or a2c_sync_traj) has `"architecture": "a3c"`
etc. there (IMPALA's, and older files, have none).
"""

import collections
import collections.abc
import json
import math
import os

import numpy as np

import files
import scores

FORMAT = 'impala-tf/test_results/v1'


class ResultsError(ValueError):
  """A results file is not ours, or is inconsistent."""


def _check_level_name(domain, level_name):
  if not isinstance(level_name, str) or not level_name:
    raise ValueError('level_name must be a non-empty string, got %r' %
                     (level_name,))
  try:
    scores.expected_levels(domain, level_name)
  except ValueError as e:
    raise ValueError('level_name %r does not belong to domain %r (%s)' %
                     (level_name, domain, e)) from None


def _check_agent(agent):
  if not isinstance(agent, collections.abc.Mapping):
    raise ValueError('agent must be a dict like {"network": "deep", "core": '
                     '"feedforward", "multitask": true}, got %r' % (agent,))
  for field, kind in (('network', str), ('core', str), ('multitask', bool)):
    if field not in agent:
      raise ValueError('agent lacks the field %r: %r' % (field, agent))
    if not isinstance(agent[field], kind):
      raise ValueError('agent[%r] must be a %s, got %r' %
                       (field, kind.__name__, agent[field]))


def make_test_results(level_name, domain, agent, frames, level_returns):
  """The test-results dict that experiment.py's test mode writes as JSON.

  Args:
    level_name: the --level_name flag value ('atari/pong', 'atari57',
      'dmlab30', a DMLab level, 'catch').
    domain: 'atari', 'dmlab' or 'catch'.
    agent: {"network": str, "core": str, "multitask": bool}.
    frames: environment frames of the evaluated checkpoint (int >= 0).
    level_returns: {level name: list of episode returns}.

  Returns:
    A JSON-serialisable dict in the "impala-tf/test_results/v1" format.
  """
  scores.check_domain(domain)
  _check_level_name(domain, level_name)
  _check_agent(agent)
  if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) \
      or frames < 0:
    raise ValueError('frames must be an int >= 0, got %r' % (frames,))
  levels = scores.level_summaries(domain, level_returns)
  expected = set(scores.expected_levels(domain, level_name))
  extra = [key for key in levels if key not in expected]
  if extra:
    raise ValueError('level_returns has levels that --level_name=%s does not '
                     'evaluate: %s' % (level_name, ', '.join(extra)))
  return {
      'format': FORMAT,
      'level_name': level_name,
      'domain': domain,
      'agent': dict(agent),
      'frames': int(frames),
      'levels': dict(levels),
      'suite': scores.suite_summary(domain, level_name, level_returns),
  }


def write_test_results(path, results):
  """Writes a `make_test_results` dict as JSON (creating parent folders),
  atomically: a reader never sees half a file."""
  directory = os.path.dirname(path)
  if directory:
    os.makedirs(directory, exist_ok=True)
  files.write_text(path, json.dumps(results, indent=2, allow_nan=False) + '\n')


# ----------------------------------------------------------------------------
# Reading results files.


Run = collections.namedtuple(
    'Run', 'path level_name domain agent frames levels suite')


def load_results(path):
  """Reads and validates one results file (or `<logdir>/test_results.json`).

  Returns:
    A `Run`; `levels` maps level key -> list of episode returns (possibly
    empty), re-keyed to canonical names.

  Raises:
    ResultsError: naming the file and what is wrong with it.
  """
  if os.path.isdir(path):
    path = os.path.join(path, 'test_results.json')

  def fail(message):
    raise ResultsError('%s: %s' % (path, message))

  try:
    with open(path) as f:
      text = f.read()
  except OSError as e:
    fail('cannot read results file (%s)' % e.strerror)
  try:
    data = json.loads(text)
  except ValueError:
    fail('not an impala-tf test results file: not valid JSON')
  if not isinstance(data, dict) or 'format' not in data:
    fail('not an impala-tf test results file: no "format" field (expected '
         '"format": "%s", as written by experiment.py in test mode)' % FORMAT)
  if data['format'] != FORMAT:
    fail('not an impala-tf test results file: format %r, expected %r' %
         (data['format'], FORMAT))
  for field in ('level_name', 'domain', 'agent', 'frames', 'levels'):
    if field not in data:
      fail('missing field %r' % field)
  domain, level_name = data['domain'], data['level_name']
  try:
    scores.check_domain(domain)
    _check_level_name(domain, level_name)
    _check_agent(data['agent'])
  except ValueError as e:
    fail(str(e))
  frames = data['frames']
  if frames is not None and (isinstance(frames, bool) or
                             not isinstance(frames, int) or frames < 0):
    fail('"frames" must be an int >= 0 or null, got %r' % (frames,))
  if not isinstance(data['levels'], dict):
    fail('"levels" must be an object {level: {"episode_returns": [...]}}')
  expected = scores.expected_levels(domain, level_name)
  levels = collections.OrderedDict()
  for name, entry in data['levels'].items():
    try:
      key = scores.level_key(domain, name)
    except ValueError as e:
      fail('level %r: %s' % (name, e))
    if key not in expected:
      fail('level %r is not evaluated by level_name %r' % (name, level_name))
    if key in levels:
      fail('level %r appears twice' % key)
    if not isinstance(entry, dict) or not isinstance(
        entry.get('episode_returns'), list):
      fail('level %r has no "episode_returns" list' % name)
    returns = entry['episode_returns']
    if not all(isinstance(r, (int, float)) and not isinstance(r, bool) and
               math.isfinite(r) for r in returns):
      fail('level %r: "episode_returns" must be finite numbers' % name)
    levels[key] = [float(r) for r in returns]
  return Run(path=path, level_name=level_name, domain=domain,
             agent=dict(data['agent']), frames=frames, levels=levels,
             suite=data.get('suite'))
