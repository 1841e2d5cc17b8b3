# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
r"""Table 1 on this machine: every architecture's throughput on one level.

    python benchmarks/table1.py --output=/tmp/table1.md
    python benchmarks/table1.py --level_name=atari/pong --warmup_secs=60 \
        --seconds=120 --output=/tmp/table1 -- --num_actors=4
    python benchmarks/table1.py --level_name=seekavoid_arena_01  # DMLab
    python benchmarks/table1.py --level_name=rooms_keys_doors_puzzle
    python benchmarks/table1.py --agents=impala,a3c --seconds=30
    python benchmarks/table1.py --helpfull   # every flag

(experiment.py's flags go after `--`, to every run.)

Trains each architecture of `--agents` (experiment.py `--agent=X`: IMPALA,
A3C, batched A2C with a synchronous step or trajectory) on `--level_name`
one after the other, each in its own `experiment.py` subprocess with its own
temporary logdir, and measures it over `--seconds` after `--warmup_secs`
(counted from its first progress row, when training has started): frames/s
is the frames difference over the wall_time difference of its progress.csv
rows at both ends, and the CPU it used is that of its process tree
(/proc, utime + stime, including reaped children) over the same span.
Actors and environments per actor are the level's defaults unless given
after `--`; A3C's workers are num_actors x envs_per_actor.

It prints, and writes as Markdown to `--output` (a file, or a directory
that gets table1.md), a table in Table 1's shape: per architecture its
frames/s, frames/s per CPU core of this machine (os.sched_getaffinity), the
CPU cores its processes used, the paper's single-machine CPU-only row of
Table 1 (DMLab task 1, seekavoid_arena_01, or task 2 for
rooms_keys_doors_puzzle; other levels are compared with task 1) with its
per-core figure, and each row's ratio to IMPALA in the same run beside the
paper's ratio. The header states the CPU model, the cores, the load average
at the start and at the end, and the date. Compare the ratios: the absolute
numbers depend on the machine, the level and the other load.
"""

import collections
import csv
import functools
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import types

from absl import app
from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import console  # pylint: disable=g-import-not-at-top,wrong-import-position
import files  # pylint: disable=g-import-not-at-top,wrong-import-position
import learning  # pylint: disable=g-import-not-at-top,wrong-import-position
import levels as levels_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

PROGRAM = 'benchmarks/table1.py'
# experiment.py --agent values, in Table 1's order of the single machine.
AGENTS = ('a3c', 'a2c_sync_step', 'a2c_sync_traj', 'impala')
DEFAULT_AGENTS = ('impala', 'a3c', 'a2c_sync_traj', 'a2c_sync_step')
# Paper Table 1 (Espeholt et al. 2018), single machine, CPU only: the
# architecture, its row's name there, its CPUs and frames/s on DMLab task 1
# (seekavoid_arena_01) and task 2 (rooms_keys_doors_puzzle); shallow model.
PaperRow = collections.namedtuple('PaperRow',
                                  'architecture name cpus task1 task2')
PAPER_TABLE1 = {
    'a3c': PaperRow('A3C', 'A3C 32 workers', 64, 6500, 9000),
    'a2c_sync_step': PaperRow('Batched A2C (sync step)',
                              'Batched A2C (sync step)', 48, 9000, 5000),
    'a2c_sync_traj': PaperRow('Batched A2C (sync traj.)',
                              'Batched A2C (sync traj.)', 48, 16000, 17500),
    'impala': PaperRow('IMPALA', 'IMPALA 48 actors', 48, 17000, 20500),
}
TASK2_LEVEL = 'rooms_keys_doors_puzzle'
# Flags this script sets for each run itself.
_OWN_FLAGS = ('--level_name', '--seed', '--logdir', '--agent',
              '--log_interval_secs')
# Seconds a run may take to write its first progress row.
_START_TIMEOUT_SECS = 600.
_TICKS = os.sysconf('SC_CLK_TCK')


def agent_flags(agent):
  """experiment.py's flags for `agent`: none for IMPALA, its default."""
  return [] if agent == 'impala' else ['--agent=' + agent]


def a3c_worker_flags(extra, cores):
  """A3C's workers for Table 1, unless the flags after `--` size them: one
  worker per usable core, one environment each. The paper ran 32 workers on
  64 CPUs (Table 1); the level's defaults (e.g. 2 x 32 on Atari) would put
  64 workers on 2 cores here, which ran at 54 frames/s (2026-12-03)."""
  if any(flag.split('=')[0] in ('--num_actors', '--envs_per_actor')
         for flag in extra):
    return []
  return ['--num_actors=%d' % cores, '--envs_per_actor=1']


