# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The cluster: one learner process and N actor processes (paper section 3).

    # One machine: the learner and 2 actors as processes; Ctrl-C stops all.
    python distributed.py --level_name=catch --num_actors=2 --logdir=/tmp/d

    # Several machines: the same flags everywhere, plus the job and task.
    python experiment.py --job_name=learner --task=0 --num_actors=2 \\
        --learner_address=10.0.0.1:8000 --actor_hosts=10.0.0.2,10.0.0.3
    python experiment.py --job_name=actor --task=1 --num_actors=2 \\
        --learner_address=10.0.0.1:8000 --actor_hosts=10.0.0.2,10.0.0.3

TensorFlow's gRPC runtime links the processes (`tf.compat.v1.train.Server`
with a `ClusterSpec` of job 'learner', one task, and job 'actor',
`num_actors` tasks); there is no RPC code here. As in the release:
- the learner hosts, on its CPU, the agent's variables (actors read them
  at every step; from the CPU that is cheap), the global frame counter and
  the trajectory queue (a shared-name FIFOQueue);
- each actor process builds its actor graph against those variables and
  enqueues its trajectories to the learner's queue; actor N plays levels
  round-robin from environment N x envs_per_actor on
  (actor.create_environments), so actor N with one environment each
  plays `levels[N % len(levels)]`;
- only the learner writes checkpoints, summaries and progress.csv
  (learner.run_learner); actors log their own frames/s.
Sessions see only the learner and their own task (`device_filters`), so no
process waits for, or talks to, another actor.

Faults. An actor that dies costs the learner only its trajectories; a
restarted actor with the same task id rejoins. An actor that loses the
learner, or starts before it, waits and reconnects with backoff; a
restarted learner resumes from its latest checkpoint, frame counter
included. When the learner reaches `--total_environment_frames` it closes
the queue and actors exit; when it is stopped early (Ctrl-C, SIGTERM) it
writes a checkpoint and actors wait for its return. A busy port, a task id
outside the cluster, or processes started with different clusters are
errors at start, each one line (the cluster's addresses and checks:
cluster.py).

Security: the gRPC runtime has no authentication or encryption and TF's
server listens on every interface at its port: run it on a trusted
network only.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

import console
if __name__ == '__main__':  # Before TensorFlow is imported (console.py).
  console.filter_stderr(sys.argv)
# pylint: disable=g-import-not-at-top,wrong-import-position
import config as config_lib  # Before TensorFlow: it sets its environment.
from absl import app
from absl import logging
import tensorflow as tf

import actor as actor_lib
import bottleneck
import cluster as cluster_lib
import learner as learner_lib
import population
import py_process

nest = tf.nest
FLAGS = config_lib.FLAGS

TRAJECTORY_QUEUE = 'trajectory_queue'
FINISHED_QUEUE = 'finished_actors'
CLUSTER_VARIABLE = 'cluster_description'

# Errors after which an actor reconnects: the learner is gone, restarted or
# not ready yet.
RECONNECT_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError,
                    tf.errors.DeadlineExceededError,
                    tf.errors.FailedPreconditionError)
MAX_BACKOFF_SECS = 10.
# Seconds a finished learner keeps serving so that actors see the end.
FINISH_WAIT_SECS = 30.
# Seconds a stopping learner waits for its current step before closing the
# queue under it (a step blocked on an empty queue would never end).
STOP_GRACE_SECS = 5.


# ---------------------------------------------------------------------------
# What the learner hosts for the actors.


def _cluster_variable(cluster, on_learner):
  """The learner's cluster description, hosted on the learner.

  The learner initialises it (a local variable: never checkpointed); actors
  declare the same variable in no collection, so they never initialise it,
  and read it to check that they agree with the learner.
  """
  collections = [tf.compat.v1.GraphKeys.LOCAL_VARIABLES] if on_learner else []
  return tf.compat.v1.Variable(
      cluster_lib.describe(cluster), trainable=False, collections=collections,
      use_resource=True, name=CLUSTER_VARIABLE)


