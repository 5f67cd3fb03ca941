"""The batch results page writes numbers as they are: partial totals as ranges, undetermined
overrides as undetermined, points without misleading rounding, deductions with their counts."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from llm_grader._messages import text
from llm_grader.report import results_html
from llm_grader.scoring import ItemResult, Scorecard
from llm_grader.scoring._scorecard import PendingOverride
from llm_grader.types import Audit, Occurrence


def item(item_id: str, **fields: Any) -> ItemResult:
    return ItemResult(**{"item_id": item_id, "name": item_id.title(), "category_id": "cat", "judge": "model",
                         "max_points": 5.0, **fields})


def found(severe: bool = False) -> Occurrence:
    return Occurrence(turn=2, speaker="agent", quote="喂", start_char=0, end_char=1, severe=severe)


def card(conversation_id: str, total: float | None, items: list[ItemResult], **fields: Any) -> Scorecard:
    return Scorecard(conversation_id=conversation_id, rubric_id="r", rubric_version="1", total_score=total,
                     max_score=100.0, items=items, **fields)


GREETING = item("greeting", max_points=1.5, tier="good", tier_label="好", points=1.5)
HALF = item("closing", max_points=1.5, tier="fair", tier_label="一般", points=0.75)
TWICE = item("forbidden", judge="rule", max_points=0.0, occurrences=[found(), found(severe=True)],
             deduction=3.0, points=-3.0)
LIMITED = item("filler", judge="rule", max_points=0.0, occurrences=[found()], deduction=2.0, points=-1.0)
NONE = item("rude", judge="rule", max_points=0.0, occurrences=[], deduction=0.0, points=-0.0)
UNSCORED = item("answer_rigor", error="model call failed", needs_review=True,
                audit=Audit(model="m", failure="transport"))
PARTIAL = card(
    "c2", 40.0, [GREETING, UNSCORED], complete=False, total_min=45.0, total_max=95.0, fatal=None,
    unscored_points=5.0, masked={"mobile": 2},
    pending_overrides=[PendingOverride(id="wrong_answer", kind="fatal", reason="整体解答错误", blocking=["answer_rigor"])],
)
CARDS = [
    card("c1", 87.5, [GREETING, HALF, TWICE, LIMITED, NONE]),
    PARTIAL,
    card("c3", 90.0, [GREETING]),
    card("c10", 85.0, [GREETING]),
]


def plain(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def row(page: str, conversation_id: str) -> list[str]:
    """The cells of a conversation's row in the overview table, as text."""
    match = re.search(rf'<tr class="conv-row" data-id="{conversation_id}"[^>]*>(.*?)</tr>', page)
    assert match, conversation_id
    return [plain(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", match.group(1))]


def item_cells(page: str, conversation_id: str, item_id: str) -> tuple[str, str]:
    """The tier and points cells of an item in a conversation's section."""
    section = page.split(f'<section class="conv" data-id="{conversation_id}">')[1].split("</section>")[0]
    match = re.search(rf'<tr class="item" data-item="{item_id}">(.*?)</tr>', section, re.S)
    assert match, item_id
    tier = re.search(r'<td class="tier">(.*?)</td>', match.group(1), re.S)
    points = re.search(r'<td class="num points">(.*?)</td>', match.group(1), re.S)
    assert tier and points
    return plain(tier.group(1)), plain(points.group(1))


@pytest.fixture(scope="module")
def page() -> str:
    return results_html(CARDS)


def test_the_mean_counts_complete_scorecards_only_and_says_what_it_left_out(page: str) -> None:
    summary = re.search(r'<p class="meta" id="summary">(.*?)</p>', page)
    assert summary
    assert plain(summary.group(1)) == (
        "4 conversations · mean total 87.5 over 3 complete scorecards; 1 partial left out"
        " · fatal 0 (1 undetermined) · zero score 0 · items to review 1"
    )
    # An item not graded by design (a rules-only run: no model) is not a review task (issue 19.5).
    by_design = item("answer_rigor", error="not graded", needs_review=True)
    left = results_html([PARTIAL.model_copy(update={"items": [GREETING, by_design]})])
    assert "items to review 0" in left and "needs_review.csv" in left and 'data-review="0"' in left
    one = results_html([CARDS[0], PARTIAL, PARTIAL.model_copy(update={"conversation_id": "c9"})])
    assert "mean total 87.5 over 1 complete scorecard; 2 partial left out" in one
    assert "mean total — (no complete scorecard); 1 partial left out" in results_html([PARTIAL])


def test_a_partial_total_is_a_range_never_a_bare_number(page: str) -> None:
    assert row(page, "c2") == ["c2", "partial 45–95 / 100", "1",
                               "fatal: undetermined (blocked by answer_rigor)partial"]
    assert row(page, "c1")[:2] == ["c1", "87.5 / 100"]
    assert "<h2 id=\"c2\">c2 — partial 45–95 / 100</h2>" in page
    assert "c2 — 40" not in page and ">40 / 100<" not in page
    unknown = PARTIAL.model_copy(update={"total_min": None, "total_max": None})
    assert row(results_html([unknown]), "c2")[1] == "partial (no range in the results) / 100"
    assert text("report.partial", "zh", low="45", high="95", points="100") == "部分 45–95 / 100"


def test_undetermined_fatal_is_never_shown_as_no(page: str) -> None:
    section = page.split('<section class="conv" data-id="c2">')[1].split("</section>")[0]
    verdicts = re.search(r'<p class="verdicts">(.*?)</p>', section)
    assert verdicts and plain(verdicts.group(1)) == "fatal: undetermined (blocked by answer_rigor) · zero score: no"
    assert "5 points ungraded · masked before sending: mobile 2" in section
    assert 'data-fatal="1"' in page.split('data-id="c2"')[1][:200]  # the fatal filter shows it


def test_points_are_not_rounded_into_something_else(page: str) -> None:
    assert item_cells(page, "c1", "greeting") == ("好", "1.5 / 1.5")
    assert item_cells(page, "c1", "closing") == ("一般", "0.75 / 1.5")
    assert item_cells(page, "c2", "answer_rigor") == ("unscored review", "— / 5")


def test_deductions_show_their_count_and_a_minus_sign(page: str) -> None:
    assert item_cells(page, "c1", "forbidden") == ("2 occurrences (1 severe)", "−3")
    assert item_cells(page, "c1", "filler") == ("1 occurrence", "−1 (−2 before the group limit)")
    assert item_cells(page, "c1", "rude") == ("none", "0")
    assert "-0" not in page.split('<div id="sections">')[1].split("<script")[0]
    assert "/ 0<" not in page


def test_sorting_by_total_uses_the_lowest_a_partial_total_can_be(page: str) -> None:
    totals = dict(re.findall(r'data-id="(\w+)" data-total="([^"]*)"', page))
    assert totals == {"c1": "87.5", "c2": "45.0", "c3": "90.0", "c10": "85.0"}
    assert "total (partial: lowest it can be)" in page
