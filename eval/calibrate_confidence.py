"""The calibration report's coverage–agreement curve on the shipped set, with a scripted judge.

    python eval/calibrate_confidence.py [-o REPORT_DIR] [--error-rate 0.2] [--seed 0]

The judge (in process, :class:`~llm_grader.testing.FakeJudge`) answers each item of
``eval/calibration/truth.jsonl`` with the consensus tier, except with probability e one tier
away; its token logprobs put the chosen tier's probability in 0.75–0.99 when it is right and
0.40–0.75 when it is wrong (seeded), so low confidence marks most of its errors. The report
(JSON, Markdown, HTML, PNG) is written against the two human raters into REPORT_DIR.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from llm_grader import Grader, load_conversations, load_rubric
from llm_grader.calibration import calibrate, load_human_scores
from llm_grader.llm import JudgeRequest
from llm_grader.report import write_report
from llm_grader.testing import FakeJudge, top_tier_answer

ROOT = Path(__file__).resolve().parent.parent
CAL = ROOT / "eval" / "calibration"


def _uniform(*key: object) -> float:
    digest = hashlib.sha256("|".join(map(str, key)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def main() -> None:
    """Grade, calibrate, write the report and print the coverage sentences."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="report directory (default: a temp dir)"
    )
    parser.add_argument("--error-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    rubric = load_rubric("internet_cs_qa")
    truth = {
        (t["conversation_id"], t["item_id"]): t
        for t in map(json.loads, (CAL / "truth.jsonl").read_text(encoding="utf-8").splitlines())
    }
    chosen: dict[tuple[str, str], tuple[str, float]] = {}

    def decide(request: JudgeRequest) -> tuple[dict[str, Any], float]:
        cid = request.context["conversation"].id if request.context else ""
        item = rubric.item(request.item_id)
        key = (cid, item.id)
        reply = top_tier_answer(item)
        known = truth.get(key)
        if known is None:
            return reply, 0.95
        tiers = [t.id for t in sorted(item.tiers, key=item.tier_points)]
        tier, wrong = known["tier"], _uniform(args.seed, cid, item.id, "err") < args.error_rate
        if wrong and tier in tiers:
            at = tiers.index(tier)
            tier = (
                tiers[at + 1]
                if at + 1 < len(tiers) and (at == 0 or _uniform(cid, item.id) < 0.5)
                else tiers[at - 1]
            )
        u = _uniform(args.seed, cid, item.id, "p")
        p = 0.40 + 0.35 * u if wrong else 0.75 + 0.24 * u
        reply.update(
            tier=tier,
            evidence=known["evidence"],
            flags=known.get("flags") or reply.get("flags", {}),
            rationale="脚本评分",
        )
        if tier != known["tier"] or tier == tiers[-1]:
            reply["flags"] = {f: False for f in reply.get("flags", {})}
        chosen[key] = (tier, p)
        return reply, p

    def script(request: JudgeRequest) -> dict[str, Any]:
        return decide(request)[0]

    def tier_probs(request: JudgeRequest) -> list[dict[str, float]]:
        reply, p = decide(request)
        others = [t.id for t in rubric.item(request.item_id).tiers if t.id != reply.get("tier")]
        return [{reply.get("tier", ""): p, **{t: (1 - p) / len(others) for t in others}}]

    conversations = load_conversations(CAL / "conversations.jsonl")
    grader = Grader(rubric, model=FakeJudge(script, tier_probs=tier_probs), cache=None)
    cards = grader.grade_many(conversations)
    humans = load_human_scores(CAL / "human_scores.csv")
    report = calibrate(rubric, cards, humans, n_boot=args.bootstrap, seed=args.seed)
    out = args.output or Path(tempfile.mkdtemp(prefix="calibration_confidence_"))
    files = write_report(report, out, conversations={c.id: c for c in conversations})
    for curve in report.coverage:
        print(f"{curve.item_id:>16}: {curve.sentence}")
    for kind, path in files.items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