def _finished_queue(num_actors):
  """Actors put their task id here when they see that training is over."""
  return tf.queue.FIFOQueue(max(4 * num_actors, 16), [tf.int32], [[]],
                            shared_name=FINISHED_QUEUE, name=FINISHED_QUEUE)


def trajectory_specs(config):
  """tf.TensorSpec nest of one actor's ActorOutput (batch-major [K, ...])."""
  with tf.Graph().as_default():  # Throwaway; its environments never start.
    agent = actor_lib.make_agent(config)
    (output,), _ = actor_lib.build_actors(agent, config, 1)
    return nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype),
                              output)


# ---------------------------------------------------------------------------
# Learner.


class _SideSession:
  """A second session on the learner's graph, for the queue and the counter.

  Thread-safe; created at first use (from any thread: the graph is given).
  """

  def __init__(self, target, graph, config):
    self._target, self._graph, self._config = target, graph, config
    self._session = None
    self._lock = threading.Lock()

  def run(self, fetches, timeout_secs=30.):
    with self._lock:
      if self._session is None:
        self._session = tf.compat.v1.Session(
            self._target, graph=self._graph, config=self._config)
      return self._session.run(fetches, options=tf.compat.v1.RunOptions(
          timeout_in_ms=int(timeout_secs * 1000)))

  def close(self):
    with self._lock:
      if self._session is not None:
        self._session.close()
        self._session = None


