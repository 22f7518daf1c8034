"""The shape of course_lib: no import cycles (imports inside functions count too), and nothing
in it imports Django."""

from __future__ import annotations

import ast
from pathlib import Path

import course_lib

PACKAGE = Path(course_lib.__file__).parent


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The ``modules`` of course_lib that ``path`` imports anywhere: top level, functions,
    classes."""
    module = path.stem
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:  # from .models import X
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import checkpoints, styles
                found.update(alias.name for alias in node.names)
            elif node.level == 0 and (node.module or "").startswith("course_lib."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("course_lib."):
                    found.add(alias.name.split(".")[1])
    return (found & modules) - {module, "__init__"}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    paths = sorted(package.glob("*.py"))
    modules = {p.stem for p in paths}
    return {path.stem: _imports(path, modules) for path in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one_through_a_function_level_import(tmp_path):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    (tmp_path / "metrics.py").write_text("def f():\n    from .recipes import get\n")
    (tmp_path / "recipes.py").write_text("from . import notebook\nfrom .data import x\n")
    (tmp_path / "notebook.py").write_text("import course_lib.metrics\n")
    graph = import_graph(tmp_path)
    assert graph == {"metrics": {"recipes"}, "recipes": {"notebook"}, "notebook": {"metrics"}}
    assert find_cycle(graph) == ["metrics", "recipes", "notebook", "metrics"]


def test_course_lib_has_no_import_cycle():
    graph = import_graph()
    assert "notebook" in graph and "models" in graph["checkpoints"]  # the graph is real
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in course_lib: " + " -> ".join(cycle or [])


def test_course_lib_never_imports_django():
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n.split(".")[0] == "django" for n in names), path.name
