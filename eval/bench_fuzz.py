"""Fuzz benchmark: mutated conversation and rubric files through the loaders, each with a time bound.

    python eval/bench_fuzz.py [--seed 8] [--conversations 2000] [--rubrics 200] [--timeout 2]

Writes seeded mutations of the shipped examples and rubrics (see ``eval/fuzz_cases.py``) and
sends each file through ``load_conversations`` (then serialises every loaded conversation and
checks that no turn keeps a line break other than ``\\n``) or ``load_rubric`` + ``check_rubric``
(then judges every rule item on a long hostile conversation), in a worker process that is
killed when a case takes longer than ``--timeout`` seconds and is limited to 3 GiB.

Prints, per corpus, the files that gave clean errors (only llm-grader's own errors), that
loaded, that raised anything else (unexpected) or ran over time, with the seed, and the first
failing cases. Exits 1 when any case is unexpected or over time.
"""

from __future__ import annotations

import argparse
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

from fuzz_cases import ROOT, Case, make_cases

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
    from llm_grader.errors import LLMGraderError
    from llm_grader.rubric import check_rubric, load_rubric
    from llm_grader.rules import judge_rule

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


def worker() -> None:
    """Answer one JSON line per request line: ``{"kind": ..., "path": ...}``."""
    from llm_grader.errors import LLMGraderError

    # A bomb that slips through must fail here with MemoryError, not take the machine down.
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    for line in sys.stdin:
        request = json.loads(line)
        check: Callable[[str], dict[str, Any]] = (
            check_conversation_file if request["kind"] == "conversation" else check_rubric_file
        )
        try:
            answer = check(request["path"])
        except LLMGraderError as exc:
            answer = {"outcome": "error", "detail": str(exc)[:200]}
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
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per case")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cases = make_cases(args.seed, args.conversations, args.rubrics, Path(tmp))
        results = run_cases(cases, args.timeout)
    print(f"seed {args.seed}, {args.timeout:g} s per case, {time.perf_counter() - started:.0f} s in all")
    failed = []
    for kind, label in (("conversation", "conversation files"), ("rubric", "rubric files")):
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