def check_agents(names, error):
  """The agents of a --agents list; `error(message)` for a bad one."""
  for name in names:
    if name not in AGENTS:
      error('unknown agent %r in --agents; choose from %s' % (
          name, ','.join(AGENTS)))
  if not names or len(set(names)) != len(names):
    error('--agents: give each agent once, at least one')
  return list(names)


def check_extra(extra, own_flags, error):
  """The experiment.py flags after `--`; `error` for one set here."""
  extra = [flag for flag in extra if flag != '--']
  for flag in extra:
    if not flag.startswith('--') or flag.split('=')[0] in own_flags:
      error('%r: pass experiment.py flags as --name=value after --, except '
            '%s (set here)' % (flag, ', '.join(own_flags)))
  return extra


def check_level(level_name, error):
  """`error(message)` for an unknown level, or a DMLab level without
  DeepMind Lab installed."""
  try:
    level_set = levels_lib.resolve(level_name)
  except ValueError as e:
    error(str(e))
  if level_set.domain == 'dmlab':
    import environments  # pylint: disable=g-import-not-at-top
    try:
      environments.check_dmlab_available()
    except ImportError as e:
      error(str(e))


def define_flags(flag_values=flags.FLAGS):
  """The benchmark's flags, in `flag_values`."""
  flags.DEFINE_list('agents', list(DEFAULT_AGENTS), 'Comma-separated '
                    'experiment.py --agent values, measured in this order: '
                    + ', '.join(AGENTS) + '.', flag_values=flag_values)
  flags.DEFINE_string('level_name', 'atari/pong', 'The level (the paper\'s: '
                      'seekavoid_arena_01, rooms_keys_doors_puzzle).',
                      flag_values=flag_values)
  flags.DEFINE_float('warmup_secs', 30., 'Seconds of training, from a run\'s '
                     'first progress row, before measuring.',
                     flag_values=flag_values)
  flags.DEFINE_float('seconds', 60., 'Measured seconds per architecture.',
                     flag_values=flag_values)
  flags.DEFINE_float('log_interval_secs', 2., 'Progress rows of the runs: '
                     'the ends of the measurement.', flag_values=flag_values)
  flags.DEFINE_string('output', None, 'Also write the table as Markdown '
                      'here: a file, or a directory (table1.md in it).',
                      flag_values=flag_values)


def _error(message):
  """A one-line error before any run, exit status 2."""
  console.error(PROGRAM, message)


def check_args(flag_values, extra):
  """The settings from the parsed flags and the experiment.py flags after
  `--` (`extra`); one-line errors before any run."""
  args = types.SimpleNamespace(
      level_name=flag_values.level_name, warmup_secs=flag_values.warmup_secs,
      seconds=flag_values.seconds, output=flag_values.output,
      log_interval_secs=flag_values.log_interval_secs,
      agents=check_agents(flag_values.agents, _error),
      extra=check_extra(extra, _OWN_FLAGS, _error))
  if args.seconds <= 0:
    _error('--seconds must be > 0, got %g' % args.seconds)
  if args.warmup_secs < 0:
    _error('--warmup_secs must be >= 0, got %g' % args.warmup_secs)
  if args.log_interval_secs <= 0:
    _error('--log_interval_secs must be > 0, got %g' % args.log_interval_secs)
  check_level(args.level_name, _error)
  return args


def parse_args(argv):
  """Parses and checks `argv` (the arguments after the program's name)."""
  flag_values = flags.FlagValues()
  define_flags(flag_values)
  rest = console.parse_own_flags(PROGRAM, flag_values, [PROGRAM] + list(argv))
  return check_args(flag_values, rest[1:])


# ---------------------------------------------------------------------------
# The machine and a process tree's CPU time, from /proc.


def cpu_model():
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return 'unknown CPU'


def usable_cores():
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


def _stat_fields(pid):
  """/proc/<pid>/stat's fields after the command name, or None."""
  try:
    with open('/proc/%d/stat' % pid) as f:
      return f.read().rsplit(')', 1)[1].split()
  except (OSError, IndexError):
    return None


