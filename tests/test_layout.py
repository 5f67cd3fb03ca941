"""The package's layout: imports only point down the data path, and nothing imports in a cycle.

Run as a script (``python tests/test_layout.py``) to print the import graph between units.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "llm_grader"

LAYERS = [
    ["errors", "running"],
    ["types", "agreement"],
    ["messages", "_data", "patterns", "spreadsheet", "textfiles", "_sqlite"],
    ["rubric"],
    ["conversation"],
    ["evidence", "rules", "sampling", "confidence"],
    ["grounding"],
    ["prompting"],
    ["answers", "scoring"],
    ["model", "results", "views", "templating", "decomposed"],
    ["config", "arguments"],
    ["progress"],
    ["judging", "_batch_output"],
    ["planning"],
    ["grader", "calibration", "tables", "estimate", "qa_sample"],
    ["groups"],
    ["coaching"],
    ["batching"],
    ["calibration_report", "results_page", "dashboard"],
    ["report"],
    ["review"],
    ["alignment"],
    ["cli", "testing", "ray"],
    ["__init__", "__main__"],
]
"""Units bottom to top: a unit may import from lower layers only (and within itself)."""

RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    return module.split(".")[0] or "__init__"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _imports(path: Path, *, type_checking: bool = False) -> set[str]:
    """The llm_grader modules ``path`` imports (relative imports resolved), function-level ones
    included; those under TYPE_CHECKING only with ``type_checking``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    skip = {
        id(n)
        for node in ast.walk(tree)
        if not type_checking and isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for n in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1] if node.level > 1 else package
            if node.module:
                found.add(".".join([*base, *node.module.split(".")]))
            else:  # ``from .. import agreement``: each name is a module (or a name of the package)
                found |= {".".join([*base, alias.name]) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("llm_grader."):
            found.add((node.module or "").removeprefix("llm_grader."))
    return found


def graph(*, type_checking: bool = False) -> dict[str, set[str]]:
    """Module → the llm_grader modules it imports (with ``type_checking``, for annotations too)."""
    return {
        _module_name(p) or "__init__": _imports(p, type_checking=type_checking)
        for p in sorted(PACKAGE.rglob("*.py"))
    }


def unit_graph() -> dict[str, set[str]]:
    """Unit (top-level module or sub-package) → the other units it imports."""
    units: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph().items():
        units[_unit(module)] |= {_unit(t) for t in targets if _unit(t) != _unit(module)}
    return dict(units)


def test_every_unit_has_a_layer() -> None:
    assert set(unit_graph()) <= set(RANK), sorted(set(unit_graph()) - set(RANK))


def test_imports_only_point_down() -> None:
    upward = [
        f"{unit} -> {target}"
        for unit, targets in unit_graph().items()
        for target in targets
        if unit != "__init__" and RANK[target] >= RANK[unit]
    ]
    assert upward == []


@pytest.mark.parametrize("type_checking", [False, True])
def test_no_import_cycle_between_modules(type_checking: bool) -> None:
    """No cycle, counting function-level imports, and TYPE_CHECKING ones too."""
    edges = graph(type_checking=type_checking)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if target not in edges:
                continue
            if state.get(target) == 1:
                cycles.append([*path[path.index(target):], target] if target in path else [module, target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_grader_knows_nothing_of_batches() -> None:
    """The Batch API is a driver above the grader (not even an annotation points down to it)."""
    below = {"grader", "planning", "judging", "model", "model.base", "model.cache"}
    edges = graph(type_checking=True)
    assert {m: sorted(t for t in edges[m] if t.startswith("batching")) for m in below} == {m: [] for m in below}


if __name__ == "__main__":
    for rank, units in reversed(list(enumerate(LAYERS))):
        for unit in units:
            below = sorted(unit_graph().get(unit, ()), key=lambda u: (-RANK[u], u))
            print(f"{rank:>2} {unit:<13} -> {', '.join(below) or '(nothing)'}")