@contextlib.contextmanager
def _unblock_on_signals(unblock):
  """Calls `unblock()` if a SIGINT/SIGTERM is not handled within
  STOP_GRACE_SECS.

  Python runs signal handlers in the main thread between bytecodes, so
  run_learner's clean stop waits for its current `session.run`; one blocked
  on an empty queue (no actor left) would wait forever. The signal's wake-up
  byte reaches this watcher at once.
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  reader, writer = socket.socketpair()
  writer.setblocking(False)
  done = threading.Event()

  def watch():
    try:
      while reader.recv(1):
        if done.wait(STOP_GRACE_SECS):
          return
        logging.info('Stopping: closing the trajectory queue to end the '
                     'learner\'s current step.')
        unblock()
    except OSError:
      pass

  previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
  thread = threading.Thread(target=watch, name='learner-stop-watcher',
                            daemon=True)
  thread.start()
  try:
    yield
  finally:
    done.set()
    signal.set_wakeup_fd(previous)
    writer.close()
    reader.shutdown(socket.SHUT_RDWR)
    thread.join(1.)
    reader.close()


def run_learner_task(config, logdir, cluster, server):
  """Trains until the frame budget or a signal; returns the frame count."""
  specs = trajectory_specs(config)
  cpu = cluster_lib.learner_device() + '/cpu:0'
  with tf.Graph().as_default() as graph:
    tf.compat.v1.set_random_seed(config.seed)
    with tf.device(cluster_lib.learner_device()), learner_lib.variables_on(cpu):
      agent = actor_lib.make_agent(config)
      with tf.device(cpu):
        queue = learner_lib.make_queue(specs, shared_name=TRAJECTORY_QUEUE)
        close_queue = queue.close(cancel_pending_enqueues=True)
        finished_size = _finished_queue(config.num_actors).size()
        _cluster_variable(cluster, on_learner=True)
      structure = nest.map_structure(lambda t: None, specs)
      stage_op, outputs = learner_lib.build_learner_from_queue(
          agent, queue, structure, config)
      num_env_frames = tf.compat.v1.train.get_or_create_global_step()
    sess_config = cluster_lib.session_config(cluster_lib.LEARNER_JOB, 0, 0,
                                             config)
    side = _SideSession(server.target, graph, sess_config)
    logging.info('Learner at %s; cluster %s.', cluster.learner,
                 cluster_lib.describe(cluster))
    with _unblock_on_signals(lambda: side.run(close_queue)):
      learner_lib.run_learner(config, logdir, stage_op, outputs,
                             hooks=population.member_hooks(config, logdir),
                             session_config=sess_config,
                             master=server.target)
    frames = int(side.run(num_env_frames))
    # Actors blocked on the queue are released; they read the frame count
    # to tell the end of training from a learner that stops early.
    side.run(close_queue)
    if frames >= config.stop_frames:
      logging.info('Training finished at frame %d; waiting up to %ds for '
                   'the actors to see it.', frames, FINISH_WAIT_SECS)
      deadline = time.monotonic() + FINISH_WAIT_SECS
      while (time.monotonic() < deadline and
             side.run(finished_size) < config.num_actors):
        time.sleep(.2)
    side.close()
  return frames


# ---------------------------------------------------------------------------
# Actor.


class _ActorStopped(Exception):
  pass


@contextlib.contextmanager
def _set_on_signals(event, who):
  """SIGINT and SIGTERM set `event` (main thread only)."""
  def handler(signum, unused_frame):
    logging.info('%s: stopping (%s).', who, signal.Signals(signum).name)
    event.set()

  previous = {s: signal.signal(s, handler)
              for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield event
  finally:
    for signum, h in previous.items():
      signal.signal(signum, h)


def _learner_listening(address, timeout=2.):
  host, port = cluster_lib.parse_address(address, 'learner_address')
  try:
    with socket.create_connection((host, port), timeout=timeout):
      return True
  except OSError:
    return False


def _close_quietly(session):
  """Closes `session` in the background: closing a session whose learner is
  gone waits for that learner."""
  def close():
    try:
      session.close()
    except Exception:  # pylint: disable=broad-except
      pass

  threading.Thread(target=close, name='close-session', daemon=True).start()


class _Actor:
  """One actor task: its graph, and a loop that survives the learner."""

  def __init__(self, config, cluster, task, server, stop):
    self._config, self._cluster, self._task = config, cluster, task
    self._server, self._stop = server, stop
    self._graph = tf.Graph()
    with self._graph.as_default():
      # Actors sample actions with their own seeds.
      tf.compat.v1.set_random_seed(config.seed * 1009 + task + 1)
      learner_cpu = cluster_lib.learner_device() + '/cpu:0'
      with tf.device(cluster_lib.actor_device(task) + '/cpu:0'):
        with learner_lib.variables_on(learner_cpu):
          agent = actor_lib.make_agent(config)  # The learner's policy.
        # This actor's own copy of it, updated at the start of each unroll
        # (paper section 3): one read over gRPC per unroll, not per step.
        with actor_lib.local_variables():
          policy = actor_lib.make_agent(config, name='actor_policy')
          (output,), (self._level_names,) = actor_lib.build_actors(
              policy, config, 1, first_actor=task)
        with learner_lib.variables_on(learner_cpu):
          data = learner_lib.make_time_major(output)
          # Creates the learner's variables in this graph (never runs).
          agent.unroll(data.agent_outputs.action, data.env_outputs,
                       data.agent_state)
          self._copy_policy = actor_lib.copy_policy(policy, agent)
          self._num_env_frames = (
              tf.compat.v1.train.get_or_create_global_step())
        self._times = bottleneck.read_actor_times()
        with tf.device(learner_cpu):
          queue = learner_lib.make_queue(output, shared_name=TRAJECTORY_QUEUE)
          self._enqueue = queue.enqueue_many(nest.flatten(output))
          self._finished = _finished_queue(config.num_actors).enqueue(task)
          self._learner_cluster = _cluster_variable(
              cluster, on_learner=False).read_value()
        self._not_ready = tf.compat.v1.report_uninitialized_variables(
            tf.compat.v1.global_variables())
        self._local_init = tf.compat.v1.local_variables_initializer()
    self._graph.finalize()
    self._session_config = cluster_lib.session_config(
        cluster_lib.ACTOR_JOB, task, 1, config)
    self._frames_per_unroll = (config.envs_per_actor * config.unroll_length *
                               config.num_action_repeats)

  def _wait(self, secs):
    if self._stop.wait(secs):
      raise _ActorStopped()

  def _connect(self):
    """A session with the learner ready and agreeing on the cluster."""
    backoff, said = .5, set()

    def say(key, message, *args):
      if key not in said:
        said.add(key)
        logging.info('actor %d: ' + message, self._task, *args)

    while True:
      if self._stop.is_set():
        raise _ActorStopped()
      if not _learner_listening(self._cluster.learner):
        say('listen', 'waiting for the learner at %s.', self._cluster.learner)
        self._wait(backoff)
        backoff = min(2 * backoff, MAX_BACKOFF_SECS)
        continue
      session = tf.compat.v1.Session(self._server.target, graph=self._graph,
                                     config=self._session_config)
      try:
        not_ready = session.run(self._not_ready)
        if not_ready.size:
          say('ready', 'waiting for the learner to initialise its variables.')
          raise tf.errors.FailedPreconditionError(None, None, 'not ready')
        learner_cluster = session.run(self._learner_cluster).decode()
        if learner_cluster != cluster_lib.describe(self._cluster):
          raise cluster_lib.ClusterError(
              'actor %d: the learner at %s runs the cluster %s but this actor '
              '%s: start every process with the same --num_actors, '
              '--learner_address, --actor_hosts and --actor_base_port.' %
              (self._task, self._cluster.learner, learner_cluster,
               cluster_lib.describe(self._cluster)))
        session.run(self._local_init)
      except RECONNECT_ERRORS as e:
        _close_quietly(session)
        say(type(e).__name__, 'learner not ready (%s); retrying.',
            type(e).__name__)
        self._wait(backoff)
        backoff = min(2 * backoff, MAX_BACKOFF_SECS)
        continue
      except BaseException:
        _close_quietly(session)
        raise
      logging.info('actor %d: connected to the learner at %s; playing %s.',
                   self._task, self._cluster.learner,
                   ', '.join(sorted(set(self._level_names))))
      return session

  def run(self):
    """Enqueues trajectories until stopped or training is over."""
    processes = py_process.graph_processes(self._graph)
    py_process.start_all(processes)
    session = None
    frames, last_frames, last_time = 0, 0, time.time()
    backoff, closed = .5, False
    try:
      while not self._stop.is_set():
        if session is None:
          session = self._connect()
          last_times = 0.  # Its local variables start again from 0.
        try:
          session.run(self._copy_policy)
          _, times = session.run((self._enqueue, self._times))
        except tf.errors.CancelledError:  # The learner closed the queue.
          try:
            learner_frames = int(session.run(self._num_env_frames))
            if learner_frames >= self._config.stop_frames:
              session.run(self._finished)
              logging.info('actor %d: training finished at frame %d.',
                           self._task, learner_frames)
              return frames
          except RECONNECT_ERRORS + (tf.errors.CancelledError,):
            pass
          # It stopped early: wait until it is gone (the next run fails and
          # this actor reconnects) or back with an open queue.
          if not closed:
            logging.info('actor %d: the learner is stopping; waiting for '
                         'it.', self._task)
          closed = True
          self._wait(backoff)
          backoff = min(2 * backoff, MAX_BACKOFF_SECS)
          continue
        except RECONNECT_ERRORS as e:
          logging.info('actor %d: lost the learner (%s: %s); reconnecting.',
                       self._task, type(e).__name__,
                       str(e.message).split('\n')[0][:200])
          _close_quietly(session)
          session = None
          continue
        backoff, closed = .5, False
        frames += self._frames_per_unroll
        now = time.time()
        if now - last_time >= self._config.log_interval_secs:
          split = bottleneck.actor_split(last_times, times)
          logging.info(
              'actor %d: frames %d  fps %.0f%s', self._task, frames,
              (frames - last_frames) / (now - last_time),
              '' if split[0] is None else
              '  time in inference %.0f%%, environments %.0f%%, waiting '
              '%.0f%%' % tuple(100 * share for share in split))
          last_frames, last_time, last_times = frames, now, times
    except _ActorStopped:
      pass
    finally:
      if session is not None:
        _close_quietly(session)
      py_process.close_all(processes)
    return frames


def run_actor_task(config, cluster, task, server):
  """Runs the actor in a thread; this (main) thread handles signals.

  A session can block for as long as the learner is away; signals must
  still stop the actor.
  """
  stop = threading.Event()
  actor = _Actor(config, cluster, task, server, stop)
  result = {}

  def target():
    try:
      result['frames'] = actor.run()
    except BaseException as e:  # pylint: disable=broad-except
      result['error'] = e

  thread = threading.Thread(target=target, name='actor', daemon=True)
  with _set_on_signals(stop, 'actor %d' % task):
    thread.start()
    while thread.is_alive() and not stop.is_set():
      thread.join(.2)
    thread.join(STOP_GRACE_SECS)
  code = 0
  if thread.is_alive():  # Blocked in a session.run on a lost learner.
    logging.info('actor %d: stopped while waiting for the learner.', task)
  elif isinstance(result.get('error'), cluster_lib.ClusterError):
    code = 'distributed: error: %s' % result['error']
  elif 'error' in result:
    code = 1
    logging.error('actor %d failed.', task)
    traceback.print_exception(result['error'])
  else:
    logging.info('actor %d: stopped after %d frames.', task,
                 result['frames'])
  # Exit now: TensorFlow's server and sessions still closing in the
  # background must not run into the interpreter's shutdown.
  if isinstance(code, str):
    print(code, file=sys.stderr)
    code = 1
  logging.flush()
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access


# ---------------------------------------------------------------------------
# Entry points.


ENGINE_FLAGS = ('job_name', 'task', 'learner_address', 'actor_hosts',
                'num_actors')


def apply_engine(environ=None):
  """Sets the flags of the role and the cluster that the engine (TF_CONFIG,
  SLURM) gives this process, where not given on the command line.

  Call before config.resolve_config. Raises cluster.ClusterError.
  """
  engine = cluster_lib.engine_role(
      os.environ if environ is None else environ, FLAGS.slurm_base_port)
  given = {name: FLAGS[name].value for name in ENGINE_FLAGS
           if FLAGS[name].present}
  values = cluster_lib.resolve_role(engine, given)
  for name, value in values.items():
    FLAGS[name].value = value
  if values:
    logging.info('%s: this process is %s %d; the learner is at %s.',
                 engine.source, FLAGS.job_name, FLAGS.task,
                 FLAGS.learner_address)


def cluster_from_flags(config):
  return cluster_lib.make_cluster(FLAGS.learner_address, FLAGS.actor_hosts,
                      FLAGS.actor_base_port, config.num_actors)


def _stop_with_launcher():
  """A task started by the launcher stops (SIGTERM to itself) if the
  launcher dies without stopping it."""
  launcher = os.environ.pop(LAUNCHER_PID_VARIABLE, None)
  if not launcher:
    return

  def watch():
    while os.getppid() == int(launcher):
      time.sleep(1.)
    logging.warning('The launcher (pid %s) is gone: stopping.', launcher)
    os.kill(os.getpid(), signal.SIGTERM)

  threading.Thread(target=watch, name='launcher-watchdog', daemon=True).start()


def run(config, logdir):
  """Runs this process's task: `--job_name` and `--task` of the cluster."""
  _stop_with_launcher()
  try:
    if FLAGS.mode != 'train':
      raise cluster_lib.ClusterError(
          '--mode=%s runs on one machine: leave out --task.' % FLAGS.mode)
    cluster = cluster_from_flags(config)
    cluster_lib.check_task(FLAGS.job_name, FLAGS.task, cluster)
    # The learner's server runs the actors' reads of the variables and
    # their enqueues beside the learner's steps: threads for each actor,
    # as on one machine.
    server = cluster_lib.start_server(
        FLAGS.job_name, FLAGS.task, cluster,
        cluster_lib.session_config(
            FLAGS.job_name, FLAGS.task,
            config.num_actors if FLAGS.job_name == cluster_lib.LEARNER_JOB
            else 1, config))
  except cluster_lib.ClusterError as e:
    sys.exit('distributed: error: %s' % e)
  if FLAGS.job_name == cluster_lib.LEARNER_JOB:
    run_learner_task(config, logdir, cluster, server)
  else:
    run_actor_task(config, cluster, FLAGS.task, server)


