"""Fuzz benchmark: mutated input files through the loaders, each with a time bound.

    python eval/bench_fuzz.py [--seed 8] [--conversations 2000] [--rubrics 200] [--data 300] [--timeout 2]

Writes seeded mutations of the shipped examples and rubrics (see ``eval/fuzz_cases.py``) and
sends each file through ``load_conversations`` (then serialises every loaded conversation and
checks that no turn keeps a line break other than ``\\n``) or ``load_rubric`` + ``check_rubric``
(then judges every rule item on a long hostile conversation); and ``--data`` mutations each
of a results JSONL (``load_results``), human scores in CSV and JSONL (``load_human_scores``),
price tables in YAML and TOML (``load_prices``), a batch state file (``BatchState.load``, then
what a rerun reads of it) and downloaded batch results (``BatchResults``, every line read) —
each in a worker process that is killed when a case takes longer than ``--timeout`` seconds
and is limited to 3 GiB. An error of those five kinds must also be one short line.

Prints, per corpus, the files that gave clean errors (only llm-grader's own errors), that
loaded, that raised anything else (unexpected) or ran over time, with the seed, and the first
failing cases. Exits 1 when any case is unexpected or over time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import resource
import select
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fuzz_cases import DATA_KINDS, ROOT, Case, make_cases, make_data_cases

OTHER_LINE_BREAKS = re.compile(r"[\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
"""What str.splitlines breaks at besides \\n: the loaders store none of it."""
MEMORY_LIMIT = 3 * 2**30
"""Address space of a worker, in bytes."""


# --------------------------------------------------------------------------- the worker


def _problem_lines(errors: list[Any]) -> str | None:
    """Why the errors' messages break the one-line rule, or None."""
    for error in errors:
        for problem in error.problems:
            text = str(problem)
            if "\n" in text or "\r" in text or len(text) > 2_000:
                return f"problem message is not one short line: {text[:200]!r}"
    return None


