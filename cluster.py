# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The cluster of distributed.py: its tasks' addresses, checks and devices.

One learner task (job 'learner', task 0) and `num_actors` actor tasks (job
'actor'), each at a 'host:port'. `make_cluster` builds the addresses from
the flags' values and checks them; `check_task`, `check_port_free` and
`check_local` catch a task outside the cluster, a busy port and (for the
one-machine launcher) an address of another machine, each as one
`ClusterError` line; `describe` is the string every process must agree on. `engine_role`
reads the role and the cluster that an engine gives this process (TF_CONFIG
of a TFJob or Vertex AI job, or a SLURM `srun` step) and `resolve_role`
merges them with the flags given (docs/distributed.md has the rules).
`learner_device`, `actor_device` and `session_config` place the graphs and
let each session see only the learner and its own task; `start_server`
starts this task's TensorFlow server (on every interface: see the security
note in distributed.py).
"""

import collections
import json
import re
import socket

import tensorflow as tf

import learner as learner_lib

LEARNER_JOB = 'learner'
ACTOR_JOB = 'actor'

Cluster = collections.namedtuple('Cluster', 'learner actors')


class ClusterError(ValueError):
  """Processes that do not agree on the cluster, or a bad address."""


# ---------------------------------------------------------------------------
# Addresses and the cluster (pure functions).


def parse_address(address, flag):
  """'host:port' -> (host, port). Raises ClusterError naming `flag`."""
  host, sep, port = address.strip().rpartition(':')
  if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise ClusterError('--%s=%s: expected host:port with a port in '
                       '1..65535.' % (flag, address))
  return host, int(port)


def make_cluster(learner_address, actor_hosts, actor_base_port, num_actors):
  """The addresses of every task.

  Args:
    learner_address: 'host:port'.
    actor_hosts: comma-separated 'host' or 'host:port', one entry for all
      actors or one per actor.
    actor_base_port: the port of actor N without one is this + N.
    num_actors: N.

  Returns:
    Cluster(learner='host:port', actors=('host:port',) * num_actors).

  Raises:
    ClusterError: a malformed address, a wrong number of hosts, or two tasks
      on one address.
  """
  parse_address(learner_address, 'learner_address')
  hosts = [h.strip() for h in actor_hosts.split(',')]
  if len(hosts) not in (1, num_actors) or not all(hosts):
    raise ClusterError(
        '--actor_hosts=%s has %d entries: give one for all actors or one per '
        'actor (--num_actors=%d).' % (actor_hosts, len(hosts), num_actors))
  if len(hosts) == 1:
    hosts = hosts * num_actors
  actors = []
  for task, host in enumerate(hosts):
    if ':' in host:
      parse_address(host, 'actor_hosts')
      actors.append(host)
    else:
      port = actor_base_port + task
      if not 0 < port < 65536:
        raise ClusterError('--actor_base_port=%d gives actor %d port %d.' %
                           (actor_base_port, task, port))
      actors.append('%s:%d' % (host, port))
  addresses = [learner_address.strip()] + actors
  for address in addresses:
    if addresses.count(address) > 1:
      raise ClusterError('Two tasks share the address %s (--learner_address, '
                         '--actor_hosts, --actor_base_port).' % address)
  return Cluster(addresses[0], tuple(actors))


# ---------------------------------------------------------------------------
# The role and cluster from an engine: TF_CONFIG or SLURM (pure functions).

# A process's role and its cluster as an engine describes them: `source`
# names the engine for messages ('TF_CONFIG' or 'SLURM').
EngineRole = collections.namedtuple('EngineRole', 'source job_name task cluster')

# TF_CONFIG job names of TFJob and Vertex AI, and ours.
TF_CONFIG_JOBS = {'chief': LEARNER_JOB, LEARNER_JOB: LEARNER_JOB,
                  'worker': ACTOR_JOB, ACTOR_JOB: ACTOR_JOB}
TF_CONFIG_VARIABLE = 'TF_CONFIG'


def from_tf_config(tf_config):
  """TF_CONFIG (a JSON string or its dict) -> EngineRole, or None.

  The cluster has one learner task (job 'learner', or 'chief' as TFJob and
  Vertex AI name it) and actors (job 'actor', or 'worker'); `task` gives
  this process's type and index. A cluster of one task is no cluster (one
  machine): None.

  Raises:
    ClusterError: bad JSON, no or several learners, an unknown job or a task
      outside the cluster.
  """
  try:
    if isinstance(tf_config, str):
      tf_config = json.loads(tf_config)
    spec = tf_config.get('cluster') or {}
    task = tf_config.get('task') or {}
    jobs = {name: list(addresses) for name, addresses in spec.items()}
  except (ValueError, AttributeError, TypeError) as e:
    raise ClusterError('TF_CONFIG is not a JSON object with a "cluster" of '
                       'job lists and a "task" (%s).' % e)
  unknown = sorted(set(jobs) - set(TF_CONFIG_JOBS))
  if unknown:
    raise ClusterError('TF_CONFIG: unknown job %s: the jobs are learner (or '
                       'chief) and actor (or worker).' % ', '.join(unknown))
  if sum(len(a) for a in jobs.values()) <= 1:
    return None
  learners = jobs.get(LEARNER_JOB, []) + jobs.get('chief', [])
  if len(learners) != 1:
    raise ClusterError('TF_CONFIG: the cluster needs exactly one learner '
                       '(job learner or chief) task, it has %d.' %
                       len(learners))
  if ACTOR_JOB in jobs and 'worker' in jobs:
    raise ClusterError('TF_CONFIG: give the actors as job actor or worker, '
                       'not both.')
  actors = tuple(jobs.get(ACTOR_JOB, []) + jobs.get('worker', []))
  cluster = Cluster(learners[0], actors)
  job_name = TF_CONFIG_JOBS.get(task.get('type'))
  index = task.get('index', 0)
  if job_name is None or not isinstance(index, int):
    raise ClusterError('TF_CONFIG: task %s: its type must be learner, chief, '
                       'actor or worker and its index a number.' %
                       json.dumps(task))
  size = 1 if job_name == LEARNER_JOB else len(actors)
  if not 0 <= index < size:
    raise ClusterError('TF_CONFIG: task %s is outside the cluster (%d %s '
                       'task%s).' % (json.dumps(task), size, task['type'],
                                     '' if size == 1 else 's'))
  return EngineRole(TF_CONFIG_VARIABLE, job_name, index, cluster)


def expand_hostlist(hostlist):
  """SLURM's compressed host list -> host names, in order.

  'node[01-03,07],gpu1' -> ['node01', 'node02', 'node03', 'node07', 'gpu1'];
  zero padding follows the range's first bound; several bracket groups in
  one name expand to every combination, the last fastest.
  """
  names, depth, start = [], 0, 0
  for i, char in enumerate(hostlist + ','):
    depth += {'[': 1, ']': -1}.get(char, 0)
    if char == ',' and depth == 0:
      if hostlist[start:i].strip():
        names.extend(_expand_name(hostlist[start:i].strip()))
      start = i + 1
  if depth:
    raise ClusterError('SLURM: unbalanced brackets in the node list %r.' %
                       hostlist)
  return names


def _expand_name(name):
  match = re.match(r'([^\[]*)\[([^\]]*)\](.*)$', name)
  if not match:
    return [name]
  prefix, ranges, rest = match.groups()
  numbers = []
  for part in ranges.split(','):
    low, _, high = part.strip().partition('-')
    if not low.isdigit() or not (high or low).isdigit():
      raise ClusterError('SLURM: bad range %r in the node list.' % part)
    numbers.extend(str(n).zfill(len(low))
                   for n in range(int(low), int(high or low) + 1))
  return [prefix + n + tail for n in numbers for tail in _expand_name(rest)]


def expand_tasks_per_node(tasks_per_node):
  """SLURM's '2(x3),1' -> [2, 2, 2, 1]."""
  counts = []
  for part in tasks_per_node.split(','):
    match = re.match(r'^\s*(\d+)(?:\(x(\d+)\))?\s*$', part)
    if not match:
      raise ClusterError('SLURM: bad tasks per node %r.' % tasks_per_node)
    counts.extend([int(match.group(1))] * int(match.group(2) or 1))
  return counts


