# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Process helpers for the tests (Linux /proc)."""

import os


def alive(pid):
  """Whether process `pid` exists and is not a zombie."""
  try:
    with open('/proc/%d/stat' % pid) as f:
      return f.read().split(')')[-1].split()[0] != 'Z'
  except FileNotFoundError:
    return False


def children_of(pid):
  """PIDs whose parent is `pid`."""
  children = []
  for entry in os.listdir('/proc'):
    if entry.isdigit():
      try:
        with open('/proc/%s/stat' % entry) as f:
          fields = f.read().rsplit(')', 1)[1].split()
      except OSError:
        continue
      if int(fields[1]) == pid:
        children.append(int(entry))
  return children


def command_line(pid):
  """The arguments process `pid` was started with ([] if it is gone)."""
  try:
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
      return [a.decode() for a in f.read().split(b'\0') if a]
  except OSError:
    return []
