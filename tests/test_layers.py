"""The package's layers only look down (docs/architecture.md).

Walks every module of ``sim`` with :mod:`ast`, collects the ``sim`` modules it imports
(imports under ``if TYPE_CHECKING:`` are type hints only and left out), and checks:

* each import goes to the same layer or one below it (:data:`LAYERS`);
* there is no import circle between modules;
* no module imports another module's private (``_name``) helper.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sim

PACKAGE = Path(sim.__file__).resolve().parent

#: Layers from the bottom up; a module may import its own layer and those below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("sim", "sim.vocab", "sim.calendar", "sim.files"),
    ("sim.inputs",),
    ("sim.core",),
    ("sim.measures",),
    ("sim.studies",),
    ("sim.report",),
    ("sim.agents", "sim.model", "sim.dashboard", "sim.app"),
    ("sim.cli", "sim.__main__"),
)


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of a dotted module name (the longest matching prefix)."""
    best, found = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), i
    if found < 0:
        raise AssertionError(f"{module} is in no layer of LAYERS")
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, modules: set[str]) -> list[tuple[str, str, int]]:
    """(imported module, imported name or '', line) for every ``sim`` import of a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            for inner in ast.walk(node):
                skip.add(id(inner))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sim" or alias.name.startswith("sim."):
                    found.append((alias.name, "", node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and (
                node.module == "sim" or node.module.startswith("sim.")):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in modules:  # ``from sim.pkg import module``
                    found.append((sub, "", node.lineno))
                else:
                    found.append((node.module, alias.name, node.lineno))
    return found


def _graph() -> tuple[dict[str, list[tuple[str, str, int]]], dict[str, Path]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: imports_of(p, set(files)) for m, p in files.items()}, files


def test_every_module_is_in_a_layer() -> None:
    graph, _ = _graph()
    for module in graph:
        layer_of(module)


def test_layers_only_import_downwards() -> None:
    graph, _ = _graph()
    wrong = [f"{m}:{line} imports {target} ({LAYERS[layer_of(target)][0]} is above "
             f"{LAYERS[layer_of(m)][0]})"
             for m, deps in graph.items() for target, _, line in deps
             if layer_of(target) > layer_of(m)]
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_a_private_helper() -> None:
    graph, _ = _graph()
    wrong = [f"{m}:{line} imports {target}.{name}" for m, deps in graph.items()
             for target, name, line in deps
             if name.startswith("_") and not name.startswith("__")]
    assert not wrong, "\n".join(wrong)


def test_no_import_circles() -> None:
    graph, files = _graph()
    edges = {m: {t for t, _, _ in deps if t in files and t != m} for m, deps in graph.items()}
    # A package's __init__ importing its own submodule (a re-export) is not a circle.
    for m in edges:
        edges[m] = {t for t in edges[m] if not t.startswith(m + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            circle = visit(node)
            assert circle is None, "import circle: " + " -> ".join(circle)


@pytest.mark.parametrize("upper", ["sim.cli"])
def test_nothing_imports_the_command_line(upper: str) -> None:
    graph, _ = _graph()
    wrong = [f"{m}:{line}" for m, deps in graph.items() for t, _, line in deps
             if (t == upper or t.startswith(upper + ".")) and layer_of(m) < layer_of(upper)]
    assert not wrong, "\n".join(wrong)
