"""Import-time benchmark: how long the package and the CLI take to start, and what they load.

Measures, each in fresh subprocesses (median of ``--runs``, after one warm-up run):

(0) ``python -c pass`` — Python's own start-up, the baseline the targets are counted from
(a) ``python -c "import llm_grader"``
(b) ``python -c "from llm_grader.agreement import cohen_kappa"``
(c) ``llm-grader rubric check internet_cs_qa``
(d) ``llm-grader rubric show internet_cs_qa``
(e) ``llm-grader grade ONE.jsonl -r internet_cs_qa --rules-only -o OUT --overwrite --no-cache``
    (one conversation of examples/conversations.jsonl)

and, once more for each command, which modules it leaves loaded: the command runs inside a
small ``-c`` wrapper that calls the CLI's ``main()`` and then prints ``sys.modules``. Prints a
table with the heavy third-party packages each command loads and the time beyond ``pass``.

``--check`` exits 1 when ``import llm_grader`` or one of the CLI commands above loads a
module of :data:`FORBIDDEN` (the model client and what only a model call needs, plotting,
templating, numpy). The wall-time targets (:data:`TARGETS_S`, beyond ``python -c pass``) are
printed, not enforced: timings on a shared CI machine are too noisy to fail a build on.

The subprocesses run with byte-code caching on (``PYTHONDONTWRITEBYTECODE`` removed), as an
installed wheel runs; the warm-up run writes the ``__pycache__`` files.

``--root DIR`` measures another checkout of the repository (e.g. a ``git worktree`` of an
older commit): it runs with ``PYTHONPATH=DIR`` and ``python -m llm_grader`` instead of the
installed console script.

    python eval/bench_import.py
    python eval/bench_import.py --check
    python eval/bench_import.py --root /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HEAVY = ("openai", "instructor", "httpx", "matplotlib", "jinja2", "numpy", "sklearn")
"""The packages whose import is reported."""

FORBIDDEN = (
    "openai",
    "instructor",
    "httpx",
    "aiohttp",
    "tenacity",
    "jiter",
    "llm_grader.llm._instructor",
    "llm_grader.llm._batch_api",
    "matplotlib",
    "jinja2",
    "numpy",
)
"""What ``import llm_grader`` and the checked CLI commands must not load (``--check``)."""

TARGETS_S = {"rubric check": 0.4, "rules-only grade": 0.6}
"""Wall-time targets beyond ``python -c pass``, by case key (printed, not enforced)."""

ROOT = Path(__file__).resolve().parent.parent

_MARK = "@@modules@@"
_WRAPPER = (
    "import sys\n"
    "sys.argv = ['llm-grader', *sys.argv[1:]]\n"
    "from llm_grader.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "else:\n"
    "    code = 0\n"
    f"print({_MARK!r} + ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    "sys.exit(code)\n"
)
"""Runs the CLI with the arguments given, then prints the loaded module names on stderr."""


@dataclass(frozen=True)
class Case:
    label: str
    argv: list[str]
    checked: bool  # --check fails when this case loads a FORBIDDEN module
    key: str = ""  # the TARGETS_S key, if any
    cli: tuple[str, ...] | None = None  # the CLI arguments, for the modules run


@dataclass(frozen=True)
class Measurement:
    case: Case
    median_s: float
    imported: frozenset[str]
    """Every module name loaded at the end of the command."""


def _one_conversation(tmp: Path) -> Path:
    path = tmp / "one.jsonl"
    first = (ROOT / "examples" / "conversations.jsonl").read_text(encoding="utf-8").splitlines()[0]
    path.write_text(first + "\n", encoding="utf-8")
    return path


def cases(root: Path | None, tmp: Path) -> list[Case]:
    """The commands; the CLI through the console script unless measuring another checkout."""
    python = sys.executable
    script = Path(python).with_name("llm-grader")
    cli = [str(script)] if root is None and script.exists() else [python, "-m", "llm_grader"]
    one = _one_conversation(tmp)
    check = ("rubric", "check", "internet_cs_qa")
    show = ("rubric", "show", "internet_cs_qa")
    grade = ("grade", str(one), "-r", "internet_cs_qa", "--rules-only", "-o", str(tmp / "out.jsonl"))
    grade += ("--overwrite", "--no-cache")
    return [
        Case("python -c pass", [python, "-c", "pass"], checked=False),
        Case("import llm_grader", [python, "-c", "import llm_grader"], checked=True),
        Case(
            "from llm_grader.agreement import cohen_kappa",
            [python, "-c", "from llm_grader.agreement import cohen_kappa"],
            checked=False,
        ),
        Case("llm-grader rubric check internet_cs_qa", [*cli, *check], True, "rubric check", check),
        Case("llm-grader rubric show internet_cs_qa", [*cli, *show], True, "", show),
        Case("llm-grader grade ONE --rules-only", [*cli, *grade], True, "rules-only grade", grade),
    ]


def _environment(root: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as installed: byte code cached
    if root is not None:
        env["PYTHONPATH"] = str(root)
    return env


def _run(argv: list[str], label: str, root: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, cwd=cwd, env=_environment(root), capture_output=True, text=True, encoding="utf-8", check=False
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-20:])
        raise SystemExit(f"{label!r} failed with exit code {result.returncode}:\n{tail}")
    return result


def loaded_modules(case: Case, root: Path | None, cwd: Path) -> frozenset[str]:
    """Every module name the command leaves in ``sys.modules`` (one more run)."""
    if case.cli is not None:
        argv = [sys.executable, "-c", _WRAPPER, *case.cli]
    else:  # a ``python -c CODE`` case: the same code, then the modules
        code = case.argv[-1]
        argv = [
            sys.executable,
            "-c",
            f"{code}\nimport sys\nprint({_MARK!r} + ' '.join(sorted(sys.modules)), file=sys.stderr)",
        ]
    stderr = _run(argv, case.label, root, cwd).stderr
    line = next((x for x in reversed(stderr.splitlines()) if x.startswith(_MARK)), None)
    if line is None:
        raise SystemExit(f"{case.label!r} printed no module list:\n{stderr[-2000:]}")
    return frozenset(line[len(_MARK) :].split())


def forbidden_in(modules: frozenset[str]) -> list[str]:
    """The :data:`FORBIDDEN` names loaded (a package counts when it or a submodule is)."""
    return [name for name in FORBIDDEN if any(m == name or m.startswith(name + ".") for m in modules)]


def measure(case: Case, root: Path | None, cwd: Path, runs: int) -> Measurement:
    """Median wall time of ``runs`` fresh runs after a warm-up, and the modules one more run loads."""
    _run(case.argv, case.label, root, cwd)  # warm-up: byte code written, files in the page cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        _run(case.argv, case.label, root, cwd)
        times.append(time.perf_counter() - started)
    return Measurement(case, statistics.median(times), loaded_modules(case, root, cwd))


def table(measurements: list[Measurement], runs: int) -> str:
    """The results as a fixed-width text table (time beyond ``python -c pass`` in the last column)."""
    base = measurements[0].median_s
    width = max(len(m.case.label) for m in measurements)
    head = f"{'command':<{width}}  {f'median of {runs}':>12}  {'beyond pass':>11}  "
    head += " ".join(f"{h:>10}" for h in HEAVY)
    lines = [head, "-" * len(head)]
    for m in measurements:
        tops = {name.split(".", 1)[0] for name in m.imported}
        marks = " ".join(f"{'yes' if h in tops else '-':>10}" for h in HEAVY)
        lines.append(f"{m.case.label:<{width}}  {m.median_s:>10.3f} s  {m.median_s - base:>9.3f} s  {marks}")
    return "\n".join(lines)


def violations(measurements: list[Measurement]) -> list[str]:
    """What ``--check`` fails on: a checked command loading a forbidden module."""
    return [
        f"{m.case.label!r} imports {name}"
        for m in measurements
        if m.case.checked
        for name in forbidden_in(m.imported)
    ]


def targets(measurements: list[Measurement]) -> list[str]:
    """One line per wall-time target: the figure beyond ``python -c pass`` and whether it is met."""
    base = measurements[0].median_s
    lines = []
    for m in measurements:
        if m.case.key in TARGETS_S:
            limit, beyond = TARGETS_S[m.case.key], m.median_s - base
            verdict = "met" if beyond <= limit else "NOT met"
            shown = f"{beyond:.3f} s ({verdict}; not enforced)"
            lines.append(f"target: {m.case.key} <= {limit} s beyond python -c pass: {shown}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a forbidden module is loaded")
    parser.add_argument("--root", type=Path, help="measure this checkout (PYTHONPATH=ROOT, python -m)")
    parser.add_argument("--runs", type=int, default=5, help="fresh runs per command (the median is kept)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    root = args.root.resolve() if args.root else None
    # Run from the checkout measured: `python -c` puts the working directory first on sys.path.
    cwd = root or ROOT
    with tempfile.TemporaryDirectory() as tmp:
        measurements = [measure(case, root, cwd, args.runs) for case in cases(root, Path(tmp))]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {sys.version.split()[0]}, {cwd}, {os.cpu_count()} cores, load average {load:.2f}")
    print(table(measurements, args.runs))
    for line in targets(measurements):
        print(line)
    if args.json:
        figures = {
            m.case.label: {
                "median_s": m.median_s,
                "beyond_pass_s": m.median_s - measurements[0].median_s,
                "forbidden": forbidden_in(m.imported),
            }
            for m in measurements
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    problems = violations(measurements)
    for problem in problems:
        print(f"import check: {problem}", file=sys.stderr)
    if args.check and problems:
        return 1
    if args.check:
        print(f"import check: OK (none of {', '.join(FORBIDDEN)} in the checked commands)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
