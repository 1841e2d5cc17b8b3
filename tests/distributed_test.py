"""Tests for cluster.py (the cluster's addresses) and distributed.py (the
learner and actors as separate processes on localhost, catch), faults
included.

The integration tests share one cluster (module fixture) and run in order:
train, lose an actor, get it back, lose the learner, get it back, stop.
Every wait polls with a deadline; every process is killed in the end.
"""

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

import cluster as cluster_lib
import process_util

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENT = os.path.join(ROOT, 'experiment.py')
LAUNCHER = os.path.join(ROOT, 'distributed.py')
SMALL = ['--level_name=catch', '--envs_per_actor=2', '--batch_size=2',
         '--unroll_length=10', '--log_interval_secs=1',
         '--save_checkpoint_secs=2']
TIMEOUT = 150.  # Seconds for any one wait: generous, the machine is shared.


# ---------------------------------------------------------------------------
# Addresses and the cluster.


def test_make_cluster_default_ports_and_explicit_hosts():
  cluster = cluster_lib.make_cluster('localhost:8000', 'localhost', 8001, 3)
  assert cluster == cluster_lib.Cluster(
      'localhost:8000', ('localhost:8001', 'localhost:8002', 'localhost:8003'))
  cluster = cluster_lib.make_cluster('10.0.0.1:8000', 'a,b:9000', 8001, 2)
  assert cluster.actors == ('a:8001', 'b:9000')


@pytest.mark.parametrize('learner, hosts, base, num, message', [
    ('localhost', 'localhost', 8001, 2, '--learner_address=localhost'),
    ('h:0', 'localhost', 8001, 2, '--learner_address=h:0'),
    ('h:8000', 'a,b,c', 8001, 2, '--actor_hosts=a,b,c has 3 entries'),
    ('h:8000', 'a,', 8001, 2, '--actor_hosts=a,'),
    ('h:8000', 'a:x', 8001, 1, '--actor_hosts=a:x'),
    ('h:8000', 'h', 7999, 2, 'share the address h:8000'),
    ('h:8000', 'h', 65535, 2, '--actor_base_port=65535'),
])
def test_make_cluster_rejects_bad_addresses(learner, hosts, base, num,
                                            message):
  with pytest.raises(cluster_lib.ClusterError, match=re.escape(message)):
    cluster_lib.make_cluster(learner, hosts, base, num)


def test_check_task():
  cluster = cluster_lib.make_cluster('localhost:8000', 'localhost', 8001, 2)
  cluster_lib.check_task('learner', 0, cluster)
  cluster_lib.check_task('actor', 1, cluster)
  with pytest.raises(cluster_lib.ClusterError, match='one learner, task 0'):
    cluster_lib.check_task('learner', 1, cluster)
  with pytest.raises(cluster_lib.ClusterError,
                     match=r'--task=2 is outside the cluster: .* tasks 0\.\.1'):
    cluster_lib.check_task('actor', 2, cluster)


def test_describe_is_equal_only_for_equal_clusters():
  a = cluster_lib.make_cluster('localhost:8000', 'localhost', 8001, 2)
  b = cluster_lib.make_cluster('localhost:8000', 'localhost', 8001, 3)
  assert cluster_lib.describe(a) == cluster_lib.describe(
      cluster_lib.make_cluster('localhost:8000', 'localhost', 8001, 2))
  assert cluster_lib.describe(a) != cluster_lib.describe(b)


def test_check_port_free():
  port = _free_ports(1)[0]
  cluster_lib.check_port_free('localhost:%d' % port, 'learner_address')
  with socket.socket() as busy:
    busy.bind(('127.0.0.1', port))
    busy.listen()
    with pytest.raises(cluster_lib.ClusterError,
                       match='Port %d .* already in use' % port):
      cluster_lib.check_port_free('localhost:%d' % port, 'learner_address')


def test_check_local():
  cluster_lib.check_local('localhost:8000', 'learner_address')
  cluster_lib.check_local('127.0.0.1:8000', 'learner_address')
  # 192.0.2.0/24 is reserved for documentation: never this machine's.
  with pytest.raises(cluster_lib.ClusterError,
                     match='192.0.2.1:8001 is not an address of this machine'):
    cluster_lib.check_local('192.0.2.1:8001', 'actor_hosts')