def _jsonl_lines_lost(path: str, items: int) -> str | None:
    """In a UTF-8 JSONL file every non-blank line is one conversation or one error: say if not."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    lines = sum(1 for line in text.split("\n") if line.strip())
    if not path.endswith(".jsonl") or items == lines:
        return None
    return f"{lines} non-blank lines gave {items} conversations and errors"


def check_conversation_file(path: str) -> dict[str, Any]:
    from llm_grader.conversation import load_conversations

    batch = load_conversations(path)
    for conversation in batch:
        conversation.model_dump_json()
        for text in [conversation.notes or "", *(turn.text for turn in conversation.turns)]:
            if OTHER_LINE_BREAKS.search(text):
                return {
                    "outcome": "unexpected",
                    "detail": f"text keeps a line break other than \\n: {text[:80]!r}",
                }
    bad = _problem_lines(batch.errors) or _jsonl_lines_lost(path, len(batch) + len(batch.errors))
    if bad:
        return {"outcome": "unexpected", "detail": bad}
    return {
        "outcome": "error" if batch.errors else "loaded",
        "loaded": len(batch),
        "errors": len(batch.errors),
    }


def _hostile_conversation() -> Any:
    from llm_grader.conversation import Conversation

    texts = ["a" * 5_000 + "!", "喂" * 3_000 + "不清楚", "您好" * 2_000 + "再见" + "x" * 20_000]
    turns = [
        {
            "speaker": "agent" if i % 2 else "customer",
            "text": texts[i % 3],
            "start": i * 5.0,
            "end": i * 5.0 + 4,
        }
        for i in range(9)
    ]
    return Conversation(id="hostile", channel="call", notes="a" * 5_000, turns=turns)


def check_rubric_file(path: str) -> dict[str, Any]:
    from llm_grader._rules import judge_rule
    from llm_grader.errors import LLMGraderError
    from llm_grader.rubric import check_rubric, load_rubric

    _, problems = check_rubric(path)
    try:
        rubric = load_rubric(path)
    except LLMGraderError as exc:
        bad = _problem_lines([exc]) if hasattr(exc, "problems") else None
        return (
            {"outcome": "unexpected", "detail": bad}
            if bad
            else {"outcome": "error", "problems": len(problems)}
        )
    conversation = _hostile_conversation()
    for _, item in rubric.items():
        if item.rule is not None:
            judge_rule(item, conversation)
    return {"outcome": "loaded", "problems": len(problems)}


def _one_line(error: Exception) -> str | None:
    """Why an error's message (each problem's, when it has several) breaks the one-line rule, or None."""
    if hasattr(error, "problems"):
        return _problem_lines([error])
    text = str(error)
    if "\n" in text or "\r" in text or len(text) > 2_000:
        return f"message is not one short line: {text[:200]!r}"
    return None


def check_results_file(path: str) -> dict[str, Any]:
    from llm_grader import load_results

    return {"outcome": "loaded", "loaded": len(load_results(path))}


def check_human_file(path: str) -> dict[str, Any]:
    from llm_grader.calibration import load_human_scores

    return {"outcome": "loaded", "loaded": len(load_human_scores(path))}


def check_price_file(path: str) -> dict[str, Any]:
    from llm_grader.llm import load_prices, priced
    from llm_grader.types import Usage

    table = load_prices(path)
    priced(Usage(calls=1, prompt_tokens=10, completion_tokens=5), "gpt-4o-mini", prices=table)
    return {"outcome": "loaded"}


def check_state_file(path: str) -> dict[str, Any]:
    from llm_grader.batch import BatchState

    state = BatchState.load(path)
    # What a rerun reads next: the summary line and the downloaded files.
    shown = f"{state.status} {state.total} {state.completed} {state.failed} {', '.join(state.batch_ids)}"
    return {"outcome": "loaded", "ended": state.ended, "files": len(state.downloads()), "shown": len(shown)}


def check_batch_file(path: str) -> dict[str, Any]:
    from llm_grader.llm._batch_api import BatchResults

    results = BatchResults([Path(path)])
    ids = set()
    for raw in Path(path).read_bytes().split(b"\n"):
        try:
            found = json.loads(raw).get("custom_id")
        except (ValueError, AttributeError, RecursionError):
            continue
        if isinstance(found, str):
            ids.add(found)
    lines = [results.get(cid) for cid in sorted(ids)]
    return {"outcome": "loaded", "loaded": len(lines)}


CHECKS: dict[str, Callable[[str], dict[str, Any]]] = {
    "conversation": check_conversation_file,
    "rubric": check_rubric_file,
    "results": check_results_file,
    "human": check_human_file,
    "prices": check_price_file,
    "state": check_state_file,
    "batch": check_batch_file,
}
"""The check of each kind of file."""


def worker() -> None:
    """Answer one JSON line per request line: ``{"kind": ..., "path": ...}``."""
    # The slowest imports, before the clock runs for a case.
    importlib.import_module("llm_grader.llm._batch_api")
    from llm_grader.errors import LLMGraderError

    # A bomb that slips through must fail here with MemoryError, not take the machine down.
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        check = CHECKS[request["kind"]]
        try:
            answer = check(request["path"])
        except LLMGraderError as exc:
            bad = _one_line(exc) if request["kind"] not in ("conversation", "rubric") else None
            answer = {"outcome": "unexpected" if bad else "error", "detail": bad or str(exc)[:200]}
        except BaseException as exc:  # every other exception is what the fuzzing looks for
            where = traceback.extract_tb(exc.__traceback__)[-1]
            at = f"{Path(where.filename).name}:{where.lineno}"
            answer = {"outcome": "unexpected", "detail": f"{type(exc).__name__}: {str(exc)[:200]} at {at}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


# --------------------------------------------------------------------------- the runner


class Runner:
    """A worker process that is replaced when a case runs over time."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                cwd=ROOT,
            )
            assert self.proc.stdout is not None
            self.proc.stdout.readline()  # "ready": imports done, so they do not count against a case
        return self.proc

    def run(self, case: Case) -> dict[str, Any]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        started = time.perf_counter()
        proc.stdin.write(json.dumps({"kind": case.kind, "path": case.path}) + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        seconds = time.perf_counter() - started
        line = proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            outcome = "over-time" if not ready else "unexpected"
            return {"outcome": outcome, "detail": f"no answer after {seconds:.1f}s", "seconds": seconds}
        return {**json.loads(line), "seconds": seconds}

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
            self.proc = None


def run_cases(cases: list[Case], timeout: float) -> list[tuple[Case, dict[str, Any]]]:
    runner = Runner(timeout)
    try:
        return [(case, runner.run(case)) for case in cases]
    finally:
        runner.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--conversations", type=int, default=2_000)
    parser.add_argument("--rubrics", type=int, default=200)
    parser.add_argument("--data", type=int, default=300, help="files of each other kind")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per case")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cases = make_cases(args.seed, args.conversations, args.rubrics, Path(tmp))
        cases += make_data_cases(args.seed, args.data, Path(tmp))
        results = run_cases(cases, args.timeout)
    print(f"seed {args.seed}, {args.timeout:g} s per case, {time.perf_counter() - started:.0f} s in all")
    failed = []
    labels = [("conversation", "conversation files"), ("rubric", "rubric files")]
    labels += [(kind, f"{kind} files") for kind in DATA_KINDS]
    for kind, label in labels:
        mine = [(c, r) for c, r in results if c.kind == kind]
        counts = Counter(r["outcome"] for _, r in mine)
        print(
            f"{label:>20}: {len(mine):5d}  clean errors {counts['error']:5d}  loaded {counts['loaded']:5d}  "
            f"unexpected {counts['unexpected']:4d}  over-time {counts['over-time']:4d}"
        )
        failed += [(c, r) for c, r in mine if r["outcome"] in ("unexpected", "over-time")]
    for case, result in failed[:25]:
        print(f"  {result['outcome']}: {Path(case.path).name} [{case.ops}] {result.get('detail', '')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
