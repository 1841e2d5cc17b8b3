# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""A3C: asynchronous advantage actor-critic (Mnih et al. 2016), paper Table 1.

    python experiment.py --agent=a3c --level_name=catch

N = `--num_actors` x `--envs_per_actor` workers, threads of this process
running one graph in one session, each with one environment of its own and a
local copy of the agent's parameters (local variables: never checkpointed).
A worker copies the shared parameters into its copy, unrolls it for
`unroll_length` steps, computes the on-policy n-step actor-critic gradient of
its own trajectory with respect to its copy (learner.build_learner's losses
with the `none` correction: behaviour = target policy, bootstrapped n-step
returns, baseline and entropy terms of section 4.2 with the same costs) and
applies it to the shared parameters without a lock (Hogwild), through one
RMSProp optimizer whose slots all workers share. Each update adds the
worker's frames to the one frame counter, so the global frame count is the
sum of the workers'; the learning rate anneals on it and the gradient is
clipped as in the learner. Progress, checkpoints and resume are the
learner's (learner.run_learner with this module's `run_steps`).
"""

import collections
import threading
import time

import tensorflow as tf

import actor as actor_lib
import learner as learner_lib

# A worker: `sync_op` copies the shared parameters into its local copy;
# running `outputs` (LearnerOutputs) unrolls the copy and updates the shared
# parameters with its gradient.
Worker = collections.namedtuple('Worker', 'agent sync_op outputs')
WorkerGraph = collections.namedtuple('WorkerGraph', 'agent workers stage_op')

# Seconds between the main thread's runs of the monitored session, which
# drive its hooks (checkpoints, environment processes) while workers run.
HOOK_INTERVAL_SECS = 0.5


def num_workers(config):
  return config.num_actors * config.envs_per_actor


def build_workers(config, replica_fn=learner_lib.replica_gradients):
  """The shared agent and the workers' graphs: WorkerGraph."""
  worker_config = config._replace(num_actors=num_workers(config),
                                  envs_per_actor=1)
  workers = []
  with tf.device(learner_lib.HOST_DEVICE), \
      learner_lib.variables_on(learner_lib.HOST_DEVICE):
    shared = actor_lib.make_agent(config)
    hyperparameters = learner_lib.hyperparameter_variables(config)
    optimizer = None
    for i in range(num_workers(config)):
      with tf.name_scope('worker_%d' % i):
        with actor_lib.local_variables():
          local = actor_lib.make_agent(config, name='worker_%d_agent' % i)
          (output,), _ = actor_lib.build_actors(local, worker_config, 1,
                                                first_actor=i)
        data = learner_lib.make_time_major(output)
        if optimizer is None:
          # Creates the shared variables (this unroll never runs) and the
          # one optimizer.
          shared.unroll(data.agent_outputs.action, data.env_outputs,
                        data.agent_state)
          optimizer = learner_lib.make_optimizer(config, hyperparameters)
        sync_op = actor_lib.copy_policy(local, shared)
        outputs = learner_lib.build_learner(
            local, data, config, replica_fn, optimizer=optimizer,
            variables=shared.trainable_variables)
        workers.append(Worker(local, sync_op, outputs))
  return WorkerGraph(shared, workers, tf.no_op())


def run_worker(session, worker, total_frames, report, stop):
  """A worker's loop: copy, unroll and update, until the frame budget.

  `report(learner_outputs) -> frames` records one update (under a lock)."""
  frames = 0
  while frames < total_frames and not stop.is_set():
    session.run(worker.sync_op)
    frames = report(session.run(worker.outputs))


def make_run_steps(workers, total_frames):
  """learner.run_learner's `run_steps` for the workers: a thread each; the
  main thread runs the monitored session so that its hooks run."""
  def run_steps(session, progress, stop, frames):
    raw = session._tf_sess()  # pylint: disable=protected-access
    lock = threading.Lock()
    state = dict(frames=frames)
    errors = []
    finish = threading.Event()

    def report(outputs):
      with lock:
        state['frames'] = max(state['frames'], int(outputs.num_env_frames))
        progress.add(outputs, state['frames'])
        return state['frames']

    def work(worker):
      try:
        run_worker(raw, worker, total_frames, report, finish)
      except Exception as e:  # pylint: disable=broad-except
        errors.append(e)
        finish.set()

    threads = [threading.Thread(target=work, args=(w,), name='a3c_%d' % i)
               for i, w in enumerate(workers)]
    for thread in threads:
      thread.start()
    global_step = tf.compat.v1.train.get_global_step()
    try:
      while any(thread.is_alive() for thread in threads):
        if stop.is_set():
          finish.set()
        session.run(global_step)  # Checkpoint and other hooks.
        time.sleep(HOOK_INTERVAL_SECS)
    finally:
      finish.set()
      for thread in threads:
        thread.join()
    if errors:
      raise errors[0]
    return state['frames']

  return run_steps