# ---------------------------------------------------------------------------
# Processes.


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  try:
    for s in sockets:
      s.bind(('', 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def _environment():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONUNBUFFERED='1',
             CUDA_VISIBLE_DEVICES='')
  return env


class Process:
  """A process in its own process group, its output in a file."""

  def __init__(self, args, log_path):
    self.log_path = log_path
    self._log = open(log_path, 'w')
    self.popen = subprocess.Popen(
        [sys.executable] + args, cwd=ROOT, env=_environment(),
        stdout=self._log, stderr=subprocess.STDOUT, process_group=0)

  def text(self):
    with open(self.log_path, errors='replace') as f:
      return f.read()

  def wait_for(self, pattern, timeout=TIMEOUT, start=0):
    """Polls the log for `pattern` past offset `start`; the match."""
    deadline = time.monotonic() + timeout
    while True:
      match = re.compile(pattern, re.M).search(self.text(), start)
      if match:
        return match
      if self.popen.poll() is not None:
        pytest.fail('%s exited (%s) before logging %r:\n%s' % (
            self.log_path, self.popen.returncode, pattern, self.tail()))
      if time.monotonic() > deadline:
        pytest.fail('No %r in %s after %.0fs:\n%s' % (
            pattern, self.log_path, timeout, self.tail()))
      time.sleep(.2)

  def wait(self, timeout=TIMEOUT):
    try:
      return self.popen.wait(timeout)
    except subprocess.TimeoutExpired:
      pytest.fail('%s did not exit in %.0fs:\n%s' % (self.log_path, timeout,
                                                    self.tail()))

  def tail(self, lines=30):
    return '\n'.join(self.text().splitlines()[-lines:])

  def signal(self, signum):
    if self.popen.poll() is None:
      self.popen.send_signal(signum)

  def kill(self):
    """SIGKILL to the whole group: the process and its environments."""
    try:
      os.killpg(self.popen.pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
    self.popen.wait(30)
    self._log.close()


def _progress_frames(logdir):
  """The frames column of the learner's progress.csv."""
  path = os.path.join(logdir, 'progress.csv')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [int(row['frames']) for row in csv.DictReader(f)
            if row.get('frames')]


def _checkpoint_frames(logdir):
  """The frame count of the latest checkpoint, or None."""
  try:
    with open(os.path.join(logdir, 'checkpoint')) as f:
      match = re.search(r'model_checkpoint_path: ".*-(\d+)"', f.read())
  except FileNotFoundError:
    return None
  return int(match.group(1)) if match else None


def _poll(condition, what, timeout=TIMEOUT):
  deadline = time.monotonic() + timeout
  while True:
    value = condition()
    if value:
      return value
    if time.monotonic() > deadline:
      pytest.fail('Timed out after %.0fs waiting for %s.' % (timeout, what))
    time.sleep(.2)


class Cluster:
  """A learner and actors started as separate `experiment.py` processes."""

  def __init__(self, tmp_path, num_actors=2, extra=()):
    self.tmp_path = tmp_path
    self.logdir = str(tmp_path / 'logdir')
    ports = _free_ports(num_actors + 1)
    self.flags = SMALL + [
        '--logdir=' + self.logdir, '--num_actors=%d' % num_actors,
        '--total_environment_frames=100000000',
        '--learner_address=localhost:%d' % ports[0],
        '--actor_hosts=' + ','.join('localhost:%d' % p for p in ports[1:]),
    ] + list(extra)
    self.processes = []
    self.learner = None
    self.actors = {}

  def start(self, job_name, task, extra=()):
    name = '%s%d_%d.log' % (job_name, task, len(self.processes))
    process = Process([EXPERIMENT] + self.flags + list(extra) + [
        '--job_name=' + job_name, '--task=%d' % task],
                      str(self.tmp_path / name))
    self.processes.append(process)
    if job_name == 'learner':
      self.learner = process
    else:
      self.actors[task] = process
    return process

  def wait_for_frames(self, more_than, first_row=0, timeout=TIMEOUT):
    """Waits for a progress row (from `first_row` on) past `more_than`."""
    return _poll(
        lambda: max(_progress_frames(self.logdir)[first_row:] or [0]) >
        more_than, 'the learner to pass frame %d' % more_than, timeout)

  def kill_all(self):
    for process in self.processes:
      process.kill()


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
  c = Cluster(tmp_path_factory.mktemp('cluster'))
  try:
    # Actor 0 first: it waits for the learner.
    c.start('actor', 0)
    c.actors[0].wait_for(r'actor 0: waiting for the learner at')
    c.start('learner', 0)
    c.start('actor', 1)
    yield c
  finally:
    c.kill_all()


def test_learner_and_two_actors_train(cluster):
  cluster.learner.wait_for(r'Training catch from frame 0 ')
  for task in (0, 1):
    cluster.actors[task].wait_for(r'actor %d: frames [1-9]' % task)
  cluster.wait_for_frames(2000)
  _poll(lambda: _checkpoint_frames(cluster.logdir), 'a checkpoint')
  assert os.path.exists(os.path.join(cluster.logdir, 'progress.csv'))
  # Where the time goes: each actor its own split, the learner its own
  # (actors' columns empty: it does not see them) and the queue's fill.
  for task in (0, 1):
    cluster.actors[task].wait_for(
        r'actor %d: frames \d+  fps \d+  time in inference \d+%%, '
        r'environments \d+%%, waiting \d+%%$' % task)
  with open(os.path.join(cluster.logdir, 'progress.csv')) as f:
    row = list(csv.DictReader(f))[-1]
  total = float(row['learner_waiting']) + float(row['learner_computing'])
  assert .5 < total <= 1.001 and 0 <= float(row['queue_fill']) <= 1
  assert row['actor_inference'] == ''


def test_killed_actor_does_not_stop_training(cluster):
  cluster.actors[1].kill()
  before = max(_progress_frames(cluster.logdir))
  offset = len(cluster.actors[0].text())
  cluster.wait_for_frames(before + 2000)
  cluster.actors[0].wait_for(r'actor 0: frames', start=offset)
  assert cluster.learner.popen.poll() is None


def test_restarted_actor_rejoins(cluster):
  actor = cluster.start('actor', 1)
  actor.wait_for(r'actor 1: connected to the learner')
  actor.wait_for(r'actor 1: frames [1-9]')
  before = max(_progress_frames(cluster.logdir))
  cluster.wait_for_frames(before + 1000)


def test_actor_of_another_cluster_is_a_clear_error(cluster, tmp_path):
  # An actor told of 3 actors while the learner knows 2: it reaches the
  # learner, sees its cluster and stops.
  port = _free_ports(1)[0]
  hosts = [f for f in cluster.flags if f.startswith('--actor_hosts=')][0]
  actor = Process([EXPERIMENT] + cluster.flags + [
      '--num_actors=3', '%s,localhost:%d' % (hosts, port),
      '--job_name=actor', '--task=2'], str(tmp_path / 'actor2.log'))
  try:
    line = _error_line(actor)
  finally:
    actor.kill()
  assert re.search(r'distributed: error: actor 2: the learner at localhost:'
                   r'\d+ runs the cluster .* but this actor .*: start every '
                   r'process with the same --num_actors', line), line


def test_restarted_learner_resumes_from_checkpoint(cluster):
  first = _checkpoint_frames(cluster.logdir)
  _poll(lambda: (_checkpoint_frames(cluster.logdir) or 0) > first,
        'a newer checkpoint')
  offsets = {t: len(a.text()) for t, a in cluster.actors.items()}
  cluster.learner.kill()
  checkpoint = _checkpoint_frames(cluster.logdir)
  # Actors wait for the learner instead of crashing.
  for task, actor in cluster.actors.items():
    actor.wait_for(r'actor %d: lost the learner' % task, start=offsets[task])
  time.sleep(1.)
  for actor in cluster.actors.values():
    assert actor.popen.poll() is None
  rows = len(_progress_frames(cluster.logdir))
  learner = cluster.start('learner', 0)
  learner.wait_for(r'Training catch from frame %d ' % checkpoint)
  # The restarted learner's own rows continue from the checkpoint.
  cluster.wait_for_frames(checkpoint + 2000, first_row=rows)
  assert min(_progress_frames(cluster.logdir)[rows:]) > checkpoint
  for task, actor in cluster.actors.items():
    match = actor.wait_for(r'actor %d: connected to the learner' % task,
                           start=offsets[task])
    actor.wait_for(r'actor %d: frames' % task, start=match.end())


def test_all_exit_cleanly(cluster):
  # Actors first: the learner is then blocked on an empty queue, and must
  # still stop on SIGTERM with a final checkpoint.
  for actor in cluster.actors.values():
    actor.signal(signal.SIGTERM)
  for actor in cluster.actors.values():
    assert actor.wait() == 0, actor.tail()
  last = max(_progress_frames(cluster.logdir))
  cluster.learner.signal(signal.SIGTERM)
  assert cluster.learner.wait() == 0, cluster.learner.tail()
  assert _checkpoint_frames(cluster.logdir) >= last


# ---------------------------------------------------------------------------
# The launcher and errors at start.


def _launched_pids(launcher):
  match = re.search(r'learner pid (\d+), actor pids \[(\d+), (\d+)\]',
                    launcher.text())
  return [int(p) for p in match.groups()] if match else []


def _kill_launched(launcher):
  """Kills the launcher and, should it have left them, its tasks."""
  pids = _launched_pids(launcher)
  launcher.kill()
  for pid in pids:
    try:
      os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
      pass


@pytest.mark.parametrize('extra_flags,budget', [
    # With two synchronous learners: the learner task owns both devices.
    (['--num_learners=2'], 3000),
    # Table 2's settings build the same learner graph (replay, correction).
    (['--replay_proportion=0.5', '--off_policy_correction=epsilon'], 300),
])
def test_launcher_trains_to_the_budget_and_all_exit(tmp_path, extra_flags,
                                                    budget):
  ports = _free_ports(3)
  logdir = str(tmp_path / 'logdir')
  launcher = Process([LAUNCHER] + SMALL + extra_flags + [
      '--logdir=' + logdir, '--num_actors=2',
      '--total_environment_frames=%d' % budget,
      '--learner_address=localhost:%d' % ports[0],
      '--actor_hosts=localhost:%d,localhost:%d' % tuple(ports[1:])],
                     str(tmp_path / 'launcher.log'))
  try:
    assert launcher.wait() == 0, launcher.tail()
    text = launcher.text()
    for task in (0, 1):
      assert 'actor %d: training finished' % task in text, launcher.tail()
    assert 'launcher: the learner exited with status 0' in text
    if '--num_learners=2' in extra_flags:
      assert '2 learners on /cpu:0, /cpu:1' in text
    assert _checkpoint_frames(logdir) >= budget
  finally:
    _kill_launched(launcher)


def test_launcher_stops_every_task_on_ctrl_c(tmp_path):
  ports = _free_ports(3)
  logdir = str(tmp_path / 'logdir')
  launcher = Process([LAUNCHER] + SMALL + [
      '--logdir=' + logdir, '--num_actors=2',
      '--total_environment_frames=100000000',
      '--learner_address=localhost:%d' % ports[0],
      '--actor_hosts=localhost:%d,localhost:%d' % tuple(ports[1:])],
                     str(tmp_path / 'launcher.log'))
  try:
    launcher.wait_for(r'learner pid \d+, actor pids')
    pids = _launched_pids(launcher)
    _poll(lambda: max(_progress_frames(logdir) or [0]) > 1000,
          'the learner to train')
    launcher.signal(signal.SIGINT)
    assert launcher.wait() == 0, launcher.tail()
    assert not any(process_util.alive(pid) for pid in pids)
    text = launcher.text()
    assert 'Stopped at frame' in text
    for task in (0, 1):
      assert 'actor %d: stopped' % task in text
    assert _checkpoint_frames(logdir) >= max(_progress_frames(logdir))
  finally:
    _kill_launched(launcher)


def _error_line(process):
  """The process's one error line; it must exit with status 1."""
  assert process.wait() == 1, process.tail()
  lines = [l for l in process.text().splitlines()
           if l.startswith('distributed: error:')]
  assert len(lines) == 1, process.tail()
  return lines[0]


def test_port_in_use_is_a_clear_error(tmp_path):
  cluster = Cluster(tmp_path)
  with socket.socket() as busy:
    busy.bind(('', int(cluster.flags[-1].split(':')[-1])))
    busy.listen()
    # The port of actor 1 is taken.
    actor = cluster.start('actor', 1)
    try:
      line = _error_line(actor)
    finally:
      actor.kill()
  assert re.search(r'distributed: error: Port \d+ \(--actor_hosts=localhost:'
                   r'\d+\) is already in use', line), line


def test_actor_outside_the_cluster_is_a_clear_error(tmp_path):
  cluster = Cluster(tmp_path)
  actor = cluster.start('actor', 2)
  try:
    line = _error_line(actor)
  finally:
    actor.kill()
  assert ('distributed: error: --job_name=actor --task=2 is outside the '
          'cluster: its actors are tasks 0..1 (--num_actors=2).') in line

