"""The project's import graph: no import circles, no private name imported across modules, and
every import in the direction docs/architecture.md draws (components never import pipeline...).

Every ``.py`` file of the project packages (PACKAGES below; benchmarks/ when it exists) is read
with ``ast`` -- nothing is imported -- and each import becomes an edge from the importing module
to the project module it names:

- ``import a.b.c`` and ``from a.b import c`` (c a submodule) -> ``a.b.c``; ``from a.b import
  name`` (name not a submodule) -> ``a.b``; relative imports are resolved against the file's
  package; ``importlib.import_module("a.b")`` with a constant string (and a constant
  ``package=`` for a relative name) counts as well. An import built at run time (an f-string)
  cannot be read and does not count.
- Function-level (lazy) imports COUNT: a circle closed by an import inside a function is still
  a circle in the design (the two modules cannot be understood or tested apart), only one that
  Python happens to tolerate at import time.
- The implicit import of a module's parent packages is not an edge (every package __init__ that
  gathers its submodules would otherwise be a circle). Third-party and standard-library modules
  are not nodes.

test_no_import_cycles fails listing one concrete circle per strongly connected component, each
edge with the file and line of its import. test_no_private_names_imported_across_modules fails
on ``from X import _name`` where X is another project module (``__future__`` and dunder names
such as ``__version__`` are allowed; a star import is not a name import). The self-checks feed
known graphs and a small package on disk, so the two tests cannot pass by finding nothing.
"""
import ast
import os
from collections import defaultdict

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("pipeline", "components", "ctr_models", "data", "benchmarks")


# ------------------------------------------------------------------------------ the graph

def module_files(root, packages):
    """dotted module name -> (path relative to root, is_package) for every .py of `packages`."""
    modules = {}
    for package in packages:
        top = os.path.join(root, package)
        if not os.path.isdir(top):
            continue
        for folder, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(folder, name), root)
                parts = rel[:-3].split(os.sep)
                is_package = parts[-1] == "__init__"
                if is_package:
                    parts = parts[:-1]
                modules[".".join(parts)] = (rel, is_package)
    return modules


def _resolve_relative(module, is_package, level, name):
    """The absolute module that `from <level dots><name> import ...` names inside `module`."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        package = package[:len(package) - (level - 1)]
    return ".".join(package + ([name] if name else []))


def _import_module_target(call, module, is_package):
    """The module of ``importlib.import_module("<constant>"[, package="<constant>"])``, or None."""
    func = call.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called != "import_module" or not call.args:
        return None
    name = call.args[0]
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        return None
    if not name.value.startswith("."):
        return name.value
    level = len(name.value) - len(name.value.lstrip("."))
    relative = name.value.lstrip(".")
    package = call.args[1] if len(call.args) > 1 else next(
        (k.value for k in call.keywords if k.arg == "package"), None)
    if isinstance(package, ast.Constant) and isinstance(package.value, str):
        return _resolve_relative(package.value, True, level, relative)
    if isinstance(package, ast.Name) and package.id == "__name__":
        return _resolve_relative(module, True, level, relative)
    if isinstance(package, ast.Name) and package.id == "__package__":
        return _resolve_relative(module, is_package, level, relative)
    return None


def _project_module(name, modules):
    """The longest prefix of dotted `name` that is a project module, or None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_records(root, modules):
    """(importer, target, imported names or None, "path:line") for every import of a project
    module, at any depth of the file (module level, functions, classes, conditionals)."""
    records = []
    for module, (rel, is_package) in sorted(modules.items()):
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=rel)
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _project_module(alias.name, modules)
                    if target:
                        records.append((module, target, None, where))
            elif isinstance(node, ast.ImportFrom):
                base = (_resolve_relative(module, is_package, node.level, node.module)
                        if node.level else node.module)
                if base is None or base == "__future__":
                    continue
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    if alias.name != "*" and submodule in modules:
                        records.append((module, submodule, None, where))
                    else:
                        target = _project_module(base, modules)
                        if target:
                            records.append((module, target, alias.name, where))
            elif isinstance(node, ast.Call):
                named = _import_module_target(node, module, is_package)
                target = _project_module(named, modules) if named else None
                if target:
                    records.append((module, target, None, where))
    return records


def import_graph(records):
    """importer -> {target: first "path:line" of that import}, without self-edges."""
    graph = defaultdict(dict)
    for importer, target, _, where in records:
        if importer != target:
            graph[importer].setdefault(target, where)
    return graph


