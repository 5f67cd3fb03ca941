"""Calibration: alignment, per-item agreement, bootstrap intervals, variants, reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from llm_grader import load_rubric
from llm_grader.calibration import HumanScore, calibrate, compare_variants, load_human_scores
from llm_grader.errors import InputError, LLMGraderError
from llm_grader.report import results_html, to_markdown, write_report
from llm_grader.rubric import rubric_from_text
from llm_grader.scoring import Scorecard, score
from llm_grader.testing import confusion_probabilities
from llm_grader.types import Judgement

CARD = rubric_from_text("""\
id: sim
name: 模拟评分表
version: "1"
max_score: 20
categories:
  - id: c
    name: 类
    items:
      - id: quality
        name: 质量
        points: 10
        tiers: [{id: good, label: 好, points: 10}, {id: fair, label: 一般, points: 6}, {id: poor, label: 差, points: 0}]
      - id: greeting
        name: 开头语
        points: 10
        scale: binary
""")
TIERS = ["poor", "fair", "good"]  # worst first


def simulate(n: int, error_rate: float, seed: int) -> tuple[list[Scorecard], list[HumanScore], list[str]]:
    """Truth tiers with marginals 20/30/50 %; the model answers from a known confusion matrix."""
    rng = np.random.default_rng(seed)
    truth = list(rng.choice(TIERS, size=n, p=[0.2, 0.3, 0.5]))
    matrix = confusion_probabilities(TIERS, error_rate)
    cards, humans = [], []
    for i, t in enumerate(truth):
        answer = str(rng.choice(TIERS, p=[matrix[t][x] for x in TIERS]))
        greeting = "pass" if rng.random() < 0.7 else "fail"
        cards.append(score(CARD, [Judgement(item_id="quality", tier=answer), Judgement(item_id="greeting", tier=greeting)],
                           conversation_id=f"u{i}"))
        humans += [HumanScore(conversation_id=f"u{i}", rater="truth", item_id="quality", value=t),
                   HumanScore(conversation_id=f"u{i}", rater="truth", item_id="greeting", value=greeting)]
    return cards, humans, truth


def analytic_quadratic_kappa(error_rate: float) -> float:
    """Kappa of the expected joint distribution p(model=i, truth=j) = p_j · M[j][i]."""
    marg = dict(zip(TIERS, [0.2, 0.3, 0.5], strict=True))
    m = confusion_probabilities(TIERS, error_rate)
    joint = np.array([[marg[t] * m[t][x] for t in TIERS] for x in TIERS])  # rows model, cols truth
    k = len(TIERS)
    w = np.array([[((i - j) / (k - 1)) ** 2 for j in range(k)] for i in range(k)])
    expected = np.outer(joint.sum(axis=1), joint.sum(axis=0))
    return float(1 - (w * joint).sum() / (w * expected).sum())


def test_bootstrap_interval_contains_the_analytic_kappa() -> None:
    # error rate 0.3 → P(answer | truth) = poor: .7/.3/0, fair: .15/.7/.15, good: 0/.3/.7
    cards, humans, _ = simulate(400, 0.3, seed=11)
    report = calibrate(CARD, cards, humans, n_boot=500, seed=1)
    quality = next(i for i in report.items if i.item_id == "quality")
    expected = analytic_quadratic_kappa(0.3)
    assert 0.5 < expected < 0.8
    ci = quality.model_human.kappa_ci
    assert ci is not None and ci.low <= expected <= ci.high
    assert quality.model_human.n == 400 and quality.scale == "ordinal" and quality.weights == "quadratic"
    greeting = next(i for i in report.items if i.item_id == "greeting")
    assert greeting.scale == "binary" and greeting.model_human.exact == 1.0


def test_item_figures_confusion_and_disagreements() -> None:
    rows = [("u1", "good", "good", "好"), ("u2", "fair", "good", "一般"), ("u3", "poor", "fair", "差"),
            ("u4", "good", "poor", "好")]
    cards = [score(CARD, [Judgement(item_id="quality", tier=m), Judgement(item_id="greeting", tier="pass")],
                   conversation_id=c) for c, m, _, _ in rows]
    humans = []
    for cid, _, a, b in rows:
        humans += [HumanScore(conversation_id=cid, rater="a", item_id="quality", value=a),
                   HumanScore(conversation_id=cid, rater="b", item_id="quality", value=b)]
    report = calibrate(CARD, cards, humans, n_boot=50)
    (quality,) = report.items
    assert quality.labels == ["poor", "fair", "good"]
    # pairs (model, human): u1 (g,g)(g,g); u2 (f,g)(f,f); u3 (p,f)(p,p); u4 (g,p)(g,g) → 5 of 8 exact
    assert quality.model_human.n == 8 and quality.model_human.exact == 5 / 8
    assert quality.model_human.adjacent == 7 / 8
    assert quality.confusion == [[1, 1, 0], [0, 1, 1], [1, 0, 3]]
    # humans a vs b: u1 g/g, u2 g/f, u3 f/p, u4 p/g → 1 of 4
    assert quality.human_human is not None and quality.human_human.exact == 0.25
    first = report.disagreements[0]
    assert (first.conversation_id, first.item_id, first.model, first.distance) == ("u4", "quality", "good", 2)


def test_human_values_accept_labels_and_report_unknown_ones() -> None:
    cards = [score(CARD, [Judgement(item_id="quality", tier="good")], conversation_id="x")]
    ok = calibrate(CARD, cards, [HumanScore(conversation_id="x", rater="a", item_id="quality", value="好")], n_boot=10)
    assert ok.items[0].model_human.exact == 1.0
    with pytest.raises(LLMGraderError) as info:
        calibrate(CARD, cards, [HumanScore(conversation_id="x", rater="a", item_id="quality", value="优秀")])
    assert str(info.value) == ("human scores do not fit the rubric:\n"
                               "x/a/quality: '优秀' is not a tier of 'quality'; valid: fair, good, not_applicable, "
                               "poor, 一般, 好, 差")
    with pytest.raises(LLMGraderError, match="no conversation has both a scorecard and human scores"):
        calibrate(CARD, cards, [HumanScore(conversation_id="y", rater="a", item_id="quality", value="好")])


def test_unscored_model_items_are_counted_not_compared() -> None:
    cards = [score(CARD, [Judgement.unscored("quality", "timeout")], conversation_id="x"),
             score(CARD, [Judgement(item_id="quality", tier="fair")], conversation_id="y")]
    humans = [HumanScore(conversation_id=c, rater="a", item_id="quality", value="fair") for c in ("x", "y")]
    (quality,) = calibrate(CARD, cards, humans, n_boot=10).items
    assert (quality.unscored, quality.needs_review, quality.model_human.n) == (1, 1, 1)


def test_totals_and_fatal() -> None:
    flagship = load_rubric("internet_cs_qa")
    taboo = Judgement(item_id="politeness", tier="poor", flags={"service_taboo": True})
    cards = [score(flagship, [taboo], conversation_id="f"),
             score(flagship, [Judgement(item_id=i.id, tier=i.tiers[0].id) for _, i in flagship.items()],
                   conversation_id="ok")]
    humans = [HumanScore(conversation_id="f", rater="a", item_id="fatal", value="1"),
              HumanScore(conversation_id="ok", rater="a", item_id="fatal", value="1"),
              HumanScore(conversation_id="ok", rater="a", item_id="total", value="90")]
    report = calibrate(flagship, cards, humans, n_boot=10)
    assert report.fatal is not None
    assert (report.fatal.precision, report.fatal.recall, report.fatal.n) == (1.0, 0.5, 2)
    assert report.totals is not None and report.totals.n == 1 and report.totals.mae == 10
    assert report.disagreements[0].item_id == "fatal" and report.disagreements[0].conversation_id == "ok"


def test_compare_variants_calls_a_clear_improvement_better() -> None:
    cards_a, humans, _ = simulate(300, 0.5, seed=3)
    cards_b, _, _ = simulate(300, 0.05, seed=3)  # same truth (same seed), fewer errors
    comparison = compare_variants(CARD, cards_a, CARD, cards_b, humans, n_boot=300, seed=0)
    quality = next(i for i in comparison.items if i.item_id == "quality")
    assert quality.verdict == "better" and quality.interval.low > 0
    same = compare_variants(CARD, cards_a, CARD, cards_a, humans, n_boot=100)
    assert next(i for i in same.items if i.item_id == "quality").verdict == "not distinguishable"


def test_load_human_scores_formats(tmp_path: Path) -> None:
    csv_path = tmp_path / "h.csv"
    csv_path.write_text("conversation_id,rater,item_id,value\nx,a,quality,好\nx,a,total,85.5\n", encoding="utf-8")
    jsonl = tmp_path / "h.jsonl"
    jsonl.write_text('{"conversation_id": "x", "rater": "a", "item_id": "quality", "value": "good"}\n'
                     '{"conversation_id": "x", "rater": "a", "item_id": "fatal", "value": 0}\n', encoding="utf-8")
    assert [s.value for s in load_human_scores(csv_path)] == ["好", "85.5"]
    assert [s.value for s in load_human_scores(jsonl)] == ["good", "0"]
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset.from_list([{"conversation_id": "x", "rater": "a", "item_id": "quality", "value": "fair"}])
    assert load_human_scores(dataset)[0].value == "fair"
    bad = tmp_path / "bad.csv"
    bad.write_text("conversation_id,rater,item_id,value\nx,,quality,好\ny,a,quality,\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_human_scores(bad)
    assert [str(p) for p in info.value.problems] == [
        f"{bad}:2: rater: is missing; each row needs conversation_id, rater, item_id, value",
        f"{bad}:3: value: is missing; each row needs conversation_id, rater, item_id, value",
    ]
    header = tmp_path / "header.csv"
    header.write_text("conversation,rater,item,value\n", encoding="utf-8")
    with pytest.raises(InputError, match="header lacks conversation_id, item_id"):
        load_human_scores(header)


def test_reports_render(tmp_path: Path) -> None:
    cards, humans, _ = simulate(60, 0.2, seed=5)
    humans += [HumanScore(conversation_id=h.conversation_id, rater="second", item_id=h.item_id,
                          value=h.value if i % 4 else "fair") for i, h in enumerate(humans)]
    report = calibrate(CARD, cards, humans, n_boot=100)
    files = write_report(report, tmp_path)
    assert sorted(files) == ["confusion_matrices", "html", "json", "kappa_by_item", "markdown"]
    data = json.loads(files["json"].read_text(encoding="utf-8"))
    assert data["items"][0]["item_id"] == "quality" and data["conversations"] == 60
    markdown = files["markdown"].read_text(encoding="utf-8")
    assert "| quality 质量 | 有序 | 120 |" in markdown  # a zh rubric: the report is Chinese
    html = files["html"].read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 2 and "<table class=\"heat\">" in html
    assert files["kappa_by_item"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not math.isnan(report.items[0].model_human.kappa)
    assert to_markdown(report) == markdown
    page = results_html(cards[:3])
    assert page.count('<h2 id="u') == 3


def test_undefined_statistics_are_nan_with_the_count() -> None:
    # Every pair is (good, good): kappa's expected agreement is 1, so kappa is undefined.
    cards = [score(CARD, [Judgement(item_id="quality", tier="good")], conversation_id=f"u{i}") for i in range(12)]
    humans = [HumanScore(conversation_id=f"u{i}", rater="a", item_id="quality", value="good") for i in range(12)]
    (quality,) = calibrate(CARD, cards, humans, n_boot=40).items
    assert quality.model_human.exact == 1.0 and math.isnan(quality.model_human.kappa)
    ci = quality.model_human.kappa_ci
    assert ci is not None and math.isnan(ci.low) and ci.undefined == 40
