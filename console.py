# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""TensorFlow's start-up noise, kept off the console (entry points only).

Why `TF_CPP_MIN_LOG_LEVEL=2` is not enough with TensorFlow 2.21: the lines
printed while TensorFlow's shared libraries load (`port.cc] oneDNN custom
operations are on`, `cudart_stub.cc] Could not find cuda drivers`) and some
later ones (`cuda_platform.cc] failed call to cuInit`, `util.cc] oneDNN
supports DT_UINT8 only on platforms with AVX-512`) go through Abseil's C++
logging, not TensorFlow's own: it ignores that variable and, since nobody
calls `absl::InitializeLog()`, writes every message to stderr, each preceded
once by "WARNING: All log messages before absl::InitializeLog() is called
are written to STDERR". Two libraries carry their own copy of Abseil, so the
start-up block comes twice. In Python, TensorFlow's logger has a handler of
its own and also passes its records to absl's handler on the root logger, so
every TensorFlow line came twice; and tf.compat.v1 graph code (queue
runners, RMSProp's initialisers) prints deprecation notices.

`filter_stderr(argv)` (called by experiment.py, distributed.py and pbt.py
before they import TensorFlow) therefore sends file descriptor 2 through a small
filter process that drops only the lines of `HIDDEN_LINES`, benign notices
known by their source file and text; everything else, a failed device, an
unreadable checkpoint, a Python traceback, a crash report, passes unchanged
and in order. The filter is a separate process that exits only when every
writer has closed the pipe, so nothing is lost when this process dies.
`quiet_tensorflow_logger()` removes TensorFlow's own Python handler (one
line per message) and drops its deprecation notices and INFO chatter.

absl's `--verbosity=1` (or `-v 1`) turns all of this off: TensorFlow's C++
log level 0 (unless `TF_CPP_MIN_LOG_LEVEL` is set), no filter, TensorFlow's
Python INFO messages and deprecation notices back.

`parse_flags` is the entry points' flag parser (`app.run(main,
flags_parser=console.parse_flags)`): absl's, except that `--help` and
`--helpfull` exit with status 0 once they have printed the help.
"""

import os
import re
import signal
import subprocess
import sys

# Lines dropped from stderr: (file:line tag or marker, text). Matched
# anywhere in the line, so both Abseil's and TensorFlow's prefixes work.
HIDDEN_LINES = (
    r'^WARNING: All log messages before absl::InitializeLog\(\) is called '
    r'are written to STDERR$',
    r'port\.cc:\d+\] oneDNN custom operations are on',
    r'util\.cc:\d+\] oneDNN supports DT_\w+ only on platforms with AVX-512',
)
# Hidden only on machines without an NVIDIA device: there they only say that
# TensorFlow looked for a GPU. With a GPU they report a real problem.
HIDDEN_WITHOUT_GPU = (
    r'cudart_stub\.cc:\d+\] Could not find cuda drivers',
    r'cuda_platform\.cc:\d+\] failed call to cuInit',
    r'cuda_executor\.cc:\d+\] .*(NUMA|cuInit)',
)


def verbosity(argv):
  """absl's --verbosity (-v) in `argv`, read before the flags are parsed."""
  # Imported here: the filter process runs this file with the bare stdlib.
  from absl import flags  # pylint: disable=g-import-not-at-top
  values = flags.FlagValues()
  flags.DEFINE_integer('verbosity', 0, '', short_name='v',
                       flag_values=values)
  try:
    values(list(argv), known_only=True)
  except flags.Error:
    return 0
  return values.verbosity


# absl's help flags (`app.define_help_flags`), without their dashes.
HELP_FLAGS = ('help', '?', 'helpshort', 'helpfull', 'helpxml')


def asks_for_help(argv):
  """Whether the command line `argv` (program name first) has a help flag."""
  return any(arg.lstrip('-').partition('=')[0] in HELP_FLAGS
             for arg in argv[1:] if arg.startswith('-'))


def parse_flags(argv, program=None):
  """app.run's `flags_parser` for the entry points.

  absl's parser (`app.parse_flags_with_usage`), except that `--help` and
  `--helpfull` exit with status 0 once they have printed the help (absl
  exits 1). With `program`, a bad flag is one line `<program>: error: ...`
  and exit status 2, as argparse does (absl: two lines, status 1).
  """
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  try:
    if program is None:
      return app.parse_flags_with_usage(argv)
    return parse_own_flags(program, flags.FLAGS, argv)
  except SystemExit as e:
    if e.code == 1 and asks_for_help(argv):
      sys.exit(0)  # The help was printed.
    raise


def error(program, message):
  """Ends the program with one line `<program>: error: <message>` on
  stderr and exit status 2, as argparse does, before anything starts."""
  print('%s: error: %s' % (program, message), file=sys.stderr)
  sys.exit(2)


def parse_own_flags(program, flag_values, argv):
  """Parses `argv` (program name first) into `flag_values`; returns the
  arguments left, program name first. A bad flag is `error(program, ...)`."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  try:
    return flag_values(argv)
  except flags.Error as e:
    error(program, e)


def has_gpu():
  return os.path.exists('/dev/nvidiactl') or os.path.exists('/dev/dxg')


def hidden_lines_pattern(gpu=None):
  """One regular expression matching every hidden line."""
  patterns = HIDDEN_LINES
  if not (has_gpu() if gpu is None else gpu):
    patterns += HIDDEN_WITHOUT_GPU
  return '|'.join('(?:%s)' % p for p in patterns)


def filter_stderr(argv):
  """Sends this process's stderr through the filter, unless --verbosity >= 1.

  Returns True if the filter runs. Call before TensorFlow is imported.
  """
  if verbosity(argv) >= 1:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '0')
    return False
  sys.stderr.flush()
  read_end, write_end = os.pipe()
  original = os.dup(2)
  try:
    subprocess.Popen(
        [sys.executable, '-S', os.path.abspath(__file__),
         hidden_lines_pattern()],
        stdin=read_end, stdout=original, stderr=original, close_fds=True)
  except OSError:  # No filter: the notices show, nothing else changes.
    for fd in (read_end, write_end, original):
      os.close(fd)
    return False
  os.dup2(write_end, 2)
  for fd in (read_end, write_end, original):
    os.close(fd)
  return True


def quiet_tensorflow_logger(verbosity_level):
  """One line per TensorFlow Python message; no deprecation notices or INFO
  chatter unless `verbosity_level` (absl's --verbosity) >= 1."""
  import logging  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  logger = tf.get_logger()
  for handler in list(logger.handlers):  # absl's root handler prints them.
    logger.removeHandler(handler)
  if verbosity_level < 1:
    logger.setLevel(logging.WARNING)
    logger.addFilter(lambda record: 'is deprecated and will be removed'
                     not in record.getMessage())


def _filter_main(pattern):
  """The filter process: stdin to stdout, hidden lines dropped, until EOF."""
  # Only the end of its input stops it: a Ctrl-C reaches the whole process
  # group, and the training process still has lines to print.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_IGN)
  hidden = re.compile(pattern.encode())
  out = sys.stdout.buffer
  for line in sys.stdin.buffer:
    if not hidden.search(line):
      out.write(line)
      out.flush()


if __name__ == '__main__':
  _filter_main(sys.argv[1])
