# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Files written atomically: a reader sees the old file or the whole new one.

Checkpoints go through TensorFlow's Saver; everything else the project writes
for later reading (test results, curves, PBT's state and requests) goes
through `write_atomically`.
"""

import json
import os
import tempfile


def write_atomically(path, write):
  """Calls write(f) on a new binary file beside `path`, then renames it to
  `path`: flushed to disk first, with the permissions of a plain new file
  (the process's umask, not the temporary file's 0600)."""
  with tempfile.NamedTemporaryFile('wb', dir=os.path.dirname(path) or '.',
                                   delete=False, suffix='.tmp') as f:
    try:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    except BaseException:
      f.close()
      os.remove(f.name)
      raise
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(f.name, 0o666 & ~umask)
  os.replace(f.name, path)


def write_text(path, text):
  write_atomically(path, lambda f: f.write(text.encode()))


def write_json(path, value):
  write_text(path, json.dumps(value, indent=1, sort_keys=True) + '\n')
