# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The `--small_machine` switch: settings for one Atari game on 2-4 cores.

config.py defines the flag and applies `SMALL_MACHINE` in resolve_config
(flags given explicitly win); experiment.py prints the one-line suggestion.
No TensorFlow, no flags here.
"""

import collections

# --small_machine: settings for one Atari game on a 2-4 core machine, chosen
# by a search on Pong at equal frame budgets (docs/results.md#small-machine-
# search). They change settings only, not the algorithm (experience replay is
# the paper's own, section 5.2.2 and Table 2); the paper's settings stay the
# defaults (config.DOMAIN_DEFAULTS).
SMALL_MACHINE = collections.OrderedDict(
    batch_size=8, envs_per_actor=8, epsilon=1e-4, entropy_cost=0.003,
    replay_proportion=0.75, replay_buffer_size=4000)
# make train suggests the switch on machines with at most this many cores.
SMALL_MACHINE_MAX_CORES = 4


def small_machine_flags():
  """The flags --small_machine stands for, as one would type them."""
  return ' '.join('--%s=%s' % item for item in SMALL_MACHINE.items())


def small_machine_suggestion(level_name, agent, cores, given):
  """The one line that suggests --small_machine, or None.

  Args:
    level_name: --level_name.
    agent: --agent.
    cores: CPU cores of this machine.
    given: flag names given on the command line.
  """
  if (agent != 'impala' or not level_name.startswith('atari/') or
      cores > SMALL_MACHINE_MAX_CORES or 'small_machine' in given or
      any(name in given for name in SMALL_MACHINE)):
    return None
  return ('%d CPU cores: --small_machine (%s) learns one Atari game in far '
          'fewer frames here than the paper\'s batch of 32 '
          '(docs/training.md#small-machines).' % (cores,
                                                   small_machine_flags()))