def tree_cpu_seconds(root):
  """CPU seconds of process `root` and its live descendants, each with the
  children it has reaped (utime + stime + cutime + cstime)."""
  parents = {}
  for name in os.listdir('/proc'):
    if name.isdigit():
      fields = _stat_fields(int(name))
      if fields:
        parents[int(name)] = int(fields[1])
  tree, todo = set(), [root]
  while todo:
    pid = todo.pop()
    tree.add(pid)
    todo.extend(p for p, parent in parents.items()
                if parent == pid and p not in tree)
  total = 0
  for pid in tree:
    fields = _stat_fields(pid)
    if fields:
      total += sum(int(x) for x in fields[11:15])
  return total / _TICKS


# ---------------------------------------------------------------------------
# One architecture's run.

Measurement = collections.namedtuple(
    'Measurement', 'agent fps cpu_cores actors envs_per_actor')


def progress_rows(logdir):
  """(wall_time, frames) of each row of `<logdir>/progress.csv`."""
  path = os.path.join(logdir, 'progress.csv')
  if not os.path.exists(path):
    return []
  with open(path, newline='') as f:
    rows = []
    for row in csv.DictReader(f):
      try:
        rows.append((float(row['wall_time']), int(row['frames'])))
      except (TypeError, ValueError):  # A line being written.
        continue
    return rows


def window(rows, warmup_secs, seconds):
  """The rows at both ends of the measurement, (start, end), or None while
  the run has not got that far: start is the first row `warmup_secs` after
  the first, end the first row `seconds` after start."""
  if not rows:
    return None
  start = next((r for r in rows if r[0] >= rows[0][0] + warmup_secs), None)
  if start is None:
    return None
  end = next((r for r in rows if r[0] >= start[0] + seconds), None)
  return None if end is None else (start, end)


def _actors(logdir):
  """(actors, environments per actor) from the run's configuration block
  (progress.describe_run) in train.log, or (None, None)."""
  try:
    with open(os.path.join(logdir, 'train.log')) as f:
      match = re.search(r'actors\s+(\d+) x (\d+) environments', f.read())
  except OSError:
    match = None
  return (int(match.group(1)), int(match.group(2))) if match else (None,
                                                                   None)


def _tail(path, lines=5):
  try:
    with open(path) as f:
      return ' | '.join(f.read().strip().splitlines()[-lines:])
  except OSError:
    return ''


def measure(agent, args, poll_secs=.2):
  """Trains `agent` in a temporary logdir until its measurement is done;
  a Measurement."""
  with tempfile.TemporaryDirectory(prefix='table1_%s_' % agent) as logdir:
    command = learning.train_command(
        args.level_name, 1, logdir, agent_flags(agent) + (
            a3c_worker_flags(args.extra, usable_cores())
            if agent == 'a3c' else []) + [
                '--log_interval_secs=%g' % args.log_interval_secs] + args.extra)
    log_path = os.path.join(logdir, 'train.log')
    with open(log_path, 'w') as log:
      process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=_ROOT, process_group=0)
    began = time.monotonic()
    cpu_start = None
    try:
      while True:
        if process.poll() is not None:
          raise RuntimeError('%s: experiment.py --agent=%s ended (exit %d) '
                             'before its measurement: %s' % (
                                 PROGRAM, agent, process.returncode,
                                 _tail(log_path)))
        rows = progress_rows(logdir)
        if not rows and time.monotonic() - began > _START_TIMEOUT_SECS:
          raise RuntimeError('%s: experiment.py --agent=%s wrote no progress '
                             'in %.0f s: %s' % (PROGRAM, agent,
                                                _START_TIMEOUT_SECS,
                                                _tail(log_path)))
        if cpu_start is None and window(rows, args.warmup_secs, 0):
          cpu_start = time.monotonic(), tree_cpu_seconds(process.pid)
        ends = window(rows, args.warmup_secs, args.seconds)
        if ends and cpu_start:
          cpu_end = time.monotonic(), tree_cpu_seconds(process.pid)
          break
        time.sleep(poll_secs)
    finally:
      if process.poll() is None:
        process.send_signal(signal.SIGINT)  # A clean stop.
        try:
          process.wait(120)
        except subprocess.TimeoutExpired:
          process.kill()
          process.wait()
    (start_time, start_frames), (end_time, end_frames) = ends
    actors, envs = _actors(logdir)
  return Measurement(
      agent, (end_frames - start_frames) / (end_time - start_time),
      (cpu_end[1] - cpu_start[1]) / max(cpu_end[0] - cpu_start[0], 1e-9),
      actors, envs)


# ---------------------------------------------------------------------------
# The table.


def paper_task(level_name):
  """1 or 2: the DMLab task of Table 1 that `level_name` is compared with."""
  return 2 if level_name.split('/')[-1] == TASK2_LEVEL else 1


