"""Grade the human-scored calibration set with a simulated grader of known error rates.

    python eval/calibrate_simulated.py [-o REPORT_DIR] [--error-rate 0.2] [--seed 0]

The simulated grader (``llm_grader.testing.simulated_responder``) answers through the real
openai SDK and instructor, via the local fake server: for each item it keeps the consensus
tier of ``eval/calibration/truth.jsonl`` with probability 1 − e and otherwise moves one tier
up or down. Its confusion matrix is therefore known, and so is the kappa it should reach
against the consensus: kappa of the expected joint table p(truth) · P(answer | truth). The
script prints, per item, that analytic value beside the harness's kappa against the
consensus and its bootstrap interval, then writes the full report against the two human
raters (Markdown, HTML, JSON, PNG) into REPORT_DIR.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from pydantic import SecretStr

from llm_grader import Grader, ModelSettings, load_conversations, load_rubric
from llm_grader.calibration import HumanScore, calibrate, load_human_scores
from llm_grader.report import write_report
from llm_grader.testing import FakeOpenAIServer, confusion_probabilities, simulated_responder

ROOT = Path(__file__).resolve().parent.parent
CAL = ROOT / "eval" / "calibration"


def analytic_kappa(labels: list[str], truth: list[str], error_rate: float, weighted: bool) -> float:
    """Expected kappa of the simulated grader against ``truth`` (empirical marginals)."""
    counts = Counter(truth)
    p = np.array([counts[x] / len(truth) for x in labels])
    m = confusion_probabilities(labels, error_rate)
    joint = np.array([[p[j] * m[t][a] for j, t in enumerate(labels)] for a in labels])  # rows answer
    k = len(labels)
    if weighted:
        w = np.array([[((i - j) / (k - 1)) ** 2 for j in range(k)] for i in range(k)])
    else:
        w = 1.0 - np.eye(k)
    expected = np.outer(joint.sum(axis=1), joint.sum(axis=0))
    return float(1 - (w * joint).sum() / (w * expected).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="report directory (default: a temp dir)"
    )
    parser.add_argument("--error-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    rubric = load_rubric("internet_cs_qa")
    batch = load_conversations(CAL / "conversations.jsonl", strict=True)
    humans = load_human_scores(CAL / "human_scores.csv")
    rows = [
        json.loads(line) for line in (CAL / "truth.jsonl").read_text(encoding="utf-8").splitlines() if line
    ]
    truth = {(r["conversation_id"], r["item_id"]): r for r in rows}
    consensus = [
        HumanScore(
            conversation_id=r["conversation_id"], rater="consensus", item_id=r["item_id"], value=r["tier"]
        )
        for r in rows
    ]

    with tempfile.TemporaryDirectory() as tmp:
        responder = simulated_responder(
            Grader(rubric), list(batch), truth, error_rates=args.error_rate, seed=args.seed
        )
        with FakeOpenAIServer(responder) as server:
            settings = ModelSettings(model="simulated", base_url=server.base_url, api_key=SecretStr("sk-sim"))
            cards = Grader(rubric, model=settings, cache=Path(tmp) / "cache.sqlite").grade_many(batch)
        versus_truth = calibrate(rubric, cards, consensus, n_boot=args.bootstrap, seed=args.seed)
        print(f"simulated grader, error rate {args.error_rate}: kappa against the consensus")
        print(f"{'item':16} {'n':>3} {'analytic':>9} {'harness':>8}  {'95% CI':15} inside")
        inside = 0
        for item in versus_truth.items:
            labels = item.labels
            tiers = [r["tier"] for r in rows if r["item_id"] == item.item_id]
            expected = analytic_kappa(labels, tiers, args.error_rate, item.weights == "quadratic")
            ci = item.model_human.kappa_ci
            ok = ci is not None and ci.low <= expected <= ci.high
            inside += ok
            low, high = (ci.low, ci.high) if ci else (float("nan"), float("nan"))
            print(
                f"{item.item_id:16} {item.model_human.n:3d} {expected:9.3f} {item.model_human.kappa:8.3f}  "
                f"[{low:5.2f}, {high:5.2f}]  {'yes' if ok else 'NO'}"
            )
        print(f"{inside} of {len(versus_truth.items)} analytic values inside the 95% bootstrap interval")

        report = calibrate(rubric, cards, humans, n_boot=args.bootstrap, seed=args.seed)
        out = args.output or Path(tmp) / "report"
        files = write_report(report, out, conversations={c.id: c for c in batch})
        print("\nagainst the two human raters:")
        for item in report.items:
            hh = item.human_human.kappa if item.human_human else float("nan")
            print(f"  {item.item_id:16} model–human {item.model_human.kappa:6.3f}   human–human {hh:6.3f}")
        if args.output:
            for kind, path in files.items():
                print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
