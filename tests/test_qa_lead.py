"""The QA lead's view: grouped results, coaching evidence, the dashboard page."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_grader import coaching_rows, dashboard_html, load_results, write_coaching
from llm_grader._groups import group_summary, mean_interval, summarise, welch, wilson
from llm_grader.cli import app
from llm_grader.errors import InputError, LLMGraderError
from llm_grader.scoring import Scorecard

ROOT = Path(__file__).resolve().parent.parent


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_qa_set", ROOT / "eval" / "make_qa_set.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_qa_set"] = module
    spec.loader.exec_module(module)
    return module


GEN = _generator()


@pytest.fixture(scope="module")
def qa_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Scorecard]]:
    out = tmp_path_factory.mktemp("qa")
    conversations, scorecards = GEN.generate(out, 400, seed=1)
    return conversations, scorecards, load_results(scorecards)


def test_intervals_match_textbook_values() -> None:
    p, low, high = wilson(5, 10, 0.95)
    assert (p, round(low or 0, 4), round(high or 0, 4)) == (0.5, 0.2366, 0.7634)
    assert wilson(0, 10, 0.95)[1:] == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson(0, 0, 0.95) == (None, None, None)
    mean, low, high = mean_interval([1, 2, 3, 4, 5], 0.95)
    assert mean == 3 and high is not None and round(high - 3, 3) == 1.963  # t(0.975, 4) = 2.776
    assert mean_interval([7.0], 0.95) == (7.0, None, None)
    change = welch([1, 2, 3], [11, 12, 13], 0.95)
    assert change is not None and change[0] == 10 and change[1] > 0


def test_the_planted_weak_agent_and_drift_are_found(qa_set: tuple[Path, Path, list[Scorecard]]) -> None:
    cards = qa_set[2]
    frame = group_summary(cards, by="metadata.agent_id,metadata.team")
    assert len(frame) == 20 and set(frame["metadata.team"]) == {"T1", "T2", "T3"}
    weak = frame.set_index("metadata.agent_id").loc[GEN.WEAK_AGENT]
    others = frame[frame["metadata.agent_id"] != GEN.WEAK_AGENT]
    assert weak["mean_high"] < others["mean"].min()  # clearly the weakest, interval included
    assert weak["failure_rate.first_response_time"] == 1.0  # the slow first reply, found by the rule
    assert "first_response_time" in weak["top_losses"] or weak["points_lost.first_response_time"] == 5.0
    assert frame["conversations"].sum() == 400
    assert (frame["complete"] + frame["partial"] + frame["undetermined"] == frame["conversations"]).all()
    weeks = group_summary(cards, by="metadata.team", period="week")
    assert list(weeks.columns[:3]) == ["metadata.team", "rubric", "period"]
    t2 = weeks[weeks["metadata.team"] == GEN.DRIFT_TEAM]
    assert len(t2) == GEN.WEEKS and t2["drift"].isna().tolist() == [True] + [False] * (GEN.WEEKS - 1)
    assert t2["mean"].iloc[-1] - t2["mean"].iloc[0] > 20  # planted: about +33
    flat = weeks[weeks["metadata.team"] == "T3"]
    assert abs(flat["mean"].iloc[-1] - flat["mean"].iloc[0]) < 15


def test_only_groups_with_a_narrow_interval_are_ranked(qa_set: tuple[Path, Path, list[Scorecard]]) -> None:
    cards = qa_set[2]
    ranked = summarise(cards, "metadata.team", rank_width=100)
    assert sorted(g.rank for g in ranked if g.rank is not None) == [1, 2, 3]
    best = min(ranked, key=lambda g: g.rank or 99)
    assert best.mean == max(g.mean or 0 for g in ranked)
    unranked = summarise(cards, "metadata.agent_id", rank_width=0.5)
    assert all(g.rank is None and g.rank_note and g.rank_note.startswith("n too small") for g in unranked)
    one = summarise(cards[:1], "metadata.agent_id")
    assert one[0].rank is None and "no interval" in (one[0].rank_note or "")


def test_rubric_versions_are_never_pooled(qa_set: tuple[Path, Path, list[Scorecard]]) -> None:
    cards = [c.model_copy(update={"rubric_version": "9.9"}) if n % 2 else c for n, c in enumerate(qa_set[2])]
    shipped = qa_set[2][0].rubric_version
    groups = summarise(cards, "metadata.team", rank_width=100)
    assert {(g.rubric, g.key) for g in groups} == {
        (f"internet_cs_qa v{v}", (t,)) for v in (shipped, "9.9") for t in ("T1", "T2", "T3")
    }
    for version in (f"internet_cs_qa v{shipped}", "internet_cs_qa v9.9"):  # ranked within each version
        assert sorted(g.rank for g in groups if g.rubric == version) == [1, 2, 3]
    weeks = summarise(cards, "metadata.team", period="week")
    first = [g for g in weeks if g.key == ("T1",) and g.period == "2024-W10"]
    assert len(first) == 2 and all(g.drift is None for g in first)  # no drift across versions


def test_a_period_needs_a_start_time(qa_set: tuple[Path, Path, list[Scorecard]]) -> None:
    card = qa_set[2][0]
    bare = card.model_copy(update={"metadata": {"agent_id": "A01"}})
    with pytest.raises(InputError) as caught:
        summarise([bare], "metadata.agent_id", period="week")
    assert caught.value.problems[0].file == card.conversation_id
    assert "metadata.started_at" in str(caught.value)
    dated = card.model_copy(update={"metadata": {"agent_id": "A01", "date": "2024-03-31"}})
    assert [g.period for g in summarise([dated], "metadata.agent_id", period="month")] == ["2024-03"]
    assert [g.period for g in summarise([dated], "metadata.agent_id", period="week")] == ["2024-W13"]
    with pytest.raises(InputError, match="not an ISO-8601"):
        summarise([card.model_copy(update={"metadata": {"date": "yesterday"}})], "metadata.agent_id", period="day")


def test_group_summary_says_how_to_get_pandas(
    qa_set: tuple[Path, Path, list[Scorecard]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(LLMGraderError, match=r'pip install "llm-grader\[pandas\]"'):
        group_summary(qa_set[2], by="metadata.agent_id")
    assert summarise(qa_set[2], "metadata.agent_id")  # the page needs no pandas


def test_coaching_rows_quote_verified_evidence_and_team_examples(
    qa_set: tuple[Path, Path, list[Scorecard]], tmp_path: Path
) -> None:
    cards = qa_set[2]
    rows = coaching_rows(cards, "metadata.agent_id,metadata.team")
    lost = [r for r in rows if r.kind == "lost"]
    examples = [r for r in rows if r.kind == "example"]
    assert lost and examples
    team = {c.metadata["agent_id"]: c.metadata["team"] for c in cards}
    by_id = {c.conversation_id: c for c in cards}
    for row in lost[:200]:
        result = by_id[row.conversation_id].item(row.item_id)
        assert row.points_lost > 0 and any(e.verified and e.quote == row.quote for e in result.evidence)
    for row in examples:
        assert row.example_agent != row.agent and team[row.example_agent] == row.team
        assert by_id[row.conversation_id].item(row.item_id).points == row.max_points
    # A quote that a spreadsheet would run is written as text.
    card = next(c for c in cards if any(r.conversation_id == c.conversation_id for r in lost))
    row = next(r for r in lost if r.conversation_id == card.conversation_id)
    result = card.item(row.item_id)
    evil = result.evidence[0].model_copy(update={"quote": '=HYPERLINK("http://x")'})
    poisoned = card.model_copy(
        update={
            "items": [
                i.model_copy(update={"evidence": [evil]}) if i.item_id == row.item_id else i for i in card.items
            ]
        }
    )
    target = tmp_path / "coaching.csv"
    assert write_coaching(target, coaching_rows([poisoned], "metadata.agent_id")) >= 1
    cells = [r["quote"] for r in csv.DictReader(target.read_text(encoding="utf-8-sig").splitlines())]
    assert "'=HYPERLINK(\"http://x\")" in cells


def test_unverified_quotes_are_not_coaching_evidence(qa_set: tuple[Path, Path, list[Scorecard]]) -> None:
    card = next(c for c in qa_set[2] if any(i.evidence and (i.points or 0) < i.max_points for i in c.items))
    unverified = card.model_copy(
        update={
            "items": [
                i.model_copy(update={"evidence": [e.model_copy(update={"verified": False}) for e in i.evidence]})
                for i in card.items
            ]
        }
    )
    assert coaching_rows([card], "metadata.agent_id")
    assert coaching_rows([unverified], "metadata.agent_id") == []


def test_dashboard_page_in_chinese_with_links(qa_set: tuple[Path, Path, list[Scorecard]]) -> None:
    html = dashboard_html(qa_set[2], "metadata.agent_id,metadata.team", results_href="r.html", language="zh")
    assert "质检看板" in html and "失分率" in html and "辅导证据" in html and "<svg" in html
    assert 'href="r.html#ids=q' in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no external asset
    english = dashboard_html(qa_set[2], "metadata.team", language="en")
    assert "QA dashboard" in english and "质检看板" not in english


def test_report_by_writes_dashboard_results_page_and_coaching(
    qa_set: tuple[Path, Path, list[Scorecard]], tmp_path: Path
) -> None:
    page, coaching = tmp_path / "page.html", tmp_path / "coach.csv"
    args = ["report", str(qa_set[1]), "--by", "metadata.agent_id,metadata.team", "--period", "week"]
    done = CliRunner().invoke(app, [*args, "-o", str(page), "--coaching", str(coaching)])
    assert done.exit_code == 0, done.output
    assert "page.results.html#ids=" in page.read_text(encoding="utf-8")
    assert (tmp_path / "page.results.html").is_file() and coaching.read_text(encoding="utf-8-sig").startswith("agent,")
    wrong = CliRunner().invoke(app, ["report", str(qa_set[1]), "--period", "week", "-o", str(page)])
    assert wrong.exit_code == 2 and "--by" in wrong.output
    bad = CliRunner().invoke(app, [*args[:4], "--period", "year", "-o", str(page)])
    assert bad.exit_code == 2
