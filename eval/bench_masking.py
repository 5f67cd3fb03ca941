"""Benchmark: precision and recall of personal-data masking on the labelled corpus.

    python eval/bench_masking.py [--corpus tests/data/pii/cases.jsonl] [--show-errors]

A found span counts as correct only when its start, end and kind all match an expected one.
Prints precision / recall / F1 per kind and overall, cases fully right per tag (negatives:
nothing masked), and the detection speed. It reports; ``tests/test_masking.py`` asserts.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from llm_grader.conversation import find_personal_data

ROOT = Path(__file__).resolve().parent.parent


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:6.3f}" if whole else "     -"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "data" / "pii" / "cases.jsonl")
    parser.add_argument("--show-errors", action="store_true", help="print every missed or extra span")
    args = parser.parse_args()

    cases = [json.loads(line) for line in args.corpus.read_text("utf-8").splitlines() if line.strip()]
    true_pos: Counter[str] = Counter()
    false_pos: Counter[str] = Counter()
    false_neg: Counter[str] = Counter()
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    started = time.perf_counter()
    found_all = [find_personal_data(case["text"]) for case in cases]
    elapsed = time.perf_counter() - started

    for case, found in zip(cases, found_all, strict=True):
        expected = {(s["start"], s["end"], s["kind"]) for s in case["spans"]}
        got = {(s.start, s.end, s.kind) for s in found}
        for span in got & expected:
            true_pos[span[2]] += 1
        for span in got - expected:
            false_pos[span[2]] += 1
        for span in expected - got:
            false_neg[span[2]] += 1
        group = ("positive " if expected else "negative ") + case["tag"]
        total[group] += 1
        right[group] += got == expected
        if args.show_errors and got != expected:
            text = case["text"]
            print(f"{case['id']}: {text}")
            print(f"  missed: {[(text[a:b], k) for a, b, k in sorted(expected - got)]}")
            print(f"  extra : {[(text[a:b], k) for a, b, k in sorted(got - expected)]}")

    positives = sum(bool(c["spans"]) for c in cases)
    negatives = len(cases) - positives
    print(f"corpus {args.corpus.name}: {len(cases)} cases, {positives} positive, {negatives} negative")
    print("kind       expected  found   TP   FP   FN   prec recall     F1")
    kinds = sorted(set(true_pos) | set(false_pos) | set(false_neg))
    for kind in [*kinds, "overall"]:
        tp, fp, fn = (
            (sum(c.values()) for c in (true_pos, false_pos, false_neg))
            if kind == "overall"
            else (true_pos[kind], false_pos[kind], false_neg[kind])
        )
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        print(
            f"{kind:<10} {tp + fn:>8} {tp + fp:>6} {tp:>4} {fp:>4} {fn:>4} "
            f"{_ratio(tp, tp + fp)} {_ratio(tp, tp + fn)} {f1}"
        )
    print("cases fully right, by tag:")
    for group in sorted(total):
        print(f"  {group:<18} {right[group]:>4} / {total[group]:<4}")
    chars = sum(len(c["text"]) for c in cases)
    print(f"speed: {chars / elapsed:,.0f} characters/s ({len(cases) / elapsed:,.0f} sentences/s)")


if __name__ == "__main__":
    main()
