"""Blind labels (issue 18.8): the AI grade hidden until the reviewer's own label, stored, exported, calibrated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llm_grader.calibration import calibrate, load_human_scores
from llm_grader.errors import InputError
from llm_grader.report import to_markdown
from llm_grader.review import Filters, ReviewApp, ReviewError, VerdictStore, tier_choices, write_human_scores
from llm_grader.review._blind import blind_filters, labelled, reveal

from .test_review import RUBRIC, Graded, call, grade_examples, verdict

GRADE = "<strong>好</strong>"
"""How an item's AI tier appears on the page (c004's items are 好 but one rule item)."""


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    return grade_examples(tmp_path_factory.mktemp("graded"))


def blind_form(app: ReviewApp, reviewer: str, tier: str, item: str = "efficiency", **fields: str) -> dict[str, str]:
    form = {"csrf": app.csrf, "conversation": "c004", "item": item, "reviewer": reviewer}
    return form | {"decision": "blind", "blind": "1", "tier": tier, **fields}


def as_(reviewer: str) -> dict[str, str]:
    return {"HTTP_COOKIE": f"llm_grader_reviewer={reviewer}"}


# ---------------------------------------------------------------------- store and batch


def test_a_version_1_database_is_upgraded_and_blind_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as old:  # the schema before blind labels
        old.executescript(
            "CREATE TABLE verdicts (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL,"
            " item_id TEXT NOT NULL, reviewer TEXT NOT NULL, decision TEXT NOT NULL, tier TEXT,"
            " original_tier TEXT, reason TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL, at TEXT NOT NULL);"
            "INSERT INTO verdicts (conversation_id, item_id, reviewer, decision, original_tier, kind, at)"
            " VALUES ('c004', 'efficiency', 'qa1', 'accept', 'good', 'review', '2025-01-01T00:00:00+00:00');"
            "PRAGMA user_version=1;"
        )
    old.close()
    with VerdictStore(db) as store:
        assert store.history()[0].verdict.blind is False
        store.record("c004", "efficiency", verdict(reviewer="qa2", original_tier="good", blind=True))
    with VerdictStore(db) as store:
        assert [s.verdict.blind for s in store.history()] == [False, True]
    with sqlite3.connect(db) as again:
        assert again.execute("PRAGMA user_version").fetchone()[0] == 2
    again.close()


def test_labels_keep_every_reviewers_blind_label(tmp_path: Path) -> None:
    with VerdictStore(tmp_path / "r.sqlite") as store:
        store.record("c004", "efficiency", verdict(reviewer="qa1", decision="override", tier="poor", original_tier="good", blind=True))
        store.record("c004", "efficiency", verdict(reviewer="qa2", original_tier="good", blind=True))
        store.record("c002", "expression", verdict(reviewer="qa1", original_tier="good"))
        store.record("c002", "expression", verdict(reviewer="qa2", decision="override", tier="fair", original_tier="good", reason="x"))
        labels = store.labels()
        assert len(store.latest()) == 2  # the latest per item, as before
    out = tmp_path / "human.csv"
    assert write_human_scores(labels, out) == 3
    assert out.read_text(encoding="utf-8-sig").splitlines() == [
        "conversation_id,rater,item_id,value,blind",
        "c002,qa2,expression,fair,0",  # not blind: the later verdict replaced qa1's
        "c004,qa1,efficiency,poor,1",  # blind: both reviewers' labels are kept
        "c004,qa2,efficiency,good,1",
    ]


def test_a_blind_label_is_the_reviewers_own_tier(graded: Graded) -> None:
    batch = graded.batch
    same = batch.verdict("c004", "efficiency", reviewer="qa1", decision="blind", tier="good", blind=True)
    assert (same.decision, same.tier, same.original_tier, same.blind, same.reason) == ("accept", None, "good", True, "")
    other = batch.verdict("c004", "efficiency", reviewer="qa1", decision="", tier="poor", blind=True)
    assert (other.decision, other.tier, other.blind) == ("override", "poor", True)  # no reason needed: it was blind
    with pytest.raises(ReviewError, match=r"^tier None is not one of good, fair, poor"):
        batch.verdict("c004", "efficiency", reviewer="qa1", decision="accept", blind=True)
    with pytest.raises(ReviewError, match=r"a blind label is a review"):
        batch.verdict("c004", "efficiency", reviewer="qa1", decision="", tier="poor", kind="appeal", blind=True)
    with pytest.raises(ReviewError, match=r"a reviewer name is required"):
        batch.verdict("c004", "efficiency", reviewer=" ", decision="", tier="poor", blind=True)


def test_reveal_and_filters(graded: Graded) -> None:
    card = graded.batch.card("c004")
    every = {r.item_id for r in card.items}
    assert reveal(graded.batch, card, frozenset(), blind=False) == reveal(graded.batch, card, frozenset(every), blind=True)
    partly = reveal(graded.batch, card, frozenset({"efficiency"}), blind=True)
    assert (partly.items, partly.card) == (frozenset({"efficiency"}), False)
    leaky = Filters.from_query({"fatal": "1", "needs_review": "1", "sort": "total", "item": "efficiency", "text": "c0"})
    assert blind_filters(leaky) == Filters(text="c0")
    assert labelled([], "qa1") == {} and labelled([], "") == {}


# ---------------------------------------------------------------------- the app


@pytest.fixture
def blind_app(graded: Graded, tmp_path: Path) -> ReviewApp:
    store = VerdictStore(tmp_path / "blind.sqlite")
    return ReviewApp(graded.batch, store, reviewer="qa1", allowed_hosts={"127.0.0.1:8000"}, blind=True)


def test_blind_page_hides_the_grade_until_the_reviewer_has_labelled(blind_app: ReviewApp) -> None:
    app = blind_app
    before = call(app, "GET", "/c/c004").body
    for leak in (GRADE, "符合标准", "一致率 33%", "94.44", "<mark>", 'value="accept"', "需复核", "data-items=\"first_response_time\"", " cited\""):
        assert leak not in before, leak
    assert before.count('name="blind" value="1"') == 10 and "AI 评分已隐藏" in before

    saved = call(app, "POST", "/verdict", form=blind_form(app, "qa1", "poor"))
    assert saved.status == 303 and saved.headers["Location"] == "/c/c004?saved=efficiency#item-efficiency"
    stored = app.store.latest()[("c004", "efficiency")].verdict
    assert (stored.reviewer, stored.decision, stored.tier, stored.original_tier, stored.blind) == ("qa1", "override", "poor", "good", True)

    after = call(app, "GET", "/c/c004", query="saved=efficiency", headers=as_("qa1")).body
    assert after.count(GRADE) == 1 and "一致率 33%" in after  # efficiency's grade, now shown
    assert after.count("符合标准") == 1 and "94.44" not in after  # the other items' and the total still hidden
    assert "已改判 → 差" in after and after.count('name="blind" value="1"') == 9

    other = call(app, "GET", "/c/c004", headers=as_("qa2")).body  # a second reviewer sees nothing of either
    assert GRADE not in other and "已改判" not in other and "一致率" not in other
    second = call(app, "POST", "/verdict", form=blind_form(app, "qa2", "good"), headers=as_("qa2"))
    assert second.status == 303
    again = call(app, "POST", "/verdict", form=blind_form(app, "qa1", "fair"), headers=as_("qa1"))
    assert again.status == 400 and "qa1 has labelled item &#39;efficiency&#39; already" in again.body
    assert [(s.verdict.reviewer, s.verdict.blind) for s in app.store.labels()] == [("qa1", True), ("qa2", True)]


def test_blind_page_shows_the_card_once_every_item_is_labelled(blind_app: ReviewApp) -> None:
    app = blind_app
    for result in app.batch.card("c004").items:
        tier = tier_choices(app.batch.rubric.item(result.item_id))[-1][0]  # the lowest tier (or N/A)
        assert call(app, "POST", "/verdict", form=blind_form(app, "qa1", tier, item=result.item_id)).status == 303
    page = call(app, "GET", "/c/c004", headers=as_("qa1")).body
    assert "c004 — 94.44 / 100" in page and "<mark>" in page and 'name="blind"' not in page
    listing = call(app, "GET", "/", headers=as_("qa1")).body
    assert "qa1 已评 10 /" in listing and "94.44" not in listing  # the queue never shows totals in blind mode
    assert '<td class="num">10 / 10</td>' in listing and '<td class="num">0 / ' in listing


def test_blind_queue_and_exports(blind_app: ReviewApp) -> None:
    listing = call(blind_app, "GET", "/", query="fatal=1&sort=total").body
    assert "盲评模式" in listing and "/export/human.csv" not in listing and 'name="fatal"' not in listing
    assert ">c001</a>" in listing and ">c003</a>" in listing  # the fatal filter is ignored: it would tell
    for path in ("/export/human.csv", "/export/review.csv"):
        reply = call(blind_app, "GET", path)
        assert reply.status == 403 and "blind mode" in reply.body


def test_a_server_not_blind_refuses_a_blind_form(graded: Graded, tmp_path: Path) -> None:
    with VerdictStore(tmp_path / "open.sqlite") as store:
        app = ReviewApp(graded.batch, store, reviewer="qa1", allowed_hosts={"127.0.0.1:8000"})
        reply = call(app, "POST", "/verdict", form=blind_form(app, "qa1", "poor"))
        assert reply.status == 400 and "not in blind mode" in reply.body and store.count() == 0
        assert 'name="blind"' not in call(app, "GET", "/c/c004").body


def test_a_blind_post_keeps_the_csrf_and_origin_checks(blind_app: ReviewApp) -> None:
    forged = call(blind_app, "POST", "/verdict", form=blind_form(blind_app, "qa1", "poor", csrf="forged"))
    cross = call(blind_app, "POST", "/verdict", form=blind_form(blind_app, "qa1", "poor"), headers={"HTTP_ORIGIN": "http://evil.example"})
    host = call(blind_app, "POST", "/verdict", form=blind_form(blind_app, "qa1", "poor"), headers={"HTTP_HOST": "evil.example:8000"})
    assert (forged.status, cross.status, host.status) == (403, 403, 403) and blind_app.store.count() == 0


# ---------------------------------------------------------------------- human scores and calibrate


def test_human_scores_read_the_blind_column(tmp_path: Path) -> None:
    good = tmp_path / "h.csv"
    good.write_text("conversation_id,rater,item_id,value,blind\nc1,a,efficiency,good,1\nc1,b,efficiency,good,\nc2,a,efficiency,poor,否\n", encoding="utf-8")
    assert [s.blind for s in load_human_scores(good)] == [True, None, False]
    assert [s.blind for s in load_human_scores([{"conversation_id": "c", "rater": "a", "item_id": "x", "value": "v", "blind": True}])] == [True]
    bad = tmp_path / "bad.csv"
    bad.write_text("conversation_id,rater,item_id,value,blind\nc1,a,efficiency,good,maybe\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.csv:2: blind: 'maybe' is not one of 1, 0"):
        load_human_scores(bad)


def test_calibrate_uses_only_blind_labels_where_there_are_any(graded: Graded, tmp_path: Path) -> None:
    human = tmp_path / "human.csv"
    rows = [
        "c004,qa1,efficiency,poor,1",  # blind: both disagree with the model's 好, and with each other
        "c004,qa2,efficiency,fair,1",
        "c004,qa3,efficiency,good,0",  # seen the AI grade: adopted it; left out
        "c002,qa3,efficiency,good,0",
        "c002,qa3,expression,good,0",  # no blind labels for this item: kept
    ]
    human.write_text("conversation_id,rater,item_id,value,blind\n" + "\n".join(rows) + "\n", encoding="utf-8")
    report = calibrate(RUBRIC, graded.cards, load_human_scores(human), n_boot=20)
    assert report.blind_labels == {"efficiency": 2} and report.blind_total == 2
    efficiency = next(i for i in report.items if i.item_id == "efficiency")
    assert efficiency.conversations == 1 and efficiency.model_human.n == 2 and efficiency.model_human.exact == 0.0
    assert efficiency.human_human is not None and efficiency.human_human.n == 1  # the blind double label
    expression = next(i for i in report.items if i.item_id == "expression")
    assert expression.model_human.n == 1
    assert "使用盲评标签 2 条(efficiency 2)" in to_markdown(report)
    plain = calibrate(RUBRIC, graded.cards, [s for s in load_human_scores(human) if not s.blind], n_boot=20)
    assert plain.blind_labels == {} and "盲评" not in to_markdown(plain)
