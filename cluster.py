# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The cluster of distributed.py: its tasks' addresses, checks and devices.

One learner task (job 'learner', task 0) and `num_actors` actor tasks (job
'actor'), each at a 'host:port'. `make_cluster` builds the addresses from
the flags' values and checks them; `check_task`, `check_port_free` and
`check_local` catch a task outside the cluster, a busy port and (for the
one-machine launcher) an address of another machine, each as one
`ClusterError` line; `describe` is the string every process must agree on.
`learner_device`, `actor_device` and `session_config` place the graphs and
let each session see only the learner and its own task; `start_server`
starts this task's TensorFlow server (on every interface: see the security
note in distributed.py).
"""

import collections
import json
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
