# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Fixtures shared by the tests."""

from absl import flags
import pytest

import config as config_lib


@pytest.fixture
def parse():
  """parse(*args) -> Config of experiment.py's command line `args`; the
  flags are restored afterwards."""
  saved = flags.FLAGS.flag_values_dict()

  def resolve(*args):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['experiment.py'] + list(args))
    return config_lib.resolve_config()

  yield resolve
  flags.FLAGS.unparse_flags()
  flags.FLAGS(['experiment.py'])
  for name, value in saved.items():
    setattr(flags.FLAGS, name, value)
