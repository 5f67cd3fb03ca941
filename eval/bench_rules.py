"""Benchmark: rules-only grading throughput (no model) on synthetic batches.

    python eval/bench_rules.py [--conversations 2000] [--rubric phone_answering]

Loads the shipped examples, replicates them to the requested count with new ids, and
times loading, grading and writing. Prints conversations per second for each stage.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from llm_grader import Grader, load_conversations

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--rubric", default="phone_answering")
    args = parser.parse_args()

    seed = [
        json.loads(line)
        for line in (ROOT / "examples" / "conversations.jsonl").read_text("utf-8").splitlines()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "batch.jsonl"
        with source.open("w", encoding="utf-8") as f:
            for n in range(args.conversations):
                record = dict(seed[n % len(seed)], id=f"bench{n:06d}")
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

        t0 = time.perf_counter()
        batch = load_conversations(source)
        t1 = time.perf_counter()
        grader = Grader(args.rubric)
        cards = grader.grade_many(batch, output=Path(tmp) / "cards.jsonl")
        t2 = time.perf_counter()

    n = len(cards)
    print(f"rubric {args.rubric}: {n} conversations")
    print(f"load : {t1 - t0:7.3f} s  {n / (t1 - t0):9.0f} conv/s")
    print(f"grade: {t2 - t1:7.3f} s  {n / (t2 - t1):9.0f} conv/s (rules, scoring, fsync'd JSONL)")


if __name__ == "__main__":
    main()
