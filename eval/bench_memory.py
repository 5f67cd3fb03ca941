"""Benchmark: memory and wall time of ``llm-grader grade`` as the number of conversations grows.

    python eval/bench_memory.py                       # rules-only 1k / 10k / 100k, model 10k
    python eval/bench_memory.py --sizes 1000,10000 --model-size 2000
    python eval/bench_memory.py --model-size 0        # rules-only rows only
    python eval/bench_memory.py --trace 20000         # tracemalloc: what grows, in-process

Each row writes N synthetic conversations to a temporary JSONL file (the 14 of
examples/conversations.jsonl cycled, each with a new id) and runs the command line in a
subprocess: ``python -m llm_grader grade FILE -r RUBRIC -o OUT --no-cache`` with
``--rules-only``, or with ``--model`` against ``llm_grader.testing.FakeOpenAIServer``
(``top_tier_responder``, no latency) running in a process of its own. The maximum resident
set size is that subprocess's alone (``os.wait4``), so the server and this script are not
counted. The target (issue 10): 100k conversations use less than 2x the memory of 1k.

``--trace N`` grades N conversations rules-only in this process with the CLI's own code path
(``stream_batch`` + ``run_batch``) under tracemalloc and prints the allocation sites that
grew most between a snapshot after the first tenth and one at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "conversations.jsonl"


@dataclass
class Row:
    label: str
    conversations: int
    wall: float
    max_rss_mb: float
    exit_code: int
    graded: str


def generate(n: int, path: Path) -> None:
    """N conversations: the examples cycled, each with an id of its own."""
    records = [json.loads(line) for line in EXAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    with path.open("w", encoding="utf-8") as f:
        for i, record in zip(range(n), itertools.cycle(records)):
            f.write(json.dumps({**record, "id": f"m{i:07d}-{record['id']}"}, ensure_ascii=False) + "\n")


def serve(conn: Connection, rubric: str) -> None:
    """The scripted model server (in its own process) until told to stop."""
    import threading

    from llm_grader import load_rubric
    from llm_grader.testing import FakeOpenAIServer, top_tier_responder

    server = FakeOpenAIServer(top_tier_responder(load_rubric(rubric), delay=0.0))
    server._httpd.socket.listen(1024)
    stop = threading.Event()

    def forget() -> None:  # the server records every request; this bench needs none of them
        while not stop.wait(0.5):
            with server._lock:
                server.requests.clear()
                server.headers.clear()
                server.paths.clear()

    threading.Thread(target=forget, daemon=True).start()
    with server:
        conn.send(server.base_url)
        conn.recv()
        stop.set()


def run_cli(label: str, n: int, data: Path, args: argparse.Namespace, extra: list[str]) -> Row:
    """Run ``grade`` in a subprocess; its own maximum RSS from wait4."""
    output = data.with_name(f"out-{label}-{n}.jsonl")
    command = [sys.executable, "-m", "llm_grader", "grade", str(data), "-r", args.rubric, "-o", str(output)]
    command += ["--no-cache", "--concurrency", str(args.concurrency), *extra]
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "PYTHONHASHSEED": "0"}
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    # The pipes are drained by a thread each so a chatty run never blocks on a full pipe.
    chunks: dict[str, bytes] = {}

    def drain(name: str, stream: object) -> None:
        chunks[name] = stream.read()  # type: ignore[attr-defined]

    import threading

    readers = [
        threading.Thread(target=drain, args=(name, getattr(proc, name))) for name in ("stdout", "stderr")
    ]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    for reader in readers:
        reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    stdout = chunks["stdout"].decode()
    closing = next((line for line in reversed(stdout.splitlines()) if "graded" in line), "")
    if proc.returncode not in (0, 3):
        sys.stderr.write(chunks["stderr"].decode()[-2000:])
    written = sum(1 for _ in output.open(encoding="utf-8"))
    output.unlink()
    graded = closing.split(",")[0] + f" ({written} lines written)"
    return Row(label, n, wall, usage.ru_maxrss / 1024, proc.returncode, graded)


def trace(n: int, args: argparse.Namespace) -> None:
    """Grade n conversations in this process under tracemalloc; print what grew."""
    import gc
    import tracemalloc

    from llm_grader.cli._console import stream_batch
    from llm_grader.cli._grading import make_grader, run_batch
    from llm_grader.rubric import load_rubric

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "conversations.jsonl"
        generate(n, data)
        grader = make_grader(load_rubric(args.rubric), rules_only=True, no_cache=True)
        options = {"format": "auto", "channel_map": None, "time_unit": None, "channel": None}
        batch = stream_batch([data], None, grader.rubric.language, **options)
        snapshots: list[tracemalloc.Snapshot] = []
        original = grader.grade_many
        tracemalloc.start(6)

        def grade_many(conversations, **kwargs):  # type: ignore[no-untyped-def]
            seen = itertools.count(1)
            user = kwargs.pop("on_scorecard")

            def on_scorecard(card):  # type: ignore[no-untyped-def]
                user(card)
                if next(seen) == n // 10:
                    gc.collect()
                    snapshots.append(tracemalloc.take_snapshot())

            return original(conversations, on_scorecard=on_scorecard, **kwargs)

        grader.grade_many = grade_many  # type: ignore[method-assign]
        run_batch(grader, batch, Path(tmp) / "out.jsonl", resume=False, collect=False)
        gc.collect()
        end = tracemalloc.take_snapshot()
        print(f"tracemalloc: current {tracemalloc.get_traced_memory()[0] / 2**20:.1f} MB at the end")
        tracemalloc.stop()
    for stat in end.compare_to(snapshots[0], "traceback")[:10]:
        print(f"{stat.size_diff / 2**20:+.2f} MB ({stat.count_diff:+d} blocks)")
        for line in stat.traceback.format()[-6:]:
            print("   ", line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000", help="Rules-only runs (comma-separated).")
    parser.add_argument("--model-size", type=int, default=10000, help="Model run size (0: none).")
    parser.add_argument("--rubric", default="internet_cs_qa")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--trace", type=int, default=0, help="tracemalloc N conversations in-process instead."
    )
    args = parser.parse_args()
    if args.trace:
        trace(args.trace, args)
        return
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        for n in sizes:
            data = Path(tmp) / f"conversations-{n}.jsonl"
            generate(n, data)
            rows.append(run_cli("rules-only", n, data, args, ["--rules-only"]))
            print(rows[-1], file=sys.stderr)
            data.unlink()
        if args.model_size:
            context = multiprocessing.get_context("spawn")
            conn, child = context.Pipe()
            server = context.Process(target=serve, args=(child, args.rubric), daemon=True)
            server.start()
            base_url = conn.recv()
            try:
                data = Path(tmp) / f"conversations-{args.model_size}.jsonl"
                generate(args.model_size, data)
                extra = ["--model", "fake", "--base-url", base_url]
                rows.append(run_cli("scripted model", args.model_size, data, args, extra))
            finally:
                conn.send("stop")
                server.join(timeout=10)
    print(
        f"\nllm-grader grade, rubric {args.rubric}, concurrency {args.concurrency}, --no-cache; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n"
    )
    print("| run | conversations | wall | max RSS | exit | closing line |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cells = [
            r.label,
            f"{r.conversations:,}",
            f"{r.wall:.1f} s",
            f"{r.max_rss_mb:.0f} MB",
            r.exit_code,
            r.graded,
        ]
        print("| " + " | ".join(map(str, cells)) + " |")
    base = next((r for r in rows if r.label == "rules-only"), None)
    big = max((r for r in rows if r.label == "rules-only"), key=lambda r: r.conversations, default=None)
    if base and big and big is not base:
        ratio = big.max_rss_mb / base.max_rss_mb
        verdict = "met" if ratio < 2 else "NOT met"
        print(
            f"\n{big.conversations:,} vs {base.conversations:,} rules-only: {ratio:.2f}x the memory "
            f"(target < 2x: {verdict})"
        )


if __name__ == "__main__":
    main()
