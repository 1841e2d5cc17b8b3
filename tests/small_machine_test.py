# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""--small_machine: what it stands for, where it applies, how it is shown."""

import os

import pytest

import config as config_lib
import progress

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))




def test_switch_sets_its_flags_and_explicit_flags_win(parse):
  paper = parse('--level_name=atari/pong')
  small = parse('--level_name=atari/pong', '--small_machine')
  for name, value in config_lib.SMALL_MACHINE.items():
    assert getattr(small, name) == value
    assert getattr(paper, name) != value  # The paper's stay the defaults.
  assert paper.small_machine == ''
  assert small.small_machine == config_lib.small_machine_flags()
  # Everything else is the paper's.
  untouched = set(config_lib.Config._fields) - set(config_lib.SMALL_MACHINE)
  untouched -= {'small_machine'}
  assert all(getattr(small, f) == getattr(paper, f) for f in untouched)
  first = next(iter(config_lib.SMALL_MACHINE))
  explicit = parse('--level_name=atari/pong', '--small_machine',
                   '--%s=4' % first)
  assert getattr(explicit, first) == 4
  # The replay flags too, which have no domain default.
  no_replay = parse('--level_name=atari/pong', '--small_machine',
                    '--replay_proportion=0')
  assert no_replay.replay_proportion == 0


def test_expansion_is_the_flags_it_stands_for(parse):
  """Typing the expansion gives the same Config as the switch."""
  expanded = parse('--level_name=atari/breakout',
                   *config_lib.small_machine_flags().split())
  switch = parse('--level_name=atari/breakout', '--small_machine')
  assert expanded._replace(small_machine='') == switch._replace(
      small_machine='')


@pytest.mark.parametrize('level', ['catch', 'atari57'])
def test_switch_outside_one_atari_game_is_an_error(parse, level):
  with pytest.raises(ValueError, match='--small_machine is tuned for one '
                     'Atari game'):
    parse('--level_name=%s' % level, '--small_machine')


def test_configuration_block_prints_it_expanded(parse):
  block = progress.describe_run(
      parse('--level_name=atari/pong', '--small_machine'), '/nonexistent', 0)
  assert ('switch   --small_machine: %s' % config_lib.small_machine_flags()
          in block)
  block = progress.describe_run(parse('--level_name=atari/pong'),
                                '/nonexistent', 0)
  assert 'small_machine' not in block


def test_suggestion_on_small_machines_only():
  suggest = config_lib.small_machine_suggestion
  line = suggest('atari/pong', 'impala', 2, set())
  assert '--small_machine (%s)' % config_lib.small_machine_flags() in line
  assert '\n' not in line
  assert suggest('atari/pong', 'impala', config_lib.SMALL_MACHINE_MAX_CORES,
                 set())
  assert suggest('atari/pong', 'impala',
                 config_lib.SMALL_MACHINE_MAX_CORES + 1, set()) is None
  assert suggest('catch', 'impala', 2, set()) is None
  assert suggest('atari57', 'impala', 2, set()) is None
  assert suggest('atari/pong', 'a3c', 2, set()) is None
  assert suggest('atari/pong', 'impala', 2, {'small_machine'}) is None
  for name in config_lib.SMALL_MACHINE:  # The user already chose.
    assert suggest('atari/pong', 'impala', 2, {name}) is None


def test_documented_expansion_is_the_code_s():
  with open(os.path.join(_ROOT, 'docs', 'training.md')) as f:
    training = f.read()
  assert ('`--small_machine` stands for `%s`' %
          config_lib.small_machine_flags()) in training
  with open(os.path.join(_ROOT, 'README.md')) as f:
    assert '--small_machine' in f.read()