def strongly_connected_components(graph):
    """Tarjan's algorithm (iterative): the components of `graph` (node -> iterable of nodes)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = 0
    nodes = sorted(set(graph) | {t for targets in graph.values() for t in targets})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def find_cycles(graph):
    """One concrete circle [m0, m1, ..., m0] for each strongly connected component of more than
    one module (the shortest circle through the component's first module)."""
    cycles = []
    for component in strongly_connected_components(graph):
        if len(component) < 2:
            continue
        members, start = set(component), component[0]
        previous, frontier = {start: None}, [start]
        found = None
        while frontier and found is None:
            following = []
            for node in frontier:
                for child in sorted(graph.get(node, ())):
                    if child == start:
                        found = node
                        break
                    if child in members and child not in previous:
                        previous[child] = node
                        following.append(child)
                if found is not None:
                    break
            frontier = following
        path, node = [start], found
        while node is not None and node != start:
            path.append(node)
            node = previous[node]
        cycles.append([start] + list(reversed(path[1:])) + [start])
    return cycles


def describe_cycle(cycle, graph):
    return "\n    ".join(f"{a} -> {b}  ({graph[a][b]})" for a, b in zip(cycle, cycle[1:]))


def private_imports(records):
    """"path:line: from X import _name" for each private (leading underscore, not dunder) name
    imported from another project module."""
    found = []
    for importer, target, name, where in records:
        if name is None or name == "*" or importer == target:
            continue
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            found.append(f"{where}: {importer} imports {name} from {target}")
    return found


# ------------------------------------------------------------------------------ the tests

@pytest.fixture(scope="module")
def project_records():
    modules = module_files(ROOT, PACKAGES)
    assert "ctr_models.inputs" in modules and "pipeline" in modules, (
        f"the project's packages were not found under {ROOT}")
    return import_records(ROOT, modules)


def test_no_import_cycles(project_records):
    graph = import_graph(project_records)
    cycles = find_cycles(graph)
    assert not cycles, (f"{len(cycles)} import circle(s) (function-level imports count):\n  "
                        + "\n  ".join(describe_cycle(c, graph) for c in cycles))


def test_no_private_names_imported_across_modules(project_records):
    found = private_imports(project_records)
    assert not found, ("private names imported from other project modules (make the name "
                       "public, or move it to a module both import):\n  " + "\n  ".join(found))


# ------------------------------------------------------------------------------ self-checks

# docs/architecture.md "Import direction": the top-level packages each may import
ALLOWED_PACKAGES = {
    "ctr_models": {"ctr_models"},
    "data": {"data"},
    "components": {"components", "ctr_models"},
    "pipeline": {"pipeline", "components", "ctr_models", "data"},
    "benchmarks": {"benchmarks", "pipeline", "components", "ctr_models", "data"},
}


def layer_violations(records):
    """"importer -> target (path:line)" for every import against ALLOWED_PACKAGES."""
    return [f"{importer} -> {target}  ({where})" for importer, target, _, where in records
            if target.split(".")[0] not in ALLOWED_PACKAGES[importer.split(".")[0]]]


def test_imports_follow_the_documented_direction(project_records):
    assert not layer_violations(project_records), (
        "imports against docs/architecture.md's direction:\n  "
        + "\n  ".join(layer_violations(project_records)))


def test_layer_violations_finds_an_upward_import():
    records = [("components.pusher", "pipeline.serving.warmup", None, "components/pusher.py:73"),
               ("pipeline.run", "components.trainer", None, "pipeline/run.py:3")]
    assert layer_violations(records) == [
        "components.pusher -> pipeline.serving.warmup  (components/pusher.py:73)"]


def test_find_cycles_finds_a_planted_circle_and_nothing_in_a_tree():
    graph = {"a": {"b": "a.py:1"}, "b": {"c": "b.py:1"}, "c": {"a": "c.py:9", "d": "c.py:2"},
             "d": {}, "e": {"a": "e.py:1"}, "x": {"y": "x.py:1"}, "y": {"x": "y.py:4"}}
    assert sorted(find_cycles(graph)) == [["a", "b", "c", "a"], ["x", "y", "x"]]
    assert "c -> a  (c.py:9)" in describe_cycle(["a", "b", "c", "a"], graph)
    tree = {"a": {"b": "", "c": ""}, "b": {"c": ""}, "c": {"d": ""}}
    assert find_cycles(tree) == []


def _write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def test_a_lazy_relative_import_circle_and_a_private_import_are_found(tmp_path):
    root = str(tmp_path)
    _write(root, "pkg/__init__.py", "from .low import helper\n")
    _write(root, "pkg/low.py", "import os\n\ndef helper():\n    from .high import _secret\n"
                               "    return _secret\n")
    _write(root, "pkg/high.py", "from __future__ import annotations\nfrom pkg import low\n"
                                "from .sub import __all__\n_secret = 1\n")
    _write(root, "pkg/sub/__init__.py", "")
    _write(root, "pkg/sub/leaf.py", "from ..low import helper\nimport importlib\n"
                                    "importlib.import_module('.other', __package__)\n")
    _write(root, "pkg/sub/other.py", "from .leaf import *\n")
    modules = module_files(root, ("pkg", "absent"))
    assert set(modules) == {"pkg", "pkg.low", "pkg.high", "pkg.sub", "pkg.sub.leaf",
                            "pkg.sub.other"}
    records = import_records(root, modules)
    graph = import_graph(records)
    assert graph["pkg.high"]["pkg.low"] == os.path.join("pkg", "high.py") + ":2"
    assert set(graph["pkg.sub.leaf"]) == {"pkg.low", "pkg.sub.other"}
    assert sorted(find_cycles(graph)) == [["pkg.high", "pkg.low", "pkg.high"],
                                          ["pkg.sub.leaf", "pkg.sub.other", "pkg.sub.leaf"]]
    assert private_imports(records) == [
        f"{os.path.join('pkg', 'low.py')}:4: pkg.low imports _secret from pkg.high"]
