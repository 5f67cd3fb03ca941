"""Benchmark: rules-only grading against the I/O floor, in one run (issue 20.5).

    python eval/bench_rules.py [--conversations 5000] [--rubric internet_cs_qa --rubric phone_answering]
    python eval/bench_rules.py --profile 15     # also: the top functions of the grading run

Writes N synthetic conversations (the 14 of examples/conversations.jsonl cycled, each with a
new id) to a JSONL file, then, for each rubric, in this process and one after the other:

- **floor**: read the file a line at a time, ``json.loads`` each line, and write one JSON line
  per conversation as big as that rubric's real scorecard of it (``json.dumps`` of the card's
  dict with the id changed), synced once at the end: the reading and writing any grader does.
- **grade**: ``Grader(rubric).grade_many(stream_conversations(FILE), output=OUT, collect=False)``
  — the conversations parsed and checked, the rules run, the scorecards built and appended
  with the results writer's group commit, as ``llm-grader grade --rules-only`` does.

Prints seconds, conversations per second and the ratio grade / floor (target: at most 3x).
Each is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from llm_grader import Grader, load_rubric
from llm_grader.conversation import stream_conversations

ROOT = Path(__file__).resolve().parent.parent
TARGET = 3.0
"""Most the rules-only grading may cost, as a multiple of the floor."""


def generate(n: int, path: Path) -> list[dict[str, Any]]:
    """N conversations: the examples cycled, each with an id of its own; the seed records."""
    lines = (ROOT / "examples" / "conversations.jsonl").read_text("utf-8").splitlines()
    seed = [json.loads(line) for line in lines if line.strip()]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({**seed[i % len(seed)], "id": f"bench{i:07d}"}, ensure_ascii=False) + "\n")
    return seed


def scorecard_sizes(rubric: str, seed: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """The rubric's real scorecard of each seed conversation, as dicts (what the floor writes)."""
    grader = Grader(rubric)
    seed_file = path.with_name("seed.jsonl")
    seed_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in seed), encoding="utf-8")
    cards = [grader.grade(c) for c in stream_conversations(seed_file)]  # type: ignore[arg-type]
    return [json.loads(card.model_dump_json()) for card in cards]


def floor(source: Path, out: Path, cards: list[dict[str, Any]]) -> float:
    """Read and parse every line, write a scorecard-sized line for each, sync: the seconds taken."""
    started = time.perf_counter()
    with source.open(encoding="utf-8") as lines, out.open("w", encoding="utf-8") as f:
        for i, line in enumerate(lines):
            record = json.loads(line)
            f.write(
                json.dumps({**cards[i % len(cards)], "conversation_id": record["id"]}, ensure_ascii=False)
            )
            f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - started


def grade(rubric: str, source: Path, out: Path, profile: cProfile.Profile | None = None) -> float:
    """Rules-only grading of the file to ``out``: the seconds taken (rubric loading excluded)."""
    grader = Grader(load_rubric(rubric))
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    grader.grade_many(stream_conversations(source), output=out, collect=False)  # type: ignore[arg-type]
    if profile is not None:
        profile.disable()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--rubric", action="append", help="default: internet_cs_qa and phone_answering")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (the median is shown)")
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions of one grading run")
    args = parser.parse_args()
    rubrics = args.rubric or ["internet_cs_qa", "phone_answering"]
    n = args.conversations
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{n} conversations; {os.cpu_count()} cores, load average {load:.2f}; Python {sys.version.split()[0]}"
    )
    print(f"{'rubric':<16} {'floor':>9} {'grade':>9} {'floor/s':>9} {'grade/s':>9} {'grade/floor':>12}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "batch.jsonl"
        seed = generate(n, source)
        for rubric in rubrics:
            cards = scorecard_sizes(rubric, seed, source)
            floors, grades = [], []
            for _ in range(args.repeat):
                floors.append(floor(source, Path(tmp) / "floor.jsonl", cards))
                grades.append(grade(rubric, source, Path(tmp) / "cards.jsonl"))
            written = (Path(tmp) / "cards.jsonl").read_bytes().count(b"\n")
            assert written == n, f"{rubric}: {written} scorecards written of {n}"
            f, g = statistics.median(floors), statistics.median(grades)
            worst = max(worst, g / f)
            print(f"{rubric:<16} {f:>7.2f} s {g:>7.2f} s {n / f:>9.0f} {n / g:>9.0f} {g / f:>11.2f}x")
            if args.profile:
                profile = cProfile.Profile()
                grade(rubric, source, Path(tmp) / "cards.jsonl", profile)
                pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
    verdict = "met" if worst <= TARGET else "NOT met"
    print(f"target: grading <= {TARGET:g}x the floor ({verdict}: worst {worst:.2f}x)")


if __name__ == "__main__":
    main()
