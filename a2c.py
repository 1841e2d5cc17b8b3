# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Batched A2C, synchronous (paper Table 1's "Batched A2C" rows).

    python experiment.py --agent=a2c_sync_step --level_name=catch
    python experiment.py --agent=a2c_sync_traj --level_name=catch

One update after every unroll, on exactly the trajectories of the current
parameters: the actors' unrolls and the update are one `session.run`, the
update consuming the actors' outputs directly (no queue, no StagingArea),
so the behaviour policy is the learner's (no policy lag; the importance
weights are all 1) and the batch is every environment's trajectory
(`--num_actors` x `--envs_per_actor`). The targets are the on-policy n-step
returns (the `none` correction, config.py) and the update is the learner's
(learner.build_learner: the same losses, clipping and RMSProp).

- `a2c_sync_step`: one actor steps all the environments with one batched
  inference per step: every environment waits for the others at every step.
- `a2c_sync_traj`: `--num_actors` actors, each stepping its own
  `--envs_per_actor` environments with its own batched inference, run in
  parallel (TensorFlow runs the independent unrolls concurrently); the update
  waits for every trajectory, then all start the next unroll with the new
  parameters.
"""

import tensorflow as tf

import actor as actor_lib
import learner as learner_lib

nest = tf.nest


def build_actor_outputs(agent, config):
  """The unrolls of one synchronous step, joined: one batch-major
  ActorOutput of every environment's trajectory (in environment order)."""
  if config.agent == 'a2c_sync_step':
    num_envs = config.num_actors * config.envs_per_actor
    outputs, _ = actor_lib.build_actors(
        agent, config._replace(num_actors=1, envs_per_actor=num_envs), 1)
  else:
    outputs, _ = actor_lib.build_actors(agent, config, config.num_actors)
  return nest.map_structure(lambda *t: tf.concat(t, 0), *outputs)


def build_training(config, replica_fn=learner_lib.replica_gradients):
  """The graph of a synchronous A2C run: (agent, stage_op, LearnerOutputs);
  running the outputs' frame counter unrolls every environment once and
  updates on those trajectories. `stage_op` does nothing (no StagingArea).
  """
  with tf.device(learner_lib.HOST_DEVICE), \
      learner_lib.variables_on(learner_lib.HOST_DEVICE):
    agent = actor_lib.make_agent(config)
    data = learner_lib.make_time_major(build_actor_outputs(agent, config))
    outputs = learner_lib.build_learner(agent, data, config, replica_fn)
    stage_op = tf.no_op()
  return agent, stage_op, outputs
