# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Where the time goes: actors or learner, measured while training.

IMPALA decouples acting from learning (paper section 3): throughput is set
by the slower side. Three figures, measured continuously with `tf.timestamp`
ops in the graphs (a few microseconds per step) and no extra session call:

- the learner's wall time split into *waiting* for a batch and *computing*:
  in one learner step (`session.run`) the update on the staged batch and the
  dequeue of the next batch into the StagingArea run side by side; the
  learner waited for as long as the dequeue finished after the update
  (`staged_at - computed_at`, clipped to the step), and computed the rest of
  the step. The loop's own Python time is the remainder of the wall time.
- the actors' time per step split into *inference* (the agent's forward
  pass, including reading the weights) and *environments* (the batched
  step of the child processes), summed inside the actor's `tf.scan`; the
  rest of an actor's wall time (between the ends of its unrolls) is
  *waiting*: mostly blocked on a full queue, plus the unroll's bookkeeping.
- the queue's *fill*: its size over its capacity, sampled at every learner
  step.

`diagnose` names the bottleneck when one side is clearly it:
- the learner waits for batches at least `LEARNER_IDLE` (50%) of the time:
  the actors are the bottleneck;
- the learner computes at least `LEARNER_BUSY` (90%) of the time and the
  actors wait at least `ACTORS_BLOCKED` (50%) of theirs (when their times
  are unknown, in distributed mode, the queue is at least `QUEUE_FULL` (50%)
  full): the learner is the bottleneck.
