# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""files.write_atomically: all or nothing, a plain file's permissions."""

import json
import os
import stat

import pytest

import files


def test_writes_whole_file_with_umask_permissions(tmp_path):
  path = str(tmp_path / 'results.json')
  previous = os.umask(0o022)
  try:
    files.write_json(path, dict(b=1, a=[2.5]))
  finally:
    os.umask(previous)
  with open(path) as f:
    assert json.load(f) == dict(a=[2.5], b=1)
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # Not 0600.
  assert os.listdir(tmp_path) == ['results.json']


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
  path = str(tmp_path / 'table.md')
  files.write_text(path, 'old\n')

  def fail(f):
    f.write(b'partial')
    raise RuntimeError('disk full')

  with pytest.raises(RuntimeError, match='disk full'):
    files.write_atomically(path, fail)
  with open(path) as f:
    assert f.read() == 'old\n'
  assert os.listdir(tmp_path) == ['table.md']
