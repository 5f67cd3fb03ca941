"""Import-time benchmark: how long the package and the CLI take to start, and what they load.

Measures, each in fresh subprocesses (best of ``--runs``):

(a) ``python -c "import llm_grader"``
(b) ``python -c "from llm_grader.agreement import cohen_kappa"``
(c) ``llm-grader rubric check internet_cs_qa``

and, with ``PYTHONPROFILEIMPORTTIME=1`` (the environment form of ``python -X importtime``),
which of the heavy third-party packages each of them imports. Prints a small table.

``--check`` exits 1 when ``import llm_grader`` or the rubric check imports the model client
(openai, instructor) or matplotlib. The wall-time target is printed, not enforced: timings
on a shared CI machine are too noisy to fail a build on.

``--root DIR`` measures another checkout of the repository (e.g. a ``git worktree`` of an
older commit): it runs with ``PYTHONPATH=DIR`` and ``python -m llm_grader`` instead of the
installed console script.

    python eval/bench_import.py
    python eval/bench_import.py --check
    python eval/bench_import.py --root /tmp/before
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HEAVY = ("openai", "instructor", "matplotlib", "jinja2", "numpy", "sklearn")
"""The packages whose import is reported."""

FORBIDDEN = ("openai", "instructor", "matplotlib")
"""What ``import llm_grader`` and the rubric check must not import (``--check``)."""

CLI_TARGET_S = 0.5
"""Wall-time target of the rubric check (printed, not enforced)."""


@dataclass(frozen=True)
class Case:
    label: str
    argv: list[str]
    checked: bool  # --check fails when this case imports a FORBIDDEN package


@dataclass(frozen=True)
class Measurement:
    case: Case
    best_s: float
    imported: frozenset[str]


def cases(root: Path | None) -> list[Case]:
    """The three commands; the CLI through the console script unless measuring another checkout."""
    python = sys.executable
    script = Path(python).with_name("llm-grader")
    cli = [str(script)] if root is None and script.exists() else [python, "-m", "llm_grader"]
    return [
        Case("import llm_grader", [python, "-c", "import llm_grader"], checked=True),
        Case(
            "from llm_grader.agreement import cohen_kappa",
            [python, "-c", "from llm_grader.agreement import cohen_kappa"],
            checked=False,
        ),
        Case(
            "llm-grader rubric check internet_cs_qa",
            [*cli, "rubric", "check", "internet_cs_qa"],
            checked=True,
        ),
    ]


def _environment(root: Path | None, *, importtime: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    if root is not None:
        env["PYTHONPATH"] = str(root)
    if importtime:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    return env


def _run(case: Case, root: Path | None, cwd: Path, *, importtime: bool) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        case.argv,
        cwd=cwd,
        env=_environment(root, importtime=importtime),
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-20:])
        raise SystemExit(f"{case.label!r} failed with exit code {result.returncode}:\n{tail}")
    return result


def imported_packages(importtime_log: str) -> frozenset[str]:
    """The top-level package names in a ``-X importtime`` log (stderr)."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            names.add(name.split(".", 1)[0])
    return frozenset(names)


def measure(case: Case, root: Path | None, cwd: Path, runs: int) -> Measurement:
    """Best wall time of ``runs`` fresh runs, and the heavy packages one more run imports."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        _run(case, root, cwd, importtime=False)
        best = min(best, time.perf_counter() - started)
    log = _run(case, root, cwd, importtime=True).stderr
    return Measurement(case, best, imported_packages(log) & frozenset(HEAVY))


def table(measurements: list[Measurement], runs: int) -> str:
    """The results as a fixed-width text table."""
    width = max(len(m.case.label) for m in measurements)
    head = f"{'command':<{width}}  {f'best of {runs}':>10}  " + " ".join(f"{h:>10}" for h in HEAVY)
    lines = [head, "-" * len(head)]
    for m in measurements:
        marks = " ".join(f"{'yes' if h in m.imported else '-':>10}" for h in HEAVY)
        lines.append(f"{m.case.label:<{width}}  {m.best_s:>8.3f} s  {marks}")
    return "\n".join(lines)


def violations(measurements: list[Measurement]) -> list[str]:
    """What ``--check`` fails on: a checked command importing a forbidden package."""
    return [
        f"{m.case.label!r} imports {name}"
        for m in measurements
        if m.case.checked
        for name in FORBIDDEN
        if name in m.imported
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a forbidden package is imported")
    parser.add_argument("--root", type=Path, help="measure this checkout (PYTHONPATH=ROOT, python -m)")
    parser.add_argument("--runs", type=int, default=5, help="fresh runs per command (best is kept)")
    args = parser.parse_args(argv)
    root = args.root.resolve() if args.root else None
    # Run from the checkout measured: `python -c` puts the working directory first on sys.path.
    cwd = root or Path(__file__).resolve().parent.parent
    measurements = [measure(case, root, cwd, args.runs) for case in cases(root)]
    print(f"python {sys.version.split()[0]}, {cwd}")
    print(table(measurements, args.runs))
    cli = measurements[-1]
    verdict = "met" if cli.best_s < CLI_TARGET_S else "NOT met"
    print(f"target: {cli.case.label} under {CLI_TARGET_S} s wall ({verdict}; not enforced)")
    problems = violations(measurements)
    for problem in problems:
        print(f"import check: {problem}", file=sys.stderr)
    if args.check and problems:
        return 1
    if args.check:
        print(f"import check: OK (no {', '.join(FORBIDDEN)} in the checked commands)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
