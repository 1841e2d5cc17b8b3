# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""IMPALA: actors, a trajectory queue and a learner (paper Figure 1).

    python experiment.py                          # atari/pong, this machine
    python experiment.py --level_name=catch       # a minute-long smoke run
    python experiment.py --mode=test --logdir=... # evaluate the checkpoint

Actors run the agent's policy in their environments (child processes) and
enqueue trajectories of `unroll_length` steps; they never compute gradients.
The learner dequeues `batch_size` trajectories, prefetches the next batch
with a StagingArea, unrolls the network over the batch, corrects for the lag
between the actors' policies and its own with V-trace (section 4) and
updates with RMSProp. On one machine the actors are threads of this process,
each stepping `envs_per_actor` environments with batched inference; with
`--job_name`, or under TF_CONFIG (TFJob, Vertex AI) or a SLURM `srun` step
of several tasks, learner and actors are separate processes linked by
TensorFlow's gRPC runtime (distributed.py; launch/ holds a batch script and
a manifest). `--agent=a3c`, `a2c_sync_step`
or `a2c_sync_traj` trains the paper's baselines instead (a3c.py, a2c.py;
docs/baselines.md), with the same networks, losses, update and progress.
"""

import collections
import os
import sys
import threading

import console
if __name__ == '__main__':  # Before TensorFlow is imported (console.py).
  console.filter_stderr(sys.argv)
# pylint: disable=g-import-not-at-top,wrong-import-position
import config as config_lib  # Before TensorFlow: it sets its environment.
from absl import app
from absl import logging
import numpy as np
import tensorflow as tf

import a2c
import a3c
import actor as actor_lib
import checkpoints
import cluster as cluster_lib
import distributed
import learner as learner_lib
import levels as levels_lib
import population
import py_process
import test_results

FLAGS = config_lib.FLAGS
nest = tf.nest


TrainingGraph = collections.namedtuple(
    'TrainingGraph', 'agent actor_outputs queue enqueue_ops stage_op outputs')


def build_training(config):
  """The single-machine graph: actors and the queue on the CPU, the learner
  on its devices (learner.py). Also timed by benchmarks/throughput.py."""
  with tf.device(learner_lib.HOST_DEVICE), \
      learner_lib.variables_on(learner_lib.HOST_DEVICE):
    agent = actor_lib.make_agent(config)
    actor_outputs, _ = actor_lib.build_actors(agent, config, config.num_actors)
    queue = learner_lib.make_queue(actor_outputs[0])
    enqueue_ops = [queue.enqueue_many(nest.flatten(output))
                   for output in actor_outputs]
    structure = nest.map_structure(lambda t: None, actor_outputs[0])
    stage_op, outputs = learner_lib.build_learner_from_queue(
        agent, queue, structure, config)
  return TrainingGraph(agent, actor_outputs, queue, enqueue_ops, stage_op,
                       outputs)


def train(config, logdir):
  """Single-machine training: actor threads, the queue and the learner;
  or the baselines of --agent (a3c.py, a2c.py) with the same learner loop."""
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(config.seed)
    run_steps, num_threads = None, config.num_actors
    if config.agent == 'impala':
      graph = build_training(config)
      tf.compat.v1.train.add_queue_runner(
          tf.compat.v1.train.QueueRunner(graph.queue, graph.enqueue_ops))
      stage_op, outputs = graph.stage_op, graph.outputs
    elif config.agent == 'a3c':
      graph = a3c.build_workers(config)
      stage_op, outputs = graph.stage_op, None
      run_steps = a3c.make_run_steps(graph.workers, config.stop_frames)
      num_threads = len(graph.workers)
    else:
      _, stage_op, outputs = a2c.build_training(config)
    learner_lib.run_learner(
        config, logdir, stage_op, outputs,
        hooks=[py_process.PyProcessHook()] +
        population.member_hooks(config, logdir),
        session_config=learner_lib.session_config(num_threads, config),
        run_steps=run_steps)


def build_test(config):
  """The test-mode graph: (agent, actor outputs, level names, frame counter).

  As in training (build_training), the actors, their variables and the
  environments' ops are pinned to the CPU, also where there is a GPU."""
  with tf.device(learner_lib.HOST_DEVICE), \
      learner_lib.variables_on(learner_lib.HOST_DEVICE):
    agent = actor_lib.make_agent(config)
    actor_outputs, level_names = actor_lib.build_actors(
        agent, config, len(config.level_set.levels), is_test=True)
    num_env_frames = tf.compat.v1.train.get_or_create_global_step()
  return agent, actor_outputs, level_names, num_env_frames