# The launcher: every task of the cluster as a process of this machine.

EXPERIMENT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 'experiment.py')
LAUNCHER_PID_VARIABLE = 'IMPALA_LAUNCHER_PID'
LEARNER_STOP_SECS = 120.
ACTOR_STOP_SECS = 30.


def task_command(flag_args, job_name, task, num_actors):
  """The command line of one task: the launcher's flags, then the task's."""
  return ([sys.executable, EXPERIMENT_SCRIPT] + list(flag_args) +
          ['--num_actors=%d' % num_actors, '--job_name=%s' % job_name,
           '--task=%d' % task])


def _stop_process(process, timeout):
  """SIGTERM, then SIGKILL of its process group after `timeout`."""
  if process.poll() is None:
    process.send_signal(signal.SIGTERM)
  try:
    process.wait(timeout)
  except subprocess.TimeoutExpired:
    logging.warning('launcher: pid %d ignored SIGTERM; killing it.',
                    process.pid)
  with contextlib.suppress(ProcessLookupError, PermissionError):
    os.killpg(process.pid, signal.SIGKILL)  # Its environments too.
  process.wait()


def launch(config, flag_args):
  """Starts the learner and `config.num_actors` actors; returns an exit code.

  Ctrl-C or SIGTERM stops them: the learner first (it writes a checkpoint),
  then the actors. When the learner exits the actors are stopped; when
  every actor has failed the learner is stopped.
  """
  cluster = cluster_from_flags(config)
  for address in (cluster.learner,) + cluster.actors:
    flag = ('learner_address' if address == cluster.learner
            else 'actor_hosts')
    cluster_lib.check_local(address, flag)
    cluster_lib.check_port_free(address, flag)
  processes = []

  def start(job_name, task):
    command = task_command(flag_args, job_name, task, config.num_actors)
    # Own process groups: a terminal's Ctrl-C reaches only the launcher,
    # which stops each task once, in order.
    env = dict(os.environ, **{LAUNCHER_PID_VARIABLE: str(os.getpid())})
    processes.append((job_name, task,
                      subprocess.Popen(command, process_group=0, env=env)))

  code = 1
  with _set_on_signals(threading.Event(), 'launcher') as stop:
    try:
      start(cluster_lib.LEARNER_JOB, 0)
      for task in range(config.num_actors):
        start(cluster_lib.ACTOR_JOB, task)
      logging.info('launcher: learner pid %d, actor pids %s.',
                   processes[0][2].pid, [p.pid for _, _, p in processes[1:]])
      learner = processes[0][2]
      reported = set()
      while not stop.wait(.2):
        if learner.poll() is not None:
          code = learner.returncode
          logging.info('launcher: the learner exited with status %d.', code)
          break
        for _, task, process in processes[1:]:
          if process.poll() is not None and task not in reported:
            reported.add(task)
            (logging.info if process.returncode == 0 else logging.warning)(
                'launcher: actor %d exited with status %d.',
                            task, process.returncode)
        if all(p.returncode not in (None, 0) for _, _, p in processes[1:]):
          logging.error('launcher: every actor failed; stopping.')
          break
      else:
        code = 0
    finally:
      for job_name, _, process in processes:
        _stop_process(process, LEARNER_STOP_SECS
                      if job_name == cluster_lib.LEARNER_JOB
                      else ACTOR_STOP_SECS)
  return code


def main(argv):
  if len(argv) > 1:
    sys.exit('distributed.py: unexpected arguments %s' % argv[1:])
  console.quiet_tensorflow_logger(FLAGS.verbosity)
  try:
    apply_engine()
    config = config_lib.resolve_config()
    config_lib.check_impala_only(config, 'distributed.py')
    config_lib.check_logdir(FLAGS.logdir)
    config_lib.check_memory(config)
    if FLAGS.task < 0 and FLAGS.mode != 'train':
      raise ValueError('--mode=%s runs on one machine: use experiment.py.' %
                       FLAGS.mode)
    if FLAGS.task >= 0:
      run(config, FLAGS.logdir)
      return
    code = launch(config, sys.argv[1:])
  except cluster_lib.ClusterError as e:
    sys.exit('distributed: error: %s' % e)
  except (ValueError, ImportError) as e:
    sys.exit('distributed.py: error: %s' % e)
  sys.exit(code)


if __name__ == '__main__':
  app.run(main, flags_parser=console.parse_flags)
