"""The calibration report opens with a verdict per item; a fatal mismatch is not a tier gap; to_frame (19.7)."""

from __future__ import annotations

import math

import pytest

from llm_grader import load_rubric
from llm_grader.calibration import (
    CalibrationReport,
    HumanScore,
    Interval,
    ItemAgreement,
    RaterAgreement,
    calibrate,
)
from llm_grader.report import to_html, to_markdown
from llm_grader.scoring import score
from llm_grader.types import Judgement

from .test_calibration import CARD, simulate


def agreement(kappa: float, *, ci: tuple[float, float] | None = None, hh: float | None = None,
              confusion: list[list[int]] | None = None, n: int = 20) -> ItemAgreement:
    return ItemAgreement(
        item_id="quality", name="质量", scale="ordinal", weights="quadratic", labels=["poor", "fair", "good"],
        tier_labels={"poor": "差", "fair": "一般", "good": "好"}, conversations=n, unscored=0, needs_review=0,
        model_human=RaterAgreement(n=n, exact=0.5, kappa=kappa, kappa_ci=Interval(low=ci[0], high=ci[1]) if ci else None),
        human_human=RaterAgreement(n=n, kappa=hh) if hh is not None else None,
        confusion=confusion or [[3, 1, 0], [1, 5, 1], [0, 2, 7]],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("item", "verdict"),
    [
        (agreement(0.70, ci=(0.55, 0.85), hh=0.72), "at_ceiling"),  # the ceiling is inside the interval
        (agreement(0.80, hh=0.72), "at_ceiling"),
        (agreement(0.40, ci=(0.25, 0.55), hh=0.80), "below_ceiling"),
        (agreement(math.nan, confusion=[[0, 0, 0], [0, 0, 0], [3, 4, 5]]), "model_one_tier"),
        (agreement(math.nan, confusion=[[0, 0, 3], [0, 0, 4], [0, 0, 5]]), "humans_one_tier"),
        (agreement(math.nan, confusion=[[1, 0, 0], [0, 0, 0], [0, 0, 1]], n=2), "kappa_undefined"),
        (agreement(math.nan, n=0), "no_pairs"),
        (agreement(0.75), "agrees"),
        (agreement(0.30), "weak"),
    ],
)
def test_each_item_gets_the_verdict_its_figures_call_for(item: ItemAgreement, verdict: str) -> None:
    assert item.verdict == verdict


def test_the_report_opens_with_plain_verdicts_in_the_rubric_language() -> None:
    cards, humans, _ = simulate(60, 0.2, seed=5)
    humans += [HumanScore(conversation_id=h.conversation_id, rater="second", item_id=h.item_id,
                          value=h.value if i % 4 else "fair") for i, h in enumerate(humans)]  # fmt: skip
    report = calibrate(CARD, cards, humans, n_boot=100)
    markdown = to_markdown(report)
    verdicts = markdown.split("## 结论(每个评分项)")[1].split("## 各评分项的一致性")[0]
    (line,) = [v for v in verdicts.splitlines() if v.startswith("- quality 质量:")]
    quality = report.items[0]
    if quality.verdict == "at_ceiling":
        assert "模型与你们的质检员的一致程度,和质检员彼此之间差不多" in line
    else:
        assert quality.verdict == "below_ceiling" and "低于人工一致性上限" in line and "请查看这些分歧" in line
    assert f"κ 模型–人工 {quality.model_human.kappa:.2f}" in line
    assert markdown.index("结论(每个评分项)") < markdown.index("各评分项的一致性")
    assert "<ul class=\"verdicts\"><li>quality 质量:" in to_html(report)
    english = CalibrationReport.model_validate({**report.model_dump(), "language": "en"})
    assert "## Verdict per item" in to_markdown(english)


def test_a_model_giving_one_tier_to_everything_is_said_so() -> None:
    cards = [score(CARD, [Judgement(item_id="quality", tier="good")], conversation_id=f"u{i}") for i in range(12)]
    humans = [HumanScore(conversation_id=f"u{i}", rater="a", item_id="quality", value=["good", "fair", "poor"][i % 3])
              for i in range(12)]  # fmt: skip
    report = calibrate(CARD, cards, humans, n_boot=20)
    assert report.items[0].verdict == "model_one_tier"
    assert "- quality 质量:kappa 无定义:模型对所有对话都给了同一档(好);完全一致率 0.33。" in to_markdown(report)
    english = CalibrationReport.model_validate({**report.model_dump(), "language": "en"})
    assert "kappa undefined: the model gave one tier to everything (好)" in to_markdown(english)


def test_a_fatal_mismatch_is_not_called_a_gap_of_tiers() -> None:
    flagship = load_rubric("internet_cs_qa")
    top = [Judgement(item_id=i.id, tier=i.tiers[0].id) for _, i in flagship.items()]
    cards = [score(flagship, top, conversation_id="ok")]
    humans = [HumanScore(conversation_id="ok", rater="a", item_id="fatal", value="1")]
    report = calibrate(flagship, cards, humans, n_boot=10)
    assert report.disagreements[0].item_id == "fatal"
    markdown, html = to_markdown(report), to_html(report)
    row = next(line for line in markdown.splitlines() if line.startswith("| ok | fatal"))
    assert "| 致命差错判定不一致 |" in row and "| 4 |" not in row
    assert "差距 致命差错判定不一致</summary>" in html and "差距 4</summary>" not in html


def test_to_frame_is_the_per_item_table() -> None:
    cards, humans, _ = simulate(40, 0.2, seed=3)
    report = calibrate(CARD, cards, humans, n_boot=50)
    frame = report.to_frame()
    assert list(frame["item_id"]) == [i.item_id for i in report.items]
    first = frame.iloc[0]
    item = report.items[0]
    assert first["kappa"] == item.model_human.kappa and first["n"] == item.model_human.n
    assert first["verdict"] == item.verdict and first["exact"] == item.model_human.exact
    assert item.model_human.kappa_ci is not None and first["kappa_low"] == item.model_human.kappa_ci.low
    assert math.isnan(first["hh_kappa"]) and first["hh_n"] == 0  # one rater: no human–human figure
    assert first["disagreements"] == sum(d.item_id == item.item_id for d in report.disagreements)