def test(config, logdir):
  """Evaluates the latest checkpoint; writes <logdir>/test_results.json."""
  checkpoint = checkpoints.prepare_resume(logdir)
  if checkpoint is None:
    raise checkpoints.LogdirError('--mode=test: no checkpoint in --logdir=%s.'
                                  % logdir)
  level_set = config.level_set
  # One single-environment actor per level, so that each level's episodes
  # are consecutive games of one environment (no bias to short episodes).
  config = config._replace(envs_per_actor=1, unroll_length=100)
  test_levels = [levels_lib.evaluation_level(l) for l in level_set.levels]
  with tf.Graph().as_default():
    agent, actor_outputs, level_names, num_env_frames = build_test(config)
    saver = tf.compat.v1.train.Saver(
        agent.variables + (num_env_frames,))
    returns = {level: [] for level in test_levels}
    lock = threading.Lock()
    with tf.compat.v1.train.MonitoredSession(
        session_creator=tf.compat.v1.train.ChiefSessionCreator(
            scaffold=tf.compat.v1.train.Scaffold(saver=saver),
            checkpoint_filename_with_path=checkpoint,
            config=learner_lib.session_config(len(actor_outputs))),
        hooks=[py_process.PyProcessHook()]) as session:
      frames = int(session.run(num_env_frames))
      logging.info('Testing the checkpoint at frame %d: %d episodes on each '
                   'of %d levels%s.', frames, config.test_num_episodes,
                   len(test_levels), ', up to %d no-ops at the start of each '
                   'game' % config.noop_max if level_set.domain == 'atari'
                   else '')

      def run_level(actor_output, level):
        raw = session._tf_sess()  # pylint: disable=protected-access
        while len(returns[level]) < config.test_num_episodes:
          output = raw.run(actor_output)
          info = output.env_outputs.info
          for t in np.nonzero(info.game_over[0, 1:])[0]:
            with lock:
              if len(returns[level]) < config.test_num_episodes:
                returns[level].append(
                    float(info.episode_return[0, t + 1]))
                logging.info('%s: episode %d return %.1f', level,
                             len(returns[level]),
                             info.episode_return[0, t + 1])

      threads = [threading.Thread(target=run_level, args=(o, names[0]))
                 for o, names in zip(actor_outputs, level_names)]
      for thread in threads:
        thread.start()
      for thread in threads:
        thread.join()

  agent = dict(network=config.network, core=config.core,
               multitask=level_set.multitask)
  if config.agent != 'impala':  # The paper's baselines (docs/baselines.md).
    agent['architecture'] = config.agent
  if os.path.exists(os.path.join(logdir, population.REQUEST_FILE)):
    agent['pbt'] = True  # A member of a pbt.py population.
  results = test_results.make_test_results(
      level_set.name, level_set.domain, agent, frames, returns)
  path = os.path.join(logdir, 'test_results.json')
  test_results.write_test_results(path, results)
  print_test_table(results)
  logging.info('Wrote %s', path)
  return results


def print_test_table(results):
  lines = ['%-45s %8s %10s %10s' % ('level', 'episodes', 'mean', 'HNS %')]
  for level, entry in results['levels'].items():
    hns = entry.get('human_normalized_score')
    lines.append('%-45s %8d %10s %10s' % (
        level, len(entry['episode_returns']),
        '-' if entry['mean'] is None else '%.2f' % entry['mean'],
        '-' if hns is None else '%.1f' % hns))
  if results.get('suite'):
    suite = results['suite']
    lines.append('%s: %s over %d levels' % (
        suite['metric'], 'n/a' if suite['value'] is None else
        '%.1f' % suite['value'], suite['num_levels']))
  print('\n'.join(lines))


def main(argv):
  del argv
  console.quiet_tensorflow_logger(FLAGS.verbosity)
  try:
    distributed.apply_engine()
    config = config_lib.resolve_config()
    config_lib.check_logdir(FLAGS.logdir)
    config_lib.check_memory(config)
  except cluster_lib.ClusterError as e:
    sys.exit('distributed: error: %s' % e)
  except (ValueError, ImportError) as e:
    sys.exit('experiment.py: error: %s' % e)
  suggestion = config_lib.small_machine_suggestion(
      FLAGS.level_name, FLAGS.agent, os.cpu_count() or 1,
      {name for name in FLAGS if FLAGS[name].present})
  if suggestion and FLAGS.mode == 'train' and FLAGS.task < 0:
    logging.info(suggestion)
  try:
    if FLAGS.task >= 0:
      distributed.run(config, FLAGS.logdir)
    elif FLAGS.mode == 'train':
      train(config, FLAGS.logdir)
    else:
      test(config, FLAGS.logdir)
  except checkpoints.LogdirError as e:
    sys.exit('experiment.py: error: %s' % e)


if __name__ == '__main__':
  app.run(main, flags_parser=console.parse_flags)