Otherwise both sides are busy and it says nothing.
"""

import collections

import numpy as np
import tensorflow as tf

nest = tf.nest

# Graph collections (of tensors, which checkpoints' meta graphs can hold)
# through which actor.py and learner.py expose their
# probes, so that the learner's loop finds them without new arguments.
ACTOR_TIMES = 'impala_actor_times'
QUEUE_FILLS = 'impala_queue_fills'

LEARNER_IDLE = .5
LEARNER_BUSY = .9
ACTORS_BLOCKED = .5
QUEUE_FULL = .5

# One actor's float64 local variables: seconds spent in inference, in
# environments and in all (wall: the time between the ends of its unrolls,
# so that the rest is the time between unrolls, mostly enqueueing), summed
# since its start; and the time its last unroll ended.
ActorTimes = collections.namedtuple(
    'ActorTimes', 'inference environment wall unroll_end')

# What the learner's loop fetches with every step.
LearnerProbes = collections.namedtuple(
    'LearnerProbes', 'staged_at computed_at queue_fill actor_times')

# One learner step: the probes' values and the loop's clock around the run.
StepTimes = collections.namedtuple('StepTimes', 'start end probes')

# Fractions of a period's wall time; the actors' are None when unknown.
Figures = collections.namedtuple(
    'Figures', 'wall_secs learner_waiting learner_computing queue_fill '
    'actor_inference actor_environment actor_waiting')


def timestamp_after(tensors):
  """tf.timestamp() (seconds, float64) once `tensors` are computed."""
  with tf.control_dependencies(nest.flatten(tensors)):
    return tf.timestamp()


def create_actor_times():
  """One actor's ActorTimes variables; their reads (inference, environment,
  wall) go to the graph's ACTOR_TIMES collection. Local variables: never
  checkpointed."""
  with tf.compat.v1.variable_scope(None, default_name='actor_times'):
    times = ActorTimes(*[
        tf.compat.v1.get_local_variable(
            name, initializer=tf.constant(0., tf.float64), use_resource=True)
        for name in ActorTimes._fields])
  tf.compat.v1.add_to_collection(ACTOR_TIMES, tf.stack(
      [times.inference.read_value(), times.environment.read_value(),
       times.wall.read_value()]))
  return times


def add_actor_times(times, inference_secs, environment_secs):
  """The op adding one unroll to an actor's ActorTimes.

  Args:
    times: ActorTimes.
    inference_secs, environment_secs: [T] durations of the unroll's steps.
  """
  inference = tf.reduce_sum(inference_secs)
  environment = tf.reduce_sum(environment_secs)
  end = timestamp_after([inference, environment])
  last_end = times.unroll_end.read_value()
  # The first unroll's wall time is its steps' time.
  wall = tf.where(last_end > 0., end - last_end, inference + environment)
  with tf.control_dependencies([wall]):
    return tf.group(times.inference.assign_add(inference),
                    times.environment.assign_add(environment),
                    times.wall.assign_add(wall), times.unroll_end.assign(end))


def watch_queue(queue, capacity):
  """Registers a trajectory queue whose fill the learner reports."""
  tf.compat.v1.add_to_collection(
      QUEUE_FILLS, tf.cast(queue.size(), tf.float32) / capacity)


def learner_probes(stage_op, trained):
  """The probes of one learner step, from the graph's collections.

  Args:
    stage_op: the op that stages the next batch.
    trained: a tensor computed after the update (the frame counter).

  Returns:
    LearnerProbes: timestamps after staging and after the update; the
    queues' mean fill (-1 without a queue); the actors' times (inference,
    environment, wall) as an [N, 3] float64 tensor (N = 0 when the actors
    run in other processes).
  """
  fills = tf.compat.v1.get_collection(QUEUE_FILLS)
  return LearnerProbes(
      staged_at=timestamp_after([stage_op]),
      computed_at=timestamp_after([trained]),
      queue_fill=tf.reduce_mean(fills) if fills else tf.constant(-1.),
      actor_times=read_actor_times())


def read_actor_times():
  """The graph's actors' (inference, environment, wall) seconds, [N, 3]."""
  times = tf.compat.v1.get_collection(ACTOR_TIMES)
  return tf.stack(times) if times else tf.zeros([0, 3], tf.float64)


def actor_split(times_then, times_now):
  """(inference, environment, waiting): shares of the actors' wall time
  between two reads of `read_actor_times` ([N, 3]); they add up to 1.
  (None,) * 3 if no unroll ended in between."""
  inference, environment, wall = np.sum(
      np.asarray(times_now, np.float64) - times_then, axis=0)
  if wall <= 0:
    return None, None, None
  return (inference / wall, environment / wall,
          max(0., 1. - (inference + environment) / wall))


def learner_split(step):
  """(waiting, computing) seconds of one StepTimes; they add up to its run.

  The update and the next batch's dequeue run side by side: the learner
  waited for as long as the dequeue finished after the update.
  """
  duration = step.end - step.start
  waiting = float(np.clip(step.probes.staged_at - step.probes.computed_at,
                          0., duration))
  return waiting, duration - waiting


class Window:
  """Sums of one period: the learner's steps and the actors' times."""

  def __init__(self, start, actor_times=None):
    self._start = start
    self._actor_times_at_start = actor_times
    self._actor_times = actor_times
    self._waiting = self._computing = 0.
    self._fills = []

  def add(self, step):
    waiting, computing = learner_split(step)
    self._waiting += waiting
    self._computing += computing
    probes = step.probes
    if probes.queue_fill >= 0:
      self._fills.append(float(probes.queue_fill))
    if len(probes.actor_times):
      self._actor_times = np.asarray(probes.actor_times, np.float64)
      if self._actor_times_at_start is None:  # Counted from the actors' start.
        self._actor_times_at_start = np.zeros_like(self._actor_times)

  def figures(self, now):
    """Figures of the period from the window's start to `now`."""
    wall = max(now - self._start, 1e-9)
    actor = (None, None, None)
    if self._actor_times is not None:
      actor = actor_split(self._actor_times_at_start, self._actor_times)
    return Figures(wall, self._waiting / wall, self._computing / wall,
                   float(np.mean(self._fills)) if self._fills else None,
                   *actor)

  def next(self, now):
    """A window starting at `now`, where this one ends."""
    return Window(now, self._actor_times)


def diagnose(figures):
  """One line naming the bottleneck, or None when neither side clearly is."""
  f = figures
  known_actors = f.actor_waiting is not None
  if f.learner_waiting >= LEARNER_IDLE:
    where = ''
    if known_actors:
      where = (' (they spend %.0f%% of their time in environments, %.0f%% '
               'in inference)' % (100 * f.actor_environment,
                                  100 * f.actor_inference))
    return ('learner idle %.0f%% of the time: the actors are the '
            'bottleneck%s; more --num_actors or --envs_per_actor would help.'
            % (100 * f.learner_waiting, where))
  if f.learner_computing >= LEARNER_BUSY:
    if known_actors and f.actor_waiting >= ACTORS_BLOCKED:
      why = ('the actors wait %.0f%% of theirs for room in the queue' %
             (100 * f.actor_waiting))
    elif (not known_actors and f.queue_fill is not None and
          f.queue_fill >= QUEUE_FULL):
      why = 'the queue is %.0f%% full' % (100 * f.queue_fill)
    else:
      return None
    return ('learner busy %.0f%% of the time and %s: the learner is the '
            'bottleneck; more actors would not help, a faster learner '
            '(a GPU, or fewer actors leaving it CPU cores) would.' %
            (100 * f.learner_computing, why))
  return None
