"""Start-up: the CLI commands that need no model load no model client (issue 20.4).

Each command runs in a subprocess through eval/bench_import.py's ``-c`` wrapper, which calls
the CLI's ``main()`` and then prints ``sys.modules``; the timing figures are the bench's, not
asserted here (a shared machine is too noisy).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "eval"))
    try:
        import bench_import

        yield bench_import
    finally:
        sys.path.remove(str(ROOT / "eval"))


@pytest.mark.parametrize("label", ["import llm_grader", "rubric check", "rubric show", "grade ONE --rules-only"])
def test_command_loads_no_model_client(bench, tmp_path: Path, label: str) -> None:  # type: ignore[no-untyped-def]
    case = next(c for c in bench.cases(None, tmp_path) if label in c.label)
    assert case.checked
    modules = bench.loaded_modules(case, None, ROOT)
    assert "llm_grader" in modules  # the wrapper saw the command's imports
    if case.cli is not None:
        assert {"llm_grader.cli", "llm_grader.rubric", "typer", "pydantic"} <= modules
    assert bench.forbidden_in(modules) == []
    if case.key == "rules-only grade":
        assert (tmp_path / "out.jsonl").read_text(encoding="utf-8").count("\n") == 1  # it did grade


def test_the_check_sees_a_forbidden_module(bench, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    case = bench.Case("jinja2", [sys.executable, "-c", "import llm_grader, jinja2.sandbox"], checked=True)
    modules = bench.loaded_modules(case, None, ROOT)
    assert bench.forbidden_in(modules) == ["jinja2"]
    assert bench.violations([bench.Measurement(case, 0.0, modules)]) == ["'jinja2' imports jinja2"]