def from_slurm(environ, base_port):
  """The variables of a SLURM `srun` step -> EngineRole, or None.

  Task 0 is the learner, at `base_port` of the first node; tasks 1..N-1 are
  actors 0..N-2, actor i at port `base_port + 1 + i`, on the nodes of the
  step's node list in SLURM's block order (SLURM_STEP_TASKS_PER_NODE
  consecutive tasks per node). None outside an `srun` step (the batch
  script itself is not one) or for a step of one task.

  Raises:
    ClusterError: the node list and task counts disagree, or a port is
      out of range.
  """
  if 'SLURM_STEP_ID' not in environ or 'SLURM_PROCID' not in environ:
    return None
  num_tasks = int(environ.get('SLURM_STEP_NUM_TASKS') or
                  environ.get('SLURM_NTASKS') or 1)
  if num_tasks <= 1:
    return None
  nodes = expand_hostlist(environ.get('SLURM_STEP_NODELIST') or
                          environ.get('SLURM_JOB_NODELIST') or '')
  per_node = expand_tasks_per_node(
      environ.get('SLURM_STEP_TASKS_PER_NODE') or
      environ.get('SLURM_TASKS_PER_NODE') or str(num_tasks))
  if len(per_node) != len(nodes) or sum(per_node) != num_tasks:
    raise ClusterError(
        'SLURM: %d tasks do not fit the node list %s with tasks per node %s.'
        % (num_tasks, nodes, per_node))
  hosts = [node for node, count in zip(nodes, per_node)
           for _ in range(count)]
  if not 0 < base_port or base_port + num_tasks > 65536:
    raise ClusterError('--slurm_base_port=%d: ports %d..%d are out of range.'
                       % (base_port, base_port, base_port + num_tasks - 1))
  addresses = ['%s:%d' % (host, base_port + i) for i, host in enumerate(hosts)]
  task = int(environ['SLURM_PROCID'])
  return EngineRole('SLURM', LEARNER_JOB if task == 0 else ACTOR_JOB,
                    max(task - 1, 0), Cluster(addresses[0],
                                              tuple(addresses[1:])))


