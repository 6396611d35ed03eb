"""The house's rules (STYLE.md): data flows one way, no import circles, no engine module too big
to find one's way in. Read from the source files' import statements, so a lazy import inside a
function counts as much as one at the top."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ekjon", "engine", "graph", "models", "api", "synth")
#: Which packages each package may import (besides itself and the ground floor ``ekjon``).
ALLOWED = {
    "ekjon": set(),
    "models": set(),
    "graph": set(),
    "engine": {"models", "graph"},
    "synth": {"engine", "models"},
    "api": {"engine", "graph", "models", "synth"},
}
#: What ``engine`` may use of ``graph``: the store interface, its schema and the policy files.
ENGINE_MAY_USE_OF_GRAPH = {"graph", "graph.store", "graph.schema", "graph.policy"}
MAX_ENGINE_LINES = 1000


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (the longest known prefix of each name)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


@pytest.fixture(scope="module")
def graph_of_imports() -> tuple[dict[str, Path], dict[str, set[str]]]:
    modules = _modules()
    return modules, _imports(modules)


def test_no_package_imports_against_the_flow(graph_of_imports) -> None:
    _, edges = graph_of_imports
    wrong = []
    for module, targets in edges.items():
        top = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other in (top, "ekjon"):
                continue
            if other not in ALLOWED[top]:
                wrong.append(f"{module} imports {target}")
            elif top == "engine" and other == "graph" and target not in ENGINE_MAY_USE_OF_GRAPH:
                wrong.append(f"{module} imports {target} (engine uses the graph store interface)")
    assert not wrong, "\n".join(sorted(wrong))


def test_there_is_no_import_circle(graph_of_imports) -> None:
    modules, edges = graph_of_imports
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    assert not circles, f"import circles: {circles}"


def test_no_engine_module_is_over_a_thousand_lines(graph_of_imports) -> None:
    modules, _ = graph_of_imports
    long = {
        name: n
        for name, path in modules.items()
        if name.startswith("engine")
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_ENGINE_LINES
    }
    assert not long, f"engine modules over {MAX_ENGINE_LINES} lines: {long}"