def _setting(m):
  if m.actors is None:
    return '?'
  if m.agent == 'a3c':
    return '%d workers' % (m.actors * m.envs_per_actor)
  return '%d x %d' % (m.actors, m.envs_per_actor)


def _ratio(value, impala):
  return '%.2f' % (value / impala) if impala else '–'


def markdown_table(measurements, args, machine):
  """Table 1's shape, with the machine and the paper's rows."""
  task = paper_task(args.level_name)
  paper_fps = {agent: getattr(row, 'task%d' % task)
               for agent, row in PAPER_TABLE1.items()}
  ours = {m.agent: m.fps for m in measurements}
  cores = machine['cores']
  lines = [
      '# Table 1 on this machine: %s' % args.level_name, '',
      '%s; %s, %d cores usable (%d on the machine); load average (1 min) '
      '%.2f at the start, %.2f at the end. Each architecture trained on its '
      'own, one after the other, %g s of warm-up then %g s measured; flags '
      'of every run: %s.' % (
          machine['date'], machine['cpu'], cores, os.cpu_count() or cores,
          machine['load_start'], machine['load_end'], args.warmup_secs,
          args.seconds, ' '.join(args.extra) or 'none'), '',
      '| Architecture | actors x envs | frames/s | per core | CPU cores '
      'used | paper row (Table 1) | paper frames/s (task %d) | paper CPUs | '
      'paper per core | ratio to IMPALA | paper ratio |' % task,
      '|---|---|---|---|---|---|---|---|---|---|---|']
  for m in measurements:
    paper = PAPER_TABLE1[m.agent]
    lines.append('| %s (`%s`) | %s | %s | %s | %.2f | %s | %s | %d | %.0f | '
                 '%s | %.2f |' % (
                     paper.architecture, m.agent, _setting(m),
                     '{:,.0f}'.format(m.fps), '{:,.0f}'.format(m.fps / cores),
                     m.cpu_cores, paper.name,
                     '{:,}'.format(paper_fps[m.agent]),
                     paper.cpus, paper_fps[m.agent] / paper.cpus,
                     _ratio(m.fps, ours.get('impala')),
                     paper_fps[m.agent] / paper_fps['impala']))
  lines += [
      '', 'frames/s: environment frames over the measured span, from the '
      'run\'s progress.csv (frames and wall_time of the rows at its ends). '
      'Per core: frames/s over the %d usable cores (the paper\'s: over its '
      'CPUs). CPU cores used: CPU seconds of the run\'s process tree per '
      'second. Paper: Table 1\'s single-machine rows without a GPU, shallow '
      'model, DeepMind Lab task %d (%s)%s. Ratios to IMPALA are within one '
      'run of this script (the measured) or of the paper.' % (
          cores, task, 'seekavoid_arena_01' if task == 1 else TASK2_LEVEL,
          '' if args.level_name.split('/')[-1] in ('seekavoid_arena_01',
                                                   TASK2_LEVEL)
          else '; another level here, so compare the ratios')]
  return '\n'.join(lines) + '\n'


def output_path(output):
  """--output: a directory gets table1.md, anything else is the file."""
  if os.path.isdir(output) or output.endswith(os.sep):
    return os.path.join(output, 'table1.md')
  return output


def run(args):
  """Measures every architecture; prints and writes the table."""
  machine = dict(date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
                 cpu=cpu_model(), cores=usable_cores(),
                 load_start=os.getloadavg()[0])
  measurements = []
  try:
    for agent in args.agents:
      print('%s: measuring (%g s warm-up, %g s) ...' % (
          agent, args.warmup_secs, args.seconds), flush=True)
      m = measure(agent, args)
      print('%s: %.0f frames/s, %.2f CPU cores' % (agent, m.fps, m.cpu_cores),
            flush=True)
      measurements.append(m)
  except RuntimeError as e:
    sys.exit(str(e))
  except KeyboardInterrupt:
    print('stopped', file=sys.stderr)
    sys.exit(130)
  machine['load_end'] = os.getloadavg()[0]
  table = markdown_table(measurements, args, machine)
  print(table)
  if args.output:
    path = output_path(args.output)
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    files.write_text(path, table)
    print('wrote %s' % path)


def main(argv):
  """app.run's main: argv holds the program and the flags after `--`."""
  run(check_args(flags.FLAGS, argv[1:]))


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=functools.partial(console.parse_flags,
                                                program=PROGRAM))
