# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""The documentation against the code: every command in README.md and
docs/*.md names an entry point that exists and flags it defines, every make
target exists, every relative link resolves; the README stays short and
links to every page.

Commands are found in code blocks and inline code that start with `python
<entry point>` (also `.venv/bin/python`, `VAR=... python`, `nice -n N
python`) or `make <target>`. An entry point's flags come from its own
`--helpxml` (absl), run once per entry point without training anything.
Flags after a bare `--` go to experiment.py (the benchmarks pass them on).
"""

import functools
import glob
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_README = os.path.join(_REPO, 'README.md')
_DOCS = sorted(glob.glob(os.path.join(_REPO, 'docs', '*.md')))
_PAGES = [_README] + _DOCS
_MAX_README_LINES = 250
# absl's own flags, which --helpxml does not list.
_ABSL_HELP_FLAGS = {'help', '?', 'helpshort', 'helpfull', 'helpxml',
                    'flagfile', 'undefok'}
# Where the flags after a bare `--` go.
_PASSED_ON_TO = 'experiment.py'
_FENCE = re.compile(r'^\s*(```|~~~)')
_INLINE = re.compile(r'`([^`\n]+)`')
_LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')


def _relative(path):
  return os.path.relpath(path, _REPO)


def _code_lines(text):
  """Lines of code blocks (fenced or indented 4 spaces), continuations
  joined, and inline code spans."""
  lines = text.splitlines()
  commands, in_fence, pending = [], False, ''
  for line in lines:
    if _FENCE.match(line):
      in_fence = not in_fence
      continue
    if in_fence or line.startswith('    '):
      line = line.strip()
      if line.endswith('\\'):
        pending += line[:-1] + ' '
        continue
      commands.append(pending + line)
      pending = ''
    else:
      if pending:
        commands.append(pending)
        pending = ''
      commands.extend(_INLINE.findall(line))
  if pending:
    commands.append(pending)
  return commands


def _is_python(token):
  return re.fullmatch(r'(.*/)?python3?(\.\d+)?', token) is not None


def _parse_command(line):
  """('python', entry point, flags, passed-on flags) or ('make', target,
  ARGS flags, []) for a command line, else None."""
  try:
    tokens = shlex.split(line, comments=True)
  except ValueError:
    return None
  while tokens and re.fullmatch(r'[A-Z_][A-Z0-9_]*=.*', tokens[0]):
    tokens = tokens[1:]  # Environment variables.
  if tokens[:2] == ['nice', '-n'] and len(tokens) > 2:
    tokens = tokens[3:]
  if len(tokens) < 2:
    return None
  if tokens[0] == 'make':
    args = [t.split('=', 1)[1] for t in tokens[2:] if t.startswith('ARGS=')]
    return ('make', tokens[1], shlex.split(' '.join(args)), [])
  if not _is_python(tokens[0]) or tokens[1].startswith('-'):
    return None  # Not an entry point: python -c, python -m.
  own, passed_on = tokens[2:], []
  if '--' in own:
    i = own.index('--')
    own, passed_on = own[:i], own[i + 1:]
  return ('python', tokens[1], own, passed_on)


def _flag_names(tokens):
  return [t[2:].split('=', 1)[0] for t in tokens
          if t.startswith('--') and len(t) > 2]


def _commands():
  found = []
  for page in _PAGES:
    with open(page) as f:
      text = f.read()
    for line in _code_lines(text):
      command = _parse_command(line)
      if command:
        found.append((_relative(page), line, command))
  return found


_COMMANDS = _commands()


