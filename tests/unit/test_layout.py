"""The package's shape holds: layers, no import cycle, no hidden lazy imports, small modules.

``lint-imports`` (the contracts in pyproject.toml) checks that each layer imports only the
layers below it; these tests add what a layers contract cannot see: a cycle inside one layer,
an import moved into a function to hide a cycle, and modules grown past a readable size.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[2] / "spoolrt"

#: Optional dependencies: the only imports allowed inside functions (each gives an install hint
#: or is only reached where the dependency is known to be there).
LAZY_ALLOWED = {"uwsgi", "cronsim", "django", "flask", "uwsgiconf", "prometheus_client", "jinja2"}

#: "~400 lines" from the brief, as a hard line.
MAX_LINES = 400


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components of more than one module are the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    graph = grimp.build_graph("spoolrt", exclude_type_checking_imports=True)
    edges = {
        module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules
    }
    assert _strongly_connected(edges) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c"]
    ]


def _function_level_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["." * node.level + (node.module or "")]
            else:
                continue
            found += [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {name}" for name in names]
    return found


def test_only_optional_dependencies_are_imported_inside_functions() -> None:
    hidden = [
        entry
        for path in sorted(PACKAGE.rglob("*.py"))
        for entry in _function_level_imports(path)
        if entry.split()[-1].split(".")[0] not in LAZY_ALLOWED
    ]
    assert hidden == []


def test_no_module_is_longer_than_the_limit() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_layer_contracts_are_kept() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(linter)], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
