"""Tests for the role and cluster from an engine (cluster.py: TF_CONFIG and
SLURM) and for launch/: learner and actors started with only TF_CONFIG set,
and launch/impala.sbatch run by a real single-node SLURM (.ci/start_slurm),
to its end and stopped by scancel.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import cluster as cluster_lib
import distributed_test
import process_util

Cluster = cluster_lib.Cluster
EngineRole = cluster_lib.EngineRole
ROOT = distributed_test.ROOT


# ---------------------------------------------------------------------------
# TF_CONFIG.


def _tf_config(task_type, index, learner_job='learner', actor_job='actor',
               num_actors=2):
  return {'cluster': {learner_job: ['l:2222'],
                      actor_job: ['a%d:2222' % i for i in range(num_actors)]},
          'task': {'type': task_type, 'index': index}}


@pytest.mark.parametrize('learner_job,actor_job', [
    ('learner', 'actor'), ('chief', 'worker')])
def test_tf_config_roles(learner_job, actor_job):
  cluster = Cluster('l:2222', ('a0:2222', 'a1:2222'))
  assert cluster_lib.from_tf_config(_tf_config(
      learner_job, 0, learner_job, actor_job)) == EngineRole(
          'TF_CONFIG', 'learner', 0, cluster)
  # As the variable's JSON too.
  assert cluster_lib.from_tf_config(json.dumps(_tf_config(
      actor_job, 1, learner_job, actor_job))) == EngineRole(
          'TF_CONFIG', 'actor', 1, cluster)


def test_tf_config_of_one_task_is_one_machine():
  assert cluster_lib.from_tf_config(
      {'cluster': {'chief': ['c:2222']},
       'task': {'type': 'chief', 'index': 0}}) is None


@pytest.mark.parametrize('tf_config,message', [
    ('{not json', 'is not a JSON object'),
    ({'cluster': {'worker': ['a:1', 'b:1']}, 'task': {'type': 'worker',
                                                       'index': 0}},
     'exactly one learner .* it has 0'),
    ({'cluster': {'chief': ['c:1'], 'learner': ['l:1'], 'worker': ['a:1']},
      'task': {'type': 'worker', 'index': 0}}, 'exactly one learner'),
    ({'cluster': {'learner': ['l:1', 'm:1'], 'actor': ['a:1']},
      'task': {'type': 'actor', 'index': 0}}, 'it has 2'),
    ({'cluster': {'chief': ['c:1'], 'worker': ['a:1'], 'ps': ['p:1']},
      'task': {'type': 'ps', 'index': 0}}, 'unknown job ps'),
    ({'cluster': {'chief': ['c:1'], 'worker': ['a:1'], 'actor': ['b:1']},
      'task': {'type': 'worker', 'index': 0}}, 'not both'),
    (_tf_config('actor', 2), 'outside the cluster'),
    (_tf_config('evaluator', 0), 'its type must be'),
])
def test_tf_config_errors(tf_config, message):
  with pytest.raises(cluster_lib.ClusterError, match=message) as e:
    cluster_lib.from_tf_config(tf_config)
  assert '\n' not in str(e.value)


# ---------------------------------------------------------------------------
# SLURM.


def test_expand_hostlist():
  expand = cluster_lib.expand_hostlist
  assert expand('node[01-03,07]') == ['node01', 'node02', 'node03', 'node07']
  assert expand('a1,b[8-10],c') == ['a1', 'b8', 'b9', 'b10', 'c']
  assert expand('r[1-2]-n[1,3]') == ['r1-n1', 'r1-n3', 'r2-n1', 'r2-n3']
  assert expand('vm') == ['vm']
  with pytest.raises(cluster_lib.ClusterError):
    expand('node[1-2')


def test_expand_tasks_per_node():
  assert cluster_lib.expand_tasks_per_node('2(x3),1') == [2, 2, 2, 1]
  assert cluster_lib.expand_tasks_per_node('3') == [3]


def _slurm(procid, **extra):
  env = {'SLURM_STEP_ID': '0', 'SLURM_PROCID': str(procid),
         'SLURM_STEP_NUM_TASKS': '5', 'SLURM_STEP_NODELIST': 'n[1-2]',
         'SLURM_STEP_TASKS_PER_NODE': '3,2',
         'SLURM_JOB_NODELIST': 'other', 'SLURM_NTASKS': '9'}
  env.update(extra)
  return env


def test_slurm_roles_hosts_and_ports():
  cluster = Cluster('n1:9000', ('n1:9001', 'n1:9002', 'n2:9003', 'n2:9004'))
  assert cluster_lib.from_slurm(_slurm(0), 9000) == EngineRole(
      'SLURM', 'learner', 0, cluster)
  assert cluster_lib.from_slurm(_slurm(4), 9000) == EngineRole(
      'SLURM', 'actor', 3, cluster)
  # Without the step's variables: the job's.
  env = _slurm(1, SLURM_NTASKS='3', SLURM_JOB_NODELIST='vm',
               SLURM_TASKS_PER_NODE='3')
  for name in ('SLURM_STEP_NUM_TASKS', 'SLURM_STEP_NODELIST',
               'SLURM_STEP_TASKS_PER_NODE'):
    del env[name]
  assert cluster_lib.from_slurm(env, 8000) == EngineRole(
      'SLURM', 'actor', 0, Cluster('vm:8000', ('vm:8001', 'vm:8002')))


def test_slurm_outside_a_step_or_of_one_task_is_one_machine():
  batch_script = _slurm(0)
  del batch_script['SLURM_STEP_ID']
  assert cluster_lib.from_slurm(batch_script, 8000) is None
  assert cluster_lib.from_slurm(_slurm(0, SLURM_STEP_NUM_TASKS='1',
                                       SLURM_STEP_TASKS_PER_NODE='1',
                                       SLURM_STEP_NODELIST='n1'),
                                8000) is None
  assert cluster_lib.engine_role({}, 8000) is None


def test_slurm_errors():
  with pytest.raises(cluster_lib.ClusterError, match='do not fit'):
    cluster_lib.from_slurm(_slurm(0, SLURM_STEP_TASKS_PER_NODE='2,2'), 8000)
  with pytest.raises(cluster_lib.ClusterError, match='out of range'):
    cluster_lib.from_slurm(_slurm(0), 65533)


def test_tf_config_before_slurm():
  env = dict(_slurm(0), TF_CONFIG=json.dumps(_tf_config('worker', 1, 'chief',
                                                         'worker')))
  assert cluster_lib.engine_role(env, 8000).source == 'TF_CONFIG'


# ---------------------------------------------------------------------------
# The flags against the engine.

ENGINE = EngineRole('SLURM', 'actor', 1,
                    Cluster('n1:8000', ('n1:8001', 'n2:8002')))


def test_engine_fills_in_flags_not_given():
  assert cluster_lib.resolve_role(ENGINE, {}) == dict(
      job_name='actor', task=1, learner_address='n1:8000',
      actor_hosts='n1:8001,n2:8002', num_actors=2)
  assert cluster_lib.resolve_role(None, {'num_actors': 4}) == {}


def test_explicit_flags_win():
  # --task: the flags are the role (--task=-1: one machine).
  assert cluster_lib.resolve_role(ENGINE, {'task': 0}) == {}
  assert cluster_lib.resolve_role(ENGINE, {'task': -1,
                                           'job_name': 'learner'}) == {}
  # Addresses given replace the engine's.
  assert cluster_lib.resolve_role(
      ENGINE, {'learner_address': 'x:1', 'actor_hosts': 'y,z',
               'num_actors': 3}) == dict(job_name='actor', task=1)
  # Agreeing values are no conflict.
  assert cluster_lib.resolve_role(
      ENGINE, {'job_name': 'actor', 'num_actors': 2})['task'] == 1


def test_conflicts_with_the_engine_are_errors():
  with pytest.raises(cluster_lib.ClusterError, match=(
      r'--job_name=learner but SLURM makes this process actor 1: leave out '
      r'--job_name, or give --task too')):
    cluster_lib.resolve_role(ENGINE, {'job_name': 'learner'})
  with pytest.raises(cluster_lib.ClusterError, match=(
      r'--num_actors=3 but SLURM has 2 actor tasks')):
    cluster_lib.resolve_role(ENGINE, {'num_actors': 3})


# ---------------------------------------------------------------------------
# The launch files.


@pytest.mark.parametrize('path', ['launch/impala.sbatch', 'launch/tfjob.yaml'])
def test_launch_files_pass_flags_that_exist(path):
  import config  # pylint: disable=g-import-not-at-top
  code = [line for line in _text(os.path.join(ROOT, path)).splitlines()
          if not line.lstrip().startswith('#')]
  names = set(re.findall(r'--([a-z_]+)=', '\n'.join(code)))
  assert {'level_name', 'logdir', 'total_environment_frames'} <= names
  assert names <= set(config.FLAGS), names - set(config.FLAGS)
  if path.endswith('.sbatch'):
    subprocess.run(['bash', '-n', os.path.join(ROOT, path)], check=True)


# ---------------------------------------------------------------------------
# TF_CONFIG for real: three experiment.py processes on localhost, as a TFJob
# starts them (chief and workers), with no job, task or cluster flags.

BUDGET = 3000  # Frames of catch: seconds of training.


def _final_row(logdir):
  rows = distributed_test._progress_frames(logdir)  # pylint: disable=protected-access
  return rows[-1] if rows else None


def test_tf_config_trains_catch_to_its_end(tmp_path, monkeypatch):
  ports = distributed_test._free_ports(3)  # pylint: disable=protected-access
  spec = {'chief': ['localhost:%d' % ports[0]],
          'worker': ['localhost:%d' % p for p in ports[1:]]}
  logdir = str(tmp_path / 'logdir')
  flags = distributed_test.SMALL + [
      '--logdir=' + logdir, '--total_environment_frames=%d' % BUDGET]
  processes = []
  try:
    for task_type, index in (('worker', 0), ('chief', 0), ('worker', 1)):
      monkeypatch.setenv('TF_CONFIG', json.dumps(
          {'cluster': spec, 'task': {'type': task_type, 'index': index}}))
      processes.append(distributed_test.Process(
          [distributed_test.EXPERIMENT] + flags,
          str(tmp_path / ('%s%d.log' % (task_type, index)))))
    for process in processes:
      assert process.wait() == 0, process.tail()
    learner_log = processes[1].text()
    assert 'TF_CONFIG: this process is learner 0' in learner_log
    assert 'Training catch from frame 0 ' in learner_log
    for task, process in ((0, processes[0]), (1, processes[2])):
      assert 'actor %d: training finished' % task in process.text()
    frames = distributed_test._checkpoint_frames(logdir)  # pylint: disable=protected-access
    assert frames >= BUDGET
    assert _final_row(logdir) == frames
  finally:
    for process in processes:
      process.kill()


def test_tf_config_conflict_is_a_one_line_error(tmp_path, monkeypatch):
  monkeypatch.setenv('TF_CONFIG', json.dumps(_tf_config('chief', 0, 'chief',
                                                        'worker')))
  process = distributed_test.Process(
      [distributed_test.EXPERIMENT, '--level_name=catch', '--num_actors=3',
       '--logdir=' + str(tmp_path)], str(tmp_path / 'learner.log'))
  try:
    line = distributed_test._error_line(process)  # pylint: disable=protected-access
  finally:
    process.kill()
  assert line == ('distributed: error: --num_actors=3 but TF_CONFIG has 2 '
                  'actor tasks: leave out --num_actors.')


# ---------------------------------------------------------------------------
# SLURM for real: launch/impala.sbatch on the single-node SLURM that
# .ci/start_slurm starts.

SBATCH = os.path.join(ROOT, 'launch', 'impala.sbatch')
SLURM_TIMEOUT = 240.


@pytest.fixture
def slurm():
  """Skips without SLURM, except in CI (CI set), where SLURM must run."""
  if shutil.which('sbatch') is None:
    message = ('sbatch not found: run .ci/start_slurm (as root) for a '
               'single-node SLURM.')
    if os.environ.get('CI'):
      pytest.fail('CI is set but ' + message)
    pytest.skip(message)
  result = subprocess.run(['sinfo', '-h', '-o', '%T'], capture_output=True,
                          text=True, check=False)
  assert result.returncode == 0 and result.stdout.strip(), (
      'SLURM does not answer (sinfo: %s): run .ci/start_slurm.' %
      result.stderr.strip())


def _free_base_port(n):
  """A port P with P..P+n-1 free."""
  for base in range(20000 + os.getpid() % 1000 * 20, 60000, 97):
    if all(_port_free(base + i) for i in range(n)):
      return base
  raise AssertionError('no %d free consecutive ports' % n)


def _port_free(port):
  try:
    cluster_lib.check_port_free('localhost:%d' % port, 'test')
    return True
  except cluster_lib.ClusterError:
    return False


def _submit(tmp_path, frames):
  """sbatch of the batch script: catch, 2 actors; (job id, logdir, output)."""
  logdir, output = str(tmp_path / 'logdir'), str(tmp_path / 'slurm.out')
  env = dict(distributed_test._environment(), PYTHON=sys.executable,  # pylint: disable=protected-access
             LEVEL='catch', LOGDIR=logdir, FRAMES=str(frames))
  result = subprocess.run(
      ['sbatch', '--parsable', '--ntasks=3', '--cpus-per-task=1',
       '--output=' + output, '--chdir=' + ROOT, SBATCH,
       '--slurm_base_port=%d' % _free_base_port(3)] +
      distributed_test.SMALL, env=env, capture_output=True, text=True,
      check=False)
  assert result.returncode == 0, result.stderr
  return result.stdout.strip().split(';')[0], logdir, output


def _in_queue(job):
  result = subprocess.run(['squeue', '-h', '-j', job, '-o', '%T'],
                          capture_output=True, text=True, check=False)
  return bool(result.stdout.strip())


def _job_state(job):
  result = subprocess.run(['scontrol', 'show', 'job', job],
                          capture_output=True, text=True, check=False)
  match = re.search(r'JobState=(\S+).*ExitCode=(\S+)', result.stdout, re.S)
  return match.groups() if match else (None, None)


def _text(path):
  with open(path, errors='replace') as f:
    return f.read()


def _tasks_of(logdir):
  """PIDs of the job's experiment.py processes (their environments' forks
  included), not srun's."""
  pids = []
  for pid in (int(p) for p in os.listdir('/proc') if p.isdigit()):
    command = process_util.command_line(pid)
    if (command and '--logdir=' + logdir in command and
        os.path.basename(command[0]) != 'srun' and process_util.alive(pid)):
      pids.append(pid)
  return pids