def engine_role(environ, slurm_base_port):
  """The engine's EngineRole from the environment, or None: TF_CONFIG
  first, then SLURM."""
  if environ.get(TF_CONFIG_VARIABLE, '').strip():
    role = from_tf_config(environ[TF_CONFIG_VARIABLE])
    if role is not None:
      return role
  return from_slurm(environ, slurm_base_port)


def resolve_role(engine, given):
  """Merges the engine's role and cluster with the flags given.

  Args:
    engine: an EngineRole, or None.
    given: the distributed flags given on the command line, name -> value
      (job_name, task, learner_address, actor_hosts, num_actors).

  Returns:
    name -> value of the flags to set: the engine's values for those not
    given. The rules: `--task` makes the flags the role (`--task=-1`: one
    machine, the engine ignored); `--job_name` alone must agree with the
    engine's; `--learner_address` and `--actor_hosts` replace the engine's
    addresses; `--num_actors` must equal the engine's actor count, which is
    its default.

  Raises:
    ClusterError: a role or actor count that disagrees with the engine's.
  """
  if engine is None or 'task' in given:
    return {}
  job_name = given.get('job_name', engine.job_name)
  if job_name != engine.job_name:
    raise ClusterError(
        '--job_name=%s but %s makes this process %s %d: leave out '
        '--job_name, or give --task too to override %s.' % (
            job_name, engine.source, engine.job_name, engine.task,
            engine.source))
  values = {'job_name': engine.job_name, 'task': engine.task}
  if 'learner_address' not in given:
    values['learner_address'] = engine.cluster.learner
  if 'actor_hosts' not in given:
    num_actors = given.get('num_actors', len(engine.cluster.actors))
    if num_actors != len(engine.cluster.actors):
      raise ClusterError(
          '--num_actors=%d but %s has %d actor tasks: leave out --num_actors.'
          % (num_actors, engine.source, len(engine.cluster.actors)))
    values['actor_hosts'] = ','.join(engine.cluster.actors)
    values['num_actors'] = num_actors
  return values