@functools.lru_cache(maxsize=None)
def _defined_flags(entry_point):
  """The flags `entry_point` defines, from its --helpxml (absl)."""
  result = subprocess.run(
      [sys.executable, entry_point, '--helpxml'], cwd=_REPO,
      capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', MPLBACKEND='Agg'))
  start = result.stdout.find('<?xml')
  if start < 0:
    pytest.fail('%s --helpxml printed no absl flag list (does it take absl '
                'flags?): %s' % (entry_point, (result.stdout +
                                               result.stderr)[-1000:]))
  root = ElementTree.fromstring(result.stdout[start:])
  names = set(_ABSL_HELP_FLAGS)
  for flag in root.iter('flag'):
    name = flag.findtext('name')
    names.add(name)
    if flag.findtext('type') == 'bool':
      names.add('no' + name)
  return frozenset(names)


def _makefile_targets():
  """{target: the entry point its recipe passes $(ARGS) to, or None}."""
  with open(os.path.join(_REPO, 'Makefile')) as f:
    text = f.read()
  targets, current = {}, None
  for line in text.splitlines():
    match = re.match(r'^([A-Za-z0-9_.-]+)\s*:(?!=)', line)
    if match:
      current = match.group(1)
      targets.setdefault(current, None)
    elif line.startswith('\t') and current:
      passes = re.search(r'(\S+\.py)\s+\$\(ARGS\)', line)
      if passes:
        targets[current] = passes.group(1)
  return targets


def test_the_docs_have_commands():
  entry_points = {c[1] for _, _, c in _COMMANDS if c[0] == 'python'}
  assert 'experiment.py' in entry_points, entry_points
  assert any(c[0] == 'make' for _, _, c in _COMMANDS)


@pytest.mark.parametrize(
    'page,line,command', _COMMANDS,
    ids=['%s: %s' % (page, line[:60]) for page, line, _ in _COMMANDS])
def test_command_names_existing_entry_point_and_flags(page, line, command):
  kind, name, flags, passed_on = command
  if kind == 'make':
    targets = _makefile_targets()
    assert name in targets, '%s: make target %r is not in the Makefile (%s)' % (
        page, name, line)
    if flags:
      assert targets[name], '%s: make %s takes no ARGS (%s)' % (page, name,
                                                                line)
      entry_point, flags, passed_on = targets[name], flags, []
    else:
      return
  else:
    entry_point = name
  assert os.path.isfile(os.path.join(_REPO, entry_point)), (
      '%s: no entry point %s (%s)' % (page, entry_point, line))
  checks = [(entry_point, flags)]
  if passed_on:
    checks.append((_PASSED_ON_TO, passed_on))
  for program, tokens in checks:
    defined = _defined_flags(program)
    unknown = [f for f in _flag_names(tokens) if f not in defined]
    assert not unknown, '%s: %s does not define %s (%s)' % (
        page, program, ', '.join('--' + f for f in unknown), line)


def test_readme_is_short_and_links_every_page():
  with open(_README) as f:
    text = f.read()
  assert len(text.splitlines()) <= _MAX_README_LINES
  linked = {os.path.normpath(target.split('#')[0])
            for target in _LINK.findall(text)}
  missing = [_relative(page) for page in _DOCS
             if _relative(page) not in linked]
  assert not missing, 'README.md does not link to %s' % ', '.join(missing)


def _anchors(path):
  """GitHub's anchors for the headings of a Markdown file."""
  with open(path) as f:
    headings = re.findall(r'^#+\s+(.*?)\s*$', f.read(), re.MULTILINE)
  return {re.sub(r'[^\w\- ]', '', h.lower()).replace(' ', '-')
          for h in headings}


@pytest.mark.parametrize('page', [_relative(p) for p in _PAGES])
def test_relative_links_resolve(page):
  path = os.path.join(_REPO, page)
  with open(path) as f:
    text = f.read()
  broken = []
  for target in _LINK.findall(text):
    if re.match(r'[a-z]+:', target):
      continue  # http:, https:, mailto:
    file_part, _, anchor = target.partition('#')
    linked = (os.path.normpath(os.path.join(os.path.dirname(path), file_part))
              if file_part else path)
    if not os.path.exists(linked):
      broken.append(target)
    elif anchor and linked.endswith('.md') and anchor not in _anchors(linked):
      broken.append(target + ' (no such heading)')
  assert not broken, '%s: broken links %s' % (page, ', '.join(broken))