def test_sbatch_trains_checkpoints_and_ends(slurm, tmp_path):
  del slurm
  job, logdir, output = _submit(tmp_path, BUDGET)
  try:
    distributed_test._poll(lambda: not _in_queue(job), 'job %s to end' % job,  # pylint: disable=protected-access
                           SLURM_TIMEOUT)
    text = _text(output)
    assert _job_state(job) == ('COMPLETED', '0:0'), text[-3000:]
    assert 'SLURM: this process is learner 0' in text, text[-3000:]
    for task in (0, 1):
      assert 'actor %d: training finished' % task in text, text[-3000:]
    frames = distributed_test._checkpoint_frames(logdir)  # pylint: disable=protected-access
    assert frames >= BUDGET
    assert _final_row(logdir) == frames
  finally:
    subprocess.run(['scancel', job], check=False)


def test_scancel_stops_every_task_with_a_final_checkpoint(slurm, tmp_path):
  del slurm
  job, logdir, output = _submit(tmp_path, 100000000)
  try:
    distributed_test._poll(lambda: (_final_row(logdir) or 0) > 1000,  # pylint: disable=protected-access
                           'the job to train', SLURM_TIMEOUT)
    tasks = _tasks_of(logdir)
    assert len(tasks) >= 3, (tasks, _text(output)[-3000:])
    start = time.monotonic()
    subprocess.run(['scancel', job], check=True)
    distributed_test._poll(lambda: not _in_queue(job), 'job %s to end' % job,  # pylint: disable=protected-access
                           SLURM_TIMEOUT)
    print('scancel: every task gone in %.1f s' % (time.monotonic() - start))
    distributed_test._poll(lambda: not _tasks_of(logdir), 'no task left', 30)  # pylint: disable=protected-access
    text = _text(output)
    assert 'Stopped at frame' in text, text[-3000:]
    for task in (0, 1):
      assert 'actor %d: stopped' % task in text, text[-3000:]
    assert distributed_test._checkpoint_frames(logdir) >= _final_row(logdir)  # pylint: disable=protected-access
  finally:
    subprocess.run(['scancel', job], check=False)
