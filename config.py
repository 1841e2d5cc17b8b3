# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The run's settings: every flag, the paper's defaults per domain, checks.

All flags of the entry points (experiment.py, distributed.py) are defined
here, once. `resolve_config()` turns them into a `Config`: a flag left at
`None` takes the default of the level's domain (Table G.1 for Atari,
Table D.3 and the release for DeepMind Lab), and every value is checked
before any process or thread starts. Builders below the entry points
(actor.py, learner.py) read only the `Config`, never the flags.
"""

import collections
import math
import os
import tempfile

# oneDNN kernels make the learner about 3x faster on CPUs where TensorFlow
# leaves them off (benchmarks/network_benchmark.py). Entry points import this
# module before TensorFlow, so that this is set in time.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

import dmlab30  # pylint: disable=g-import-not-at-top,wrong-import-position
import environments  # pylint: disable=g-import-not-at-top,wrong-import-position
import levels as levels_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
import memory  # pylint: disable=g-import-not-at-top,wrong-import-position
import replay  # pylint: disable=g-import-not-at-top,wrong-import-position
import vtrace  # pylint: disable=g-import-not-at-top,wrong-import-position
# The --small_machine switch, in its own module (small_machine.py).
from small_machine import (  # pylint: disable=g-import-not-at-top,wrong-import-position,unused-import
    SMALL_MACHINE, SMALL_MACHINE_MAX_CORES, small_machine_flags,
    small_machine_suggestion)

# ---------------------------------------------------------------------------
# Flags. `None` means: the default of the level's domain (DOMAIN_DEFAULTS).

FLAGS = flags.FLAGS
# --agent: IMPALA and the paper's baselines in the same code (Table 1).
AGENTS = ('impala', 'a3c', 'a2c_sync_step', 'a2c_sync_traj')

# --envs_per_process by default (Atari, catch): an actor's child processes
# each step up to this many of its environments (docs/performance.md#actors).
ENVS_PER_PROCESS = 8


DMLAB30_EXPERT = 'dmlab30 expert'  # DOMAIN_DEFAULTS key: one DMLab-30 level.

flags.DEFINE_string('logdir', '/tmp/impala/agent',
                    'Checkpoints, TensorBoard summaries, progress.csv and '
                    'test_results.json go here.')
flags.DEFINE_enum('mode', 'train', ['train', 'test'], 'Training or test.')
flags.DEFINE_integer('test_num_episodes', None,
                     'Episodes per level in test mode. Default: the paper\'s '
                     'protocol, 200 per Atari game (Table 4), 500 per DMLab '
                     'level (Table 3); 10 for catch.')

# Distributed (see distributed.py); -1 runs everything in this process.
# Under TF_CONFIG (TFJob, Vertex AI) or a SLURM srun step the engine gives
# the job, task and addresses of flags not given (docs/distributed.md).
flags.DEFINE_integer('task', -1, 'Task id. -1: single machine.')
flags.DEFINE_enum('job_name', 'learner', ['learner', 'actor'],
                  'Job name; ignored when task is -1.')
flags.DEFINE_string('learner_address', 'localhost:8000',
                    'host:port of the learner, the same for every process.')
flags.DEFINE_string('actor_hosts', 'localhost',
                    'Comma-separated host or host:port of each actor task '
                    '(one entry for all, or one per actor), the same for '
                    'every process. Without a port, actor N listens on '
                    '--actor_base_port + N.')
flags.DEFINE_integer('actor_base_port', 8001,
                     'Port of actor 0; actor N uses this + N.')
flags.DEFINE_integer('slurm_base_port', 8000,
                     'In a SLURM srun step: the learner (task 0) listens at '
                     'this port of its node, actor N at this + 1 + N.')

# Training.
flags.DEFINE_bool('small_machine', False,
                  'One Atari game on a 2-4 core machine: stands for %s '
                  '(docs/training.md#small-machines); flags given explicitly '
                  'still win. The paper\'s settings stay the defaults.' %
                  small_machine_flags())
flags.DEFINE_integer('total_environment_frames', None,
                     'Environment frames to train for (all levels together).')
flags.DEFINE_integer(
    'stop_at_frames', None,
    'Stop training (with a final checkpoint) once this many frames are done, '
    'as if the budget ended there; the learning rate still anneals to 0 at '
    '--total_environment_frames. Progress percent and ETA refer to it. '
    'Default: --total_environment_frames.')
flags.DEFINE_integer('num_actors', None, 'Number of actors.')
flags.DEFINE_integer('envs_per_actor', None,
                     'Environments each actor steps with batched inference.')
flags.DEFINE_integer(
    'envs_per_process', None,
    'Environments in each child process of an actor, stepped one after '
    'another (a divisor of --envs_per_actor). More per process cost less CPU '
    'per frame; the environments and results are the same '
    '(docs/performance.md#actors). Default: %d for Atari and catch, 1 for '
    'DeepMind Lab (one process per environment, as the release).' %
    ENVS_PER_PROCESS)
flags.DEFINE_integer('batch_size', None, 'Trajectories per learner batch.')
flags.DEFINE_integer('unroll_length', None, 'Agent steps per trajectory.')
flags.DEFINE_integer('num_action_repeats', None, 'Frames per agent step.')
flags.DEFINE_integer('seed', 1, 'Random seed.')

# Agent.
flags.DEFINE_enum('agent', 'impala', AGENTS,
                  'Architecture (paper Table 1; docs/baselines.md): impala '
                  '(actors, queue, V-trace learner), a3c (asynchronous '
                  'workers, one environment each, Hogwild RMSProp), '
                  'a2c_sync_step (batched A2C, one inference over all '
                  'environments per step) or a2c_sync_traj (batched A2C, '
                  'each actor unrolls on its own, the update waits for all).')
flags.DEFINE_enum('network', None, ['shallow', 'deep'], 'Torso (Figure 3).')
flags.DEFINE_enum('core', None, ['lstm', 'feedforward'], 'Core.')

# Loss settings.
flags.DEFINE_float('entropy_cost', None, 'Entropy cost/multiplier.')
flags.DEFINE_float('baseline_cost', .5, 'Baseline cost/multiplier.')
flags.DEFINE_float('discounting', .99, 'Discounting factor.')
flags.DEFINE_enum('reward_clipping', None, ['abs_one', 'soft_asymmetric'],
                  'Reward clipping.')
flags.DEFINE_float('gradient_clipping', None,
                   'Clip the global gradient norm to this; 0 for none.')

# Off-policy correction and experience replay (paper section 5.2, Table 2).
flags.DEFINE_enum('off_policy_correction', 'vtrace',
                  list(vtrace.OFF_POLICY_CORRECTIONS),
                  'vtrace (rho_bar = c_bar = 1), one_step (1-step importance '
                  'sampling), epsilon (log(pi + 1e-6) in the gradient) or '
                  'none (as if on-policy).')
flags.DEFINE_float('replay_proportion', 0.,
                   'Share of each learner batch drawn uniformly from a FIFO '
                   'replay buffer of trajectories; the rest is fresh. The '
                   'paper used 0.5.')
flags.DEFINE_integer('replay_buffer_size', 10000,
                     'Trajectories the replay buffer holds (used only with '
                     '--replay_proportion > 0).')

# Environment settings.
flags.DEFINE_string('dataset_path', '',
                    'Path to the DMLab-30 psychlab data set, when needed.')
flags.DEFINE_string('level_name', 'atari/pong',
                    'catch, atari/<game>, atari57, dmlab30 or a DMLab level.')
flags.DEFINE_bool('null_environment', False,
                  'Atari levels only: actors step environments.PyProcessNull '
                  '(fixed frames of the game\'s shape and action count, '
                  'no emulator) instead of the game, so that a run measures '
                  'inference, queueing and gRPC alone '
                  '(benchmarks/learner_ingest.py). Not for training.')
flags.DEFINE_integer('width', 96, 'DMLab frame width.')
flags.DEFINE_integer('height', 72, 'DMLab frame height.')
flags.DEFINE_bool('sticky_actions', False,
                  'Atari: repeat the last action with probability 0.25.')
flags.DEFINE_integer('noop_max', 30, 'Atari: up to this many no-ops at the '
                     'start of each game.')
flags.DEFINE_integer('max_episode_frames', 108000,
                     'Atari: a game is cut (and counts as over) after this '
                     'many frames; 108,000 (30 minutes) as for the human and '
                     'random reference scores.')

# The learner's devices.
flags.DEFINE_enum('learner_device', None, ['gpu', 'cpu'],
                  'Where the learner runs; default: gpu where TensorFlow '
                  'sees one, else cpu.')
flags.DEFINE_integer('num_learners', 1,
                     'Synchronous learners: the batch is split over the '
                     'first K GPUs (or K logical CPU devices), one update.')

# Optimizer settings.
flags.DEFINE_float('learning_rate', None, 'Learning rate.')
flags.DEFINE_float('decay', .99, 'RMSProp optimizer decay.')
flags.DEFINE_float('momentum', 0., 'RMSProp momentum.')
flags.DEFINE_float('epsilon', None, 'RMSProp epsilon.')

flags.DEFINE_bool('skip_memory_check', False,
                  'Start even where the estimated memory of the replay '
                  'buffer and the learner exceeds what the machine has '
                  'available (memory.py).')

# Progress and checkpoints.
flags.DEFINE_float('log_interval_secs', 5., 'Seconds between progress rows.')
flags.DEFINE_integer('save_checkpoint_secs', 600,
                     'Seconds between checkpoints (one is written at exit).')
flags.DEFINE_float('diagnosis_interval_secs', 60.,
                   'Seconds between diagnoses of the bottleneck (actors or '
                   'learner; bottleneck.py); 0 for none.')

# Population-based training (pbt.py, paper Appendix F). `None`: the paper's
# value, or for catch PBT_DOMAIN_DEFAULTS.
flags.DEFINE_integer('population_size', 24, 'pbt.py: members.')
flags.DEFINE_integer('pbt_burn_in_frames', None,
                     'pbt.py: frames of each member before any evolution '
                     '(paper: 20M).')
flags.DEFINE_integer('pbt_interval_episodes', None,
                     'pbt.py: a member evolves each time it has played this '
                     'many more episodes (paper: 5,000).')
flags.DEFINE_float('pbt_fitness_threshold', 5.,
                   'pbt.py: copy only if the other member is fitter by more '
                   'than this: absolute HNS percentage points for a suite, '
                   'percent of |own mean return| for a single level.')
flags.DEFINE_float('pbt_perturb_probability', 1. / 3.,
                   'pbt.py: probability of perturbing each hyperparameter.')
flags.DEFINE_float('pbt_perturb_factor', 1.2,
                   'pbt.py: a perturbation multiplies by this or its '
                   'inverse.')
flags.DEFINE_list('pbt_hyperparameters', None,
                  'pbt.py: the hyperparameters that evolve, of learning_rate, '
                  'entropy_cost, epsilon, gradient_clipping (default: the '
                  'first three; on Atari also gradient_clipping).')
flags.DEFINE_float('pbt_poll_secs', 2., 'pbt.py: seconds between looks at '
                   'the members.')
flags.DEFINE_integer('pbt_max_restarts', 10,
                     'pbt.py: restarts of a dead member before giving up.')
flags.DEFINE_bool('pbt_start_members', True,
                  'pbt.py: start (and restart) the members here. False: '
                  'print their commands, to be started elsewhere (a cluster '
                  'sharing --logdir), and only evolve them.')
flags.DEFINE_bool('pbt_member', False,
                  'Set by pbt.py: follow <logdir>/pbt_member.json (changed '
                  'hyperparameters, weights to copy) while training.')

# Defaults per domain: Atari from paper Table G.1, DeepMind Lab from Table D.3
# and the release's flags, DMLab-30 from the release's README command. The
# test protocol: 200 episodes per Atari game with no-op starts (Table 4,
# Appendix C.1), 500 per DMLab level (Table 3, Table B.1).
DOMAIN_DEFAULTS = {
    'atari': dict(
        total_environment_frames=int(200e6), batch_size=32, unroll_length=20,
        num_action_repeats=4, network='shallow', core='feedforward',
        entropy_cost=0.01, reward_clipping='abs_one', gradient_clipping=40.,
        learning_rate=0.0006, epsilon=0.01, test_num_episodes=200),
    'atari57': dict(network='deep', total_environment_frames=int(57 * 200e6)),
    'dmlab': dict(
        total_environment_frames=int(1e9), batch_size=32, unroll_length=100,
        num_action_repeats=4, network='deep', core='lstm',
        entropy_cost=0.00025, reward_clipping='abs_one', gradient_clipping=0.,
        learning_rate=0.00048, epsilon=0.1, test_num_episodes=500),
    'dmlab30': dict(
        total_environment_frames=int(10e9), entropy_cost=0.0033391318945337044,
        learning_rate=0.00031866995608948655,
        reward_clipping='soft_asymmetric', num_actors=150),
    # One DMLab-30 level on its own: an IMPALA-Expert (Table 3, Table B.1
    # "Experts"), which Table D.3 clips like DMLab-30 ("including experts").
    DMLAB30_EXPERT: dict(reward_clipping='soft_asymmetric'),
    # Tuned so that the agent learns catch in about a minute on 2 cores.
    'catch': dict(
        total_environment_frames=int(150e3), batch_size=16, unroll_length=20,
        num_action_repeats=1, network='shallow', core='feedforward',
        entropy_cost=0.01, reward_clipping='abs_one', gradient_clipping=40.,
        learning_rate=0.002, epsilon=0.01, num_actors=2, envs_per_actor=8,
        test_num_episodes=10),
}


def _defaults_of(level_set):
  """The DOMAIN_DEFAULTS of a level set: its domain's, then its own (or
  DMLAB30_EXPERT's for one DMLab-30 level)."""
  values = dict(DOMAIN_DEFAULTS[level_set.domain])
  if level_set.name in DOMAIN_DEFAULTS:
    values.update(DOMAIN_DEFAULTS[level_set.name])
  if (level_set.domain == 'dmlab' and not level_set.multitask and
      level_set.levels[0] in dmlab30.ALL_LEVELS):
    values.update(DOMAIN_DEFAULTS[DMLAB30_EXPERT])
  return values


