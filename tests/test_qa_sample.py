"""Sampling plans for human QA and the stratified review batch (issue 19.4)."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_grader._qa_sample import sample_plan, sample_size
from llm_grader._results import ResultsWriter, load_results
from llm_grader.cli import app
from llm_grader.errors import LLMGraderError
from llm_grader.review import ReviewBatch
from llm_grader.scoring import Scorecard, score
from llm_grader.types import Judgement

from .test_calibration import CARD

TIERS = ["good", "fair", "poor"]  # 10 / 6 / 0 points; greeting pass 10 / fail 0


def card(cid: str, agent: str, quality: str, greeting: str = "pass", *, open_: bool = False) -> Scorecard:
    judgements = [Judgement(item_id="quality", tier=quality)]
    if not open_:
        judgements.append(Judgement(item_id="greeting", tier=greeting))
    graded = score(CARD, judgements, conversation_id=cid)
    return graded.model_copy(update={"metadata": {"agent_id": agent}})


def population(seed: int = 1) -> list[Scorecard]:
    rng = random.Random(seed)
    cards = []
    for agent, size in (("A1", 200), ("A2", 40), ("A3", 1)):
        for n in range(size):
            cards.append(card(f"{agent}-{n:03d}", agent, rng.choice(TIERS), rng.choice(["pass", "fail"])))
    return cards


def test_sample_size_is_the_normal_formula_with_finite_population_correction() -> None:
    n0 = (1.959964 * 10 / 3) ** 2  # 42.68
    assert sample_size(10, 3, 100_000) == math.ceil(n0 / (1 + (n0 - 1) / 100_000)) == 43
    assert sample_size(10, 3, 1000) == 41  # 42.68 / (1 + 41.68 / 1000) = 40.97
    assert sample_size(10, 3, 12) == 10 and sample_size(40, 1, 12) == 12  # never more than the group
    assert sample_size(10, 3, 1000, confidence=0.99) > sample_size(10, 3, 1000)
    assert sample_size(None, 3, 7) == 7  # spread unknown: every conversation
    assert sample_size(0.0, 3, 50) == 2  # no spread seen: still two, to see one
    with pytest.raises(LLMGraderError):
        sample_size(10, 0, 100)


def test_the_plan_per_agent_and_its_strata() -> None:
    cards = population()
    cards += [card("A2-fatal", "A2", "good").model_copy(update={"fatal": True}),
              card("A2-open", "A2", "good", open_=True).model_copy(update={"fatal": None})]  # fmt: skip
    plan = sample_plan(cards, by="metadata.agent_id", margin=3, seed=7)
    a1, a2, a3 = plan.groups
    assert [g.group for g in plan.groups] == ["A1", "A2", "A3"]
    totals = [c.total_score for c in cards if c.metadata["agent_id"] == "A1"]
    s = float(__import__("statistics").stdev(totals))
    assert a1.spread == pytest.approx(s) and a1.spread_source == "group"
    assert a1.needed == sample_size(s, 3, 200) and len(a1.control) == a1.needed
    assert a2.fatal == ("A2-fatal",) and a2.undetermined == ("A2-open",) and a2.complete == 41
    assert a3.spread_source == "pooled" and a3.needed == 1  # one conversation: the group, whole
    assert "low-confidence stratum is skipped" in plan.notes[0] and "A3" in plan.notes[1]
    tagged = {c.conversation_id: c.metadata["review_sample"] for c in plan.cards}
    assert tagged["A2-fatal"].split(",")[-1] == "fatal" and "undetermined" in tagged["A2-open"]
    assert sum("control" in t.split(",") for t in tagged.values()) == a1.needed + a2.needed + a3.needed
    assert [c.conversation_id for c in plan.cards] == sorted(tagged, key=lambda i: (i.split("-")[0], i))


def test_the_control_sample_is_drawn_independently_of_the_grade() -> None:
    cards = population()
    # The same conversations with their grades shuffled within each agent: the spread, and so n,
    # are unchanged; a control drawn on the grade would change, this one must not.
    shuffled = []
    for agent in ("A1", "A2", "A3"):
        mine = [c for c in cards if c.metadata["agent_id"] == agent]
        grades = [c.items for c in mine]
        random.Random(3).shuffle(grades)
        shuffled += [c.model_copy(update={"items": g}) for c, g in zip(mine, grades, strict=True)]
    first, again = sample_plan(cards, seed=11), sample_plan(shuffled, seed=11)
    assert [g.control for g in first.groups] == [g.control for g in again.groups]
    assert [g.control for g in sample_plan(cards, seed=12).groups] != [g.control for g in first.groups]
    assert [g.control for g in sample_plan(cards, seed=11).groups] == [g.control for g in first.groups]


def test_mixed_rubric_versions_are_refused_with_the_versions_named() -> None:
    cards = population()[:5]
    cards.append(cards[0].model_copy(update={"conversation_id": "x", "rubric_version": "2"}))
    with pytest.raises(LLMGraderError, match=r"sim v1, sim v2"):
        sample_plan(cards)


def test_sample_writes_a_review_batch_the_review_page_opens(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    writer = ResultsWriter(results)
    for c in population():
        writer.write(c)
    writer.close()
    out = tmp_path / "review-batch"
    result = CliRunner().invoke(app, ["sample", str(results), "--by", "metadata.agent_id", "--margin", "3",
                                      "-o", str(out)], env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    batch = ReviewBatch.build(CARD, load_results(out / "scorecards.jsonl"))
    with (out / "plan.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["group"] for r in rows] == ["A1", "A2", "A3"]
    assert len(batch.cards) == sum(int(r["control"]) for r in rows)  # nothing fatal or open in this set
    assert all(c.metadata["review_sample"] == "control" for c in batch.cards)
    assert f"llm-grader review {out / 'scorecards.jsonl'}" in result.output
    again = CliRunner().invoke(app, ["sample", str(results), "-o", str(out)])
    assert again.exit_code == 1 and "not an empty folder" in str(again.exception)
    bad = CliRunner().invoke(app, ["sample", str(results), "--confidence", "1.5", "-o", str(tmp_path / "b")])
    assert bad.exit_code == 2
