"""The project's modules: no import circle, none over 700 lines, all installed.

"A house without circles": each top-level module imports only modules below
it. The graph is read from the source with `ast` (imports inside functions
included), so that a lazy import cannot hide a circle.
"""

import ast
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 700


def _top_level_modules():
  """{module name: path} of the project's top-level .py files, setup.py out."""
  paths = glob.glob(os.path.join(ROOT, '*.py'))
  return {os.path.splitext(os.path.basename(p))[0]: p for p in paths
          if os.path.basename(p) != 'setup.py'}


def _imported(path, modules):
  """The project modules that the file at `path` imports, anywhere in it."""
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names.update(alias.name.split('.')[0] for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      names.add(node.module.split('.')[0])
  return sorted(names & set(modules))


def import_graph():
  modules = _top_level_modules()
  return {name: _imported(path, modules) for name, path in modules.items()}


def find_cycle(graph):
  """One import circle as a list [a, b, ..., a], or None."""
  state = {}  # name -> 'visiting' | 'done'
  stack = []

  def visit(name):
    state[name] = 'visiting'
    stack.append(name)
    for other in graph[name]:
      if state.get(other) == 'visiting':
        return stack[stack.index(other):] + [other]
      if other not in state:
        cycle = visit(other)
        if cycle:
          return cycle
    stack.pop()
    state[name] = 'done'
    return None

  for name in sorted(graph):
    if name not in state:
      cycle = visit(name)
      if cycle:
        return cycle
  return None


def test_find_cycle_finds_one():
  assert find_cycle({'a': ['b'], 'b': ['c'], 'c': ['a']}) == [
      'a', 'b', 'c', 'a']
  assert find_cycle({'a': ['b', 'c'], 'b': ['c'], 'c': []}) is None


def test_the_imports_have_no_circle():
  graph = import_graph()
  assert 'scores' in graph['curves'] and 'report' not in graph['curves']
  cycle = find_cycle(graph)
  assert cycle is None, 'import circle: %s' % ' -> '.join(cycle)


def test_no_module_is_over_700_lines():
  too_long = {}
  for name, path in sorted(_top_level_modules().items()):
    with open(path) as f:
      lines = sum(1 for _ in f)
    if lines > MAX_LINES:
      too_long[name + '.py'] = lines
  assert not too_long, 'over %d lines: %s' % (MAX_LINES, ', '.join(
      '%s (%d)' % item for item in sorted(too_long.items())))


def test_setup_installs_every_top_level_module():
  path = os.path.join(ROOT, 'setup.py')
  with open(path) as f:
    tree = ast.parse(f.read())
  (call,) = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, 'attr', None) == 'setup']
  (py_modules,) = [k.value for k in call.keywords if k.arg == 'py_modules']
  if isinstance(py_modules, ast.Name):  # Computed: run the module's top
    # level but for the setup() call.
    namespace = {'__file__': path}
    top = ast.Module([node for node in tree.body if isinstance(
        node, (ast.Import, ast.ImportFrom, ast.Assign))], [])
    exec(compile(top, path, 'exec'), namespace)  # pylint: disable=exec-used
    listed = namespace[py_modules.id]
  else:  # Listed by name.
    listed = ast.literal_eval(py_modules)
  assert sorted(listed) == sorted(_top_level_modules())