# Actors on this machine: found by benchmarks/throughput.py --sweep
# (docs/results.md).
# On 2 cores (Pong, batch 32) 32 environments per actor gave 3-7% more
# frames per CPU-second than 16 (larger inference batches) and the same as
# 64; 2 and 4 actors of 32 were equal, and 2 use half the memory (each
# environment process is about 9 MiB). Only 2-core machines were measured.
# A suite gets about as many environments per core, in whole suites. DeepMind
# Lab: max(4, cores) actors with just enough environments to fill a batch
# (one each from 32 cores on, the paper's setting); DMLab-30: the release's
# 150 actors of one environment (DOMAIN_DEFAULTS).
ATARI_ENVS_PER_ACTOR = 32


def _default_num_actors(level_set):
  cores = max(2, os.cpu_count() or 1)
  if level_set.domain == 'dmlab':
    return max(cores, 4)
  if level_set.multitask:  # About 32 environments per core, whole suites.
    return -(-ATARI_ENVS_PER_ACTOR * cores // len(level_set.levels))
  return cores


def _envs_per_actor_step(level_set, num_actors):
  """envs_per_actor must be a multiple of this for an even suite."""
  if not level_set.multitask:
    return 1
  num_levels = len(level_set.levels)
  return num_levels // math.gcd(num_levels, num_actors)


def _default_envs_per_actor(level_set, num_actors, batch_size):
  """The fewest environments per actor (at least 32 for Atari) that fill a
  batch, play every level of a suite and give its levels equal counts."""
  at_least = max(-(-batch_size // num_actors),
                 -(-len(level_set.levels) // num_actors),
                 1 if level_set.domain == 'dmlab' else ATARI_ENVS_PER_ACTOR)
  step = _envs_per_actor_step(level_set, num_actors)
  return -(-at_least // step) * step


def _envs_per_process(domain, envs_per_actor):
  """--envs_per_process, checked, or its default for the domain: the largest
  divisor of envs_per_actor up to ENVS_PER_PROCESS (Atari, catch), 1 (DMLab)."""
  requested = FLAGS.envs_per_process
  if requested is None:
    if domain == 'dmlab':
      return 1
    return max(k for k in range(1, ENVS_PER_PROCESS + 1)
               if envs_per_actor % k == 0)
  if requested < 1 or envs_per_actor % requested:
    raise ValueError(
        '--envs_per_process=%d must be >= 1 and divide --envs_per_actor=%d '
        '(each of an actor\'s child processes steps as many environments): '
        'use one of %s.' % (requested, envs_per_actor,
                            [k for k in range(1, envs_per_actor + 1)
                             if envs_per_actor % k == 0]))
  return requested


def _check_even_suite(level_set, num_actors, envs_per_actor):
  """Every level of a suite gets the same number of environments (they are
  assigned round-robin, actor.create_environments)."""
  num_levels = len(level_set.levels)
  num_envs = num_actors * envs_per_actor
  if not level_set.multitask or num_envs % num_levels == 0:
    return
  step = _envs_per_actor_step(level_set, num_actors)
  actors_step = num_levels // math.gcd(num_levels, envs_per_actor)
  raise ValueError(
      '%s has %d levels but --num_actors x --envs_per_actor = %d x %d = %d '
      'environments: %s. Use a multiple of %d environments, e.g. '
      '--envs_per_actor=%d (with --num_actors=%d) or --num_actors=%d (with '
      '--envs_per_actor=%d).' % (
          level_set.name, num_levels, num_actors, envs_per_actor, num_envs,
          'some levels would never be played' if num_envs < num_levels else
          'some levels would get more environments than others', num_levels,
          -(-envs_per_actor // step) * step, num_actors,
          -(-num_actors // actors_step) * actors_step, envs_per_actor))


_ConfigFields = collections.namedtuple('Config', [
    'level_set', 'num_actions', 'total_environment_frames', 'num_actors',
    'envs_per_actor', 'batch_size', 'unroll_length', 'num_action_repeats',
    'network', 'core', 'use_instruction', 'entropy_cost', 'baseline_cost',
    'discounting', 'reward_clipping', 'gradient_clipping', 'learning_rate',
    'decay', 'momentum', 'epsilon', 'full_action_space',
    # Environments, progress and test mode (read by actor.py, learner.py).
    'seed', 'sticky_actions', 'noop_max', 'width', 'height', 'dataset_path',
    'log_interval_secs', 'save_checkpoint_secs', 'test_num_episodes',
    'pbt_member', 'diagnosis_interval_secs', 'max_episode_frames',
    # Off-policy correction and replay (vtrace.py, replay.py; Table 2).
    'off_policy_correction', 'replay_proportion', 'replay_buffer_size',
    # The learner's devices (read by learner.py).
    'learner_device', 'num_learners',
    # Where training stops, if before total_environment_frames (None: there).
    'stop_at_frames',
    # The architecture (experiment.py, a3c.py, a2c.py; Table 1).
    'agent',
    # --small_machine: the flags it stands for ('' without it); flags given
    # explicitly override them.
    'small_machine',
    # --null_environment: actors step environments.PyProcessNull stand-ins
    # of the Atari levels (actor.create_environments).
    'null_environment',
    # Environments per child process of an actor (actor.create_environments).
    'envs_per_process'],
    defaults=(1, False, 30, 96, 72, None, 5., 600, 10, False, 60., 108000,
              'vtrace', 0., 10000, 'cpu', 1, None, 'impala', '', False, 1))


class Config(_ConfigFields):
  """The run's settings (the fields above), resolved and checked."""
  __slots__ = ()

  @property
  def stop_frames(self):
    """The frame count at which training stops: `--stop_at_frames` if it
    comes before `--total_environment_frames` (which the learning rate's
    schedule anneals over), else the whole budget."""
    if self.stop_at_frames is None:
      return self.total_environment_frames
    return min(self.stop_at_frames, self.total_environment_frames)


def resolve_learner_device(requested, num_learners, batch_size, num_gpus):
  """'gpu' or 'cpu' for `--learner_device`; checks `--num_learners`.

  Args:
    requested: the flag: 'gpu', 'cpu' or None (gpu where there is one).
    num_learners: K.
    batch_size: B, split K ways.
    num_gpus: GPUs visible to TensorFlow; None: not checked (an actor task
      builds no learner, and may run where there is no GPU).

  Raises:
    ValueError: K < 1, B not divisible by K, or more GPUs asked than seen.
  """
  if num_learners < 1:
    raise ValueError('--num_learners must be >= 1, got %d.' % num_learners)
  if batch_size % num_learners:
    raise ValueError(
        '--batch_size=%d does not split into --num_learners=%d equal parts: '
        'choose a batch size divisible by it.' % (batch_size, num_learners))
  device = requested or ('gpu' if num_gpus else 'cpu')
  if device == 'gpu' and num_gpus is not None and num_learners > num_gpus:
    raise ValueError(
        '--learner_device=gpu: --num_learners=%d needs as many GPUs but '
        'TensorFlow sees %d; lower --num_learners, or use '
        '--learner_device=cpu (logical CPU devices).' % (num_learners,
                                                          num_gpus))
  return device


def resolve_config(level_name=None):
  """The run's settings: flags, else the domain's defaults. Checks them all.

  Raises:
    ValueError: an unknown level or an impossible value, with the flag named.
    ImportError: a DMLab level without DeepMind Lab installed.
  """
  level_set = levels_lib.resolve(level_name or FLAGS.level_name)
  domain = level_set.domain
  if domain == 'dmlab':
    environments.check_dmlab_available()
    _check_dataset_path(level_set, FLAGS.dataset_path)
  values = _defaults_of(level_set)
  if FLAGS.small_machine:
    if domain != 'atari' or level_set.multitask:
      raise ValueError(
          '--small_machine is tuned for one Atari game (atari/<game>), not '
          '%s: leave it out.' % level_set.name)
    values.update(SMALL_MACHINE)
  for name in ('total_environment_frames', 'num_actors', 'envs_per_actor',
               'batch_size', 'unroll_length', 'num_action_repeats', 'network',
               'core', 'entropy_cost', 'reward_clipping', 'gradient_clipping',
               'learning_rate', 'epsilon', 'test_num_episodes'):
    if FLAGS[name].value is not None:
      values[name] = FLAGS[name].value
  if 'num_actors' not in values:
    values['num_actors'] = _default_num_actors(level_set)
  if 'envs_per_actor' not in values:  # Bad values are reported below.
    values['envs_per_actor'] = _default_envs_per_actor(
        level_set, max(values['num_actors'], 1), max(values['batch_size'], 1))
  for name in ('baseline_cost', 'discounting', 'decay', 'momentum',
               'off_policy_correction', 'replay_proportion',
               'replay_buffer_size'):
    if name not in values or FLAGS[name].present:  # Else --small_machine's.
      values[name] = FLAGS[name].value

  def check(condition, message):
    if not condition:
      raise ValueError(message)

  values['agent'] = FLAGS.agent
  if FLAGS.agent != 'impala':
    _resolve_baseline(values, check)
  for name in ('total_environment_frames', 'num_actors', 'envs_per_actor',
               'batch_size', 'unroll_length', 'num_action_repeats'):
    check(values[name] >= 1, '--%s must be >= 1, got %s.' % (name,
                                                              values[name]))
  for name in ('entropy_cost', 'baseline_cost', 'learning_rate',
               'gradient_clipping', 'momentum'):
    check(values[name] >= 0, '--%s must be >= 0, got %s.' % (name,
                                                              values[name]))
  check(0 <= values['discounting'] <= 1,
        '--discounting must be in [0, 1], got %s.' % values['discounting'])
  check(0 <= values['decay'] < 1, '--decay must be in [0, 1).')
  check(values['epsilon'] > 0, '--epsilon must be > 0.')
  check(values['test_num_episodes'] >= 1, '--test_num_episodes must be >= 1.')
  check(FLAGS.stop_at_frames is None or FLAGS.stop_at_frames >= 1,
        '--stop_at_frames must be >= 1, got %s.' % FLAGS.stop_at_frames)
  _check_replay(values['replay_proportion'], values['replay_buffer_size'],
                values['batch_size'])
  check(FLAGS.log_interval_secs > 0, '--log_interval_secs must be > 0.')
  check(FLAGS.diagnosis_interval_secs >= 0,
        '--diagnosis_interval_secs must be >= 0.')
  check(FLAGS.max_episode_frames >= 1, '--max_episode_frames must be >= 1.')
  num_envs = values['num_actors'] * values['envs_per_actor']
  # The queue fills whatever the batch size, but a batch larger than the
  # number of environments would hold consecutive unrolls of one environment
  # (correlated, and later ones older than the learner's policy).
  check(values['batch_size'] <= num_envs,
        '--batch_size=%d exceeds --num_actors x --envs_per_actor = %d '
        'environments: every batch would repeat environments. Raise '
        '--num_actors or --envs_per_actor, or lower --batch_size.' %
        (values['batch_size'], num_envs))
  _check_even_suite(level_set, values['num_actors'], values['envs_per_actor'])
  values['envs_per_process'] = _envs_per_process(domain,
                                                 values['envs_per_actor'])
  check(not FLAGS.null_environment or domain == 'atari',
        '--null_environment stands in for Atari games only (atari/<game>, '
        'atari57), not %s.' % level_set.name)
  actor_task = FLAGS.task >= 0 and FLAGS.job_name == 'actor'
  learner_device = resolve_learner_device(
      FLAGS.learner_device, FLAGS.num_learners, values['batch_size'],
      None if actor_task else len(tf.config.list_physical_devices('GPU')))
  full_action_space = level_set.multitask and domain == 'atari'
  num_actions = max(
      environments.num_actions(*levels_lib.environment_level(level),
                               full_action_space=full_action_space)
      for level in level_set.levels)
  return Config(
      level_set=level_set, num_actions=num_actions,
      use_instruction=(domain == 'dmlab'),
      full_action_space=full_action_space, seed=FLAGS.seed,
      sticky_actions=FLAGS.sticky_actions, noop_max=FLAGS.noop_max,
      max_episode_frames=FLAGS.max_episode_frames,
      width=FLAGS.width, height=FLAGS.height,
      dataset_path=FLAGS.dataset_path or None,
      log_interval_secs=FLAGS.log_interval_secs,
      save_checkpoint_secs=FLAGS.save_checkpoint_secs,
      pbt_member=FLAGS.pbt_member,
      diagnosis_interval_secs=FLAGS.diagnosis_interval_secs,
      learner_device=learner_device, num_learners=FLAGS.num_learners,
      stop_at_frames=FLAGS.stop_at_frames, small_machine=(
          small_machine_flags() if FLAGS.small_machine else ''),
      null_environment=FLAGS.null_environment, **values)


def _resolve_baseline(values, check):
  """--agent=a3c or a2c_*: one machine, one learner, on-policy n-step returns
  (the `none` correction, behaviour = target policy, no replay), and the
  batch it implies (A3C: each worker's own trajectory; A2C: every
  environment's). An explicit --batch_size must equal it."""
  agent = values['agent']
  check(values['replay_proportion'] == 0,
        '--agent=%s learns on-policy: leave out --replay_proportion (replay '
        'is IMPALA\'s, Table 2).' % agent)
  check(FLAGS.num_learners == 1,
        '--agent=%s has one learner: leave out --num_learners.' % agent)
  check(values['off_policy_correction'] == 'vtrace',
        '--agent=%s uses on-policy n-step returns, no correction: leave out '
        '--off_policy_correction.' % agent)
  check(FLAGS.task < 0,
        '--agent=%s runs on one machine: leave out --task and --job_name '
        '(distributed training is IMPALA\'s).' % agent)
  values['off_policy_correction'] = 'none'
  num_envs = values['num_actors'] * values['envs_per_actor']
  batch_size = 1 if agent == 'a3c' else num_envs
  check(FLAGS.batch_size is None or FLAGS.batch_size == batch_size,
        '--agent=%s: --batch_size=%s must be %d (%s), or left out.' % (
            agent, FLAGS.batch_size, batch_size,
            'each worker updates with its own trajectory' if agent == 'a3c'
            else '--num_actors x --envs_per_actor: every environment\'s '
            'trajectory in each update'))
  values['batch_size'] = batch_size


def check_impala_only(config, program):
  """distributed.py and pbt.py run IMPALA only: ValueError otherwise."""
  if config.agent != 'impala':
    raise ValueError('%s runs --agent=impala only, not --agent=%s: use '
                     'experiment.py.' % (program, config.agent))


def _check_replay(proportion, buffer_size, batch_size):
  """Raises ValueError unless a batch holds fresh and replayed trajectories."""
  if not 0 <= proportion < 1:
    raise ValueError('--replay_proportion must be in [0, 1), got %s.' %
                     proportion)
  num_replayed = replay.num_replayed(batch_size, proportion)
  if proportion > 0 and num_replayed == 0:
    raise ValueError(
        '--replay_proportion=%s of --batch_size=%d rounds to no replayed '
        'trajectory: raise one of them.' % (proportion, batch_size))
  if num_replayed >= batch_size:
    raise ValueError(
        '--replay_proportion=%s of --batch_size=%d leaves no fresh '
        'trajectory in a batch.' % (proportion, batch_size))
  if num_replayed and buffer_size < batch_size - num_replayed:
    raise ValueError(
        '--replay_buffer_size=%d is smaller than the %d fresh trajectories '
        'each batch adds.' % (buffer_size, batch_size - num_replayed))


def _check_dataset_path(level_set, dataset_path):
  """The psychlab levels that read images need --dataset_path, a directory
  where environments run here (not on a distributed learner task)."""
  for level in level_set.levels:
    environments.check_dmlab_dataset(level, dataset_path=dataset_path)
  runs_environments = FLAGS.task < 0 or FLAGS.job_name == 'actor'
  if dataset_path and runs_environments and not os.path.isdir(dataset_path):
    raise ValueError('--dataset_path=%s is not a directory.' % dataset_path)


def check_memory(config):
  """Raises ValueError (one line) where the replay buffer and the learner
  this process runs would not fit in the memory available (memory.py);
  not for actor tasks, test mode or with --skip_memory_check."""
  if (FLAGS.skip_memory_check or FLAGS.mode != 'train' or
      (FLAGS.task >= 0 and FLAGS.job_name == 'actor')):
    return None
  return memory.check(config)


def check_logdir(logdir):
  """Creates `logdir` and checks that it can be written, before any process."""
  try:
    os.makedirs(logdir, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=logdir):
      pass
  except OSError as e:
    raise ValueError('--logdir=%s cannot be written: %s' % (logdir, e))


# ---------------------------------------------------------------------------
# Population-based training (pbt.py).

PBT_HYPERPARAMETERS = ('learning_rate', 'entropy_cost', 'epsilon',
                       'gradient_clipping')
# Appendix F: 20M frames of burn-in, then an evolution every 5,000 episodes.
# Catch is scaled to its 150K-frame budget (about 9 frames an episode).
# A copy takes the other member's latest checkpoint: members checkpoint
# every `member_checkpoint_secs` unless --save_checkpoint_secs is given.
PBT_DOMAIN_DEFAULTS = {
    'atari': dict(burn_in_frames=int(20e6), interval_episodes=5000,
                  member_checkpoint_secs=60),
    'dmlab': dict(burn_in_frames=int(20e6), interval_episodes=5000,
                  member_checkpoint_secs=60),
    'catch': dict(burn_in_frames=20000, interval_episodes=300,
                  member_checkpoint_secs=3),
}

PbtConfig = collections.namedtuple('PbtConfig', [
    'population_size', 'burn_in_frames', 'interval_episodes',
    'fitness_threshold', 'relative_threshold', 'perturb_probability',
    'perturb_factor', 'hyperparameters', 'poll_secs', 'max_restarts', 'seed',
    'member_checkpoint_secs', 'start_members'])


def resolve_pbt_config(config):
  """pbt.py's settings for members trained with `config`; checks them all.

  Raises:
    ValueError: an impossible value, with the flag named.
  """
  values = dict(PBT_DOMAIN_DEFAULTS[config.level_set.domain])
  if FLAGS['save_checkpoint_secs'].present:
    values['member_checkpoint_secs'] = config.save_checkpoint_secs
  for name in ('burn_in_frames', 'interval_episodes'):
    if FLAGS['pbt_' + name].value is not None:
      values[name] = FLAGS['pbt_' + name].value
  hyperparameters = FLAGS.pbt_hyperparameters
  if hyperparameters is None:
    hyperparameters = list(PBT_HYPERPARAMETERS[:3])
    if config.level_set.domain == 'atari':
      hyperparameters.append('gradient_clipping')
  checks = [
      (FLAGS.population_size >= 2, '--population_size must be >= 2.'),
      (values['burn_in_frames'] >= 0, '--pbt_burn_in_frames must be >= 0.'),
      (values['interval_episodes'] >= 1,
       '--pbt_interval_episodes must be >= 1.'),
      (FLAGS.pbt_fitness_threshold >= 0,
       '--pbt_fitness_threshold must be >= 0.'),
      (0 <= FLAGS.pbt_perturb_probability <= 1,
       '--pbt_perturb_probability must be in [0, 1].'),
      (FLAGS.pbt_perturb_factor >= 1, '--pbt_perturb_factor must be >= 1.'),
      (FLAGS.pbt_poll_secs > 0, '--pbt_poll_secs must be > 0.'),
      (FLAGS.pbt_max_restarts >= 0, '--pbt_max_restarts must be >= 0.'),
      (FLAGS.mode == 'train' and FLAGS.task < 0,
       'pbt.py trains on one machine: leave out --mode and --task.'),
      (not FLAGS.pbt_member, '--pbt_member is for pbt.py to set.'),
  ]
  unknown = sorted(set(hyperparameters) - set(PBT_HYPERPARAMETERS))
  checks += [
      (not unknown, '--pbt_hyperparameters: unknown %s; choose from %s.' % (
          ', '.join(unknown), ', '.join(PBT_HYPERPARAMETERS))),
      ('gradient_clipping' not in hyperparameters or
       config.gradient_clipping > 0,
       '--pbt_hyperparameters=gradient_clipping needs --gradient_clipping > '
       '0 (a factor cannot move it from 0).'),
  ]
  for condition, message in checks:
    if not condition:
      raise ValueError(message)
  return PbtConfig(
      population_size=FLAGS.population_size,
      fitness_threshold=FLAGS.pbt_fitness_threshold,
      relative_threshold=not config.level_set.multitask,
      perturb_probability=FLAGS.pbt_perturb_probability,
      perturb_factor=FLAGS.pbt_perturb_factor,
      hyperparameters=tuple(dict.fromkeys(hyperparameters)),
      poll_secs=FLAGS.pbt_poll_secs, max_restarts=FLAGS.pbt_max_restarts,
      seed=FLAGS.seed, start_members=FLAGS.pbt_start_members, **values)
