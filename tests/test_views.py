"""One presentation layer (llm_grader._views) and text in the rubric's language everywhere:
the CLI tables, the results page, the review pages and the calibration report with its plots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llm_grader._calibration_report import figures, to_html, to_markdown
from llm_grader._views import item_verdict, override_state, total_text
from llm_grader.calibration import calibrate
from llm_grader.cli import app
from llm_grader.report import results_html
from llm_grader.rubric import rubric_from_text
from llm_grader.scoring import ItemResult, Scorecard

from .conftest import EXAMPLES
from .test_calibration import CARD, simulate


def card(**fields: Any) -> Scorecard:
    return Scorecard(**{"conversation_id": "c1", "rubric_id": "r", "rubric_version": "1", "total_score": 87.5,
                        "max_score": 100.0, "items": [], **fields})


def test_total_text_writes_a_partial_card_as_its_range_in_both_languages() -> None:
    assert total_text(card(), "zh") == total_text(card(), "en") == "87.5 / 100"
    partial = card(complete=False, total_score=40.0, total_min=45.0, total_max=94.444)
    assert total_text(partial, "zh") == "部分 45–94.44 / 100"
    assert total_text(partial, "en") == "partial 45–94.44 / 100"
    unknown = card(complete=False, total_min=None, total_max=None)
    assert total_text(unknown, "en") == "partial (no range in the results) / 100"
    assert "40" not in total_text(partial, "zh")  # never the bare total of a partial card


def test_override_state_and_item_verdict() -> None:
    from llm_grader.scoring._scorecard import PendingOverride

    pending = card(fatal=None, pending_overrides=[PendingOverride(id="f", kind="fatal", reason="r", blocking=["a", "b"])])
    state = override_state(pending, "fatal", "zh")
    assert (state.state, state.name, state.text, state.blocking) == (None, "致命差错", "待定 (待评项:a, b)", ("a", "b"))
    assert override_state(card(fatal=False), "fatal", "en").text == "no"
    item = ItemResult(item_id="x", name="X", category_id="c", judge="rule", max_points=0.0, occurrences=[],
                      deduction=2.0, points=-2.0)
    assert item_verdict(item, "zh") == "−2(发现 0 处,应扣 2)"


@pytest.mark.parametrize(("rubric", "headers", "absent"), [
    ("internet_cs_qa", ["评分卡", "对话", "渠道", "总分", "已评", "未评", "否决项/备注"], "conversation"),
    ("internet_cs_qa_en", ["scorecards", "conversation", "channel", "total", "graded", "unscored", "overrides / notes"], "渠道"),
])
def test_grade_rules_only_prints_the_table_in_the_rubric_language(
    tmp_path: Path, rubric: str, headers: list[str], absent: str
) -> None:
    result = CliRunner().invoke(app, ["grade", str(EXAMPLES / "conversations.jsonl"), "-r", rubric, "--rules-only",
                                      "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    table = result.output[: result.output.index("c001")]
    assert all(h in table for h in headers), table
    assert absent not in table


EN_CARD = rubric_from_text("""\
id: sim_en
name: Simulated
version: "1"
language: en
max_score: 20
categories:
  - id: c
    name: Cat
    items:
      - id: quality
        name: Quality
        points: 10
        tiers: [{id: good, label: Good, points: 10}, {id: fair, label: Fair, points: 6}, {id: poor, label: Poor, points: 0}]
      - id: greeting
        name: Greeting
        points: 10
        scale: binary
""")


def _report(rubric: Any) -> Any:
    cards, humans, _ = simulate(40, 0.2, seed=3)
    cards = [c.model_copy(update={"rubric_id": rubric.id}) for c in cards]
    return calibrate(rubric, cards, humans, n_boot=50)


def _figure_text(report: Any) -> list[str]:
    import matplotlib.pyplot as plt

    found = figures(report)
    try:
        return [t.get_text() for f in found.values() for t in f.findobj(match=lambda a: hasattr(a, "get_text"))]
    finally:
        for f in found.values():
            plt.close(f)


def test_a_zh_rubric_gets_a_chinese_calibration_report_with_its_tier_labels() -> None:
    report = _report(CARD)
    assert report.language == "zh" and report.items[0].tier_labels == {"good": "好", "fair": "一般", "poor": "差"}
    markdown = to_markdown(report)
    assert markdown.startswith("# 校准报告 — sim v1") and "## 各评分项的一致性" in markdown
    assert "| 模型 \\ 人工 | 差 | 一般 | 好 |" in markdown and "| **差** |" in markdown
    assert not re.search(r"\b(good|fair|poor|Agreement per item|ordinal)\b", markdown)
    page = to_html(report)
    assert '<html lang="zh-CN">' in page and "<th>差</th><th>一般</th><th>好</th>" in page and "混淆矩阵" in page
    texts = _figure_text(report)
    assert {"好", "一般", "差", "人工", "模型", "模型–人工"} <= set(texts)
    assert not {"good", "fair", "poor", "human", "model"} & set(texts)


def test_an_en_rubric_gets_an_english_calibration_report() -> None:
    report = _report(EN_CARD)
    markdown = to_markdown(report)
    assert markdown.startswith("# Calibration report — sim_en v1") and "| model \\ human | Poor | Fair | Good |" in markdown
    assert not re.search(r"[\u4e00-\u9fff]", markdown.replace("致命差错", ""))
    assert '<html lang="en">' in to_html(report)
    texts = _figure_text(report)
    assert {"Good", "Fair", "Poor", "human", "model", "model vs human"} <= set(texts)


def test_the_results_page_speaks_the_language_it_is_given() -> None:
    partial = card(conversation_id="c2", complete=False, total_min=45.0, total_max=95.0)
    zh = results_html([card(), partial], language="zh")
    assert '<html lang="zh-CN">' in zh and "<th>对话</th><th>总分</th>" in zh and "部分 45–95 / 100" in zh
    assert "llm-grader 评分结果" in zh and "needs review" not in zh
    en = results_html([card(), partial])
    assert '<html lang="en">' in en and "<th>conversation</th><th>total</th>" in en and "partial 45–95 / 100" in en


def test_report_command_writes_the_page_in_the_results_rubric_language(tmp_path: Path) -> None:
    results = tmp_path / "out.jsonl"
    graded = CliRunner().invoke(app, ["grade", str(EXAMPLES / "conversations.jsonl"), "-r", "internet_cs_qa_en",
                                      "--rules-only", "-o", str(results)])
    assert graded.exit_code == 0, graded.output
    for extra, lang in (([], "en"), (["-r", "internet_cs_qa"], "zh-CN")):
        page = tmp_path / f"{lang}.html"
        done = CliRunner().invoke(app, ["report", str(results), "-o", str(page), *extra])
        assert done.exit_code == 0, done.output
        assert f'<html lang="{lang}">' in page.read_text(encoding="utf-8")