def check_task(job_name, task, cluster):
  """Raises ClusterError unless `task` is a task of `job_name`."""
  if job_name == LEARNER_JOB and task != 0:
    raise ClusterError('--job_name=learner --task=%d: the cluster has one '
                       'learner, task 0.' % task)
  if job_name == ACTOR_JOB and not 0 <= task < len(cluster.actors):
    raise ClusterError(
        '--job_name=actor --task=%d is outside the cluster: its actors are '
        'tasks 0..%d (--num_actors=%d).' % (task, len(cluster.actors) - 1,
                                            len(cluster.actors)))


def own_address(job_name, task, cluster):
  return cluster.learner if job_name == LEARNER_JOB else cluster.actors[task]


def describe(cluster):
  """The cluster as a string that every process must agree on."""
  return json.dumps({LEARNER_JOB: [cluster.learner],
                     ACTOR_JOB: list(cluster.actors)}, sort_keys=True)


def check_port_free(address, flag):
  """Raises ClusterError if this machine cannot listen on the port.

  TensorFlow's server listens on every interface (0.0.0.0) at the port.
  """
  _, port = parse_address(address, flag)
  sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
  try:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('', port))
  except OSError as e:
    raise ClusterError('Port %d (--%s=%s) is already in use (%s): is another '
                       'learner or actor running there? Stop it or choose '
                       'another port.' % (port, flag, address, e.strerror))
  finally:
    sock.close()


def check_local(address, flag):
  """Raises ClusterError unless `address` names this machine."""
  host, _ = parse_address(address, flag)
  try:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
      sock.bind((host, 0))  # Only an address of this machine binds.
  except OSError:
    raise ClusterError(
        '--%s: %s is not an address of this machine, and the launcher starts '
        'every task here. Start each task on its machine with experiment.py '
        '--job_name=... --task=... instead.' % (flag, address))


def learner_device():
  return '/job:%s/task:0' % LEARNER_JOB


def actor_device(task):
  return '/job:%s/task:%d' % (ACTOR_JOB, task)


def session_config(job_name, task, num_actor_threads, run_config):
  """learner.session_config, seeing only the learner and this task.

  The learner task owns the learner's devices (its K logical CPUs where
  it learns on the CPU); actors use no GPU.
  """
  config = learner_lib.session_config(
      num_actor_threads, run_config if job_name == LEARNER_JOB else None)
  devices = [learner_device()]
  if job_name == ACTOR_JOB:
    devices.append(actor_device(task))
    config.device_count['GPU'] = 0
    # An actor's TF threads mostly wait for its environments: spinning
    # there cost ~10% of its CPU (perf, docs/performance.md#actors).
    config.experimental.disable_thread_spinning = True
  config.device_filters.extend(devices)
  return config


def start_server(job_name, task, cluster, config):
  """Checks the port, then starts this task's server."""
  address = own_address(job_name, task, cluster)
  check_port_free(address, 'learner_address' if job_name == LEARNER_JOB
                  else 'actor_hosts')
  spec = tf.train.ClusterSpec({LEARNER_JOB: [cluster.learner],
                               ACTOR_JOB: list(cluster.actors)})
  try:
    return tf.distribute.Server(spec, job_name=job_name, task_index=task,
                                config=config, start=True)
  except tf.errors.OpError as e:
    raise ClusterError('Could not start the %s %d server at %s: %s' %
                       (job_name, task, address, e.message))
