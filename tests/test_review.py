"""Reviewing grades (复核) and appeals (申诉): the store, the queue, apply, CSV in and out, the app, the CLI."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from llm_grader import Conversation, Grader, LLMGraderError, load_conversations, load_rubric
from llm_grader._results import ResultsWriter, read_results
from llm_grader.calibration import calibrate, load_human_scores
from llm_grader.errors import InputError, RescoreError
from llm_grader.llm import JudgeRequest, ModelResult
from llm_grader.report import results_html
from llm_grader.review import (
    Filters,
    ReviewApp,
    ReviewBatch,
    ReviewError,
    VerdictStore,
    apply_verdicts,
    flag_reasons,
    read_sheet,
    summarise,
    write_human_scores,
    write_sheet,
)
from llm_grader.review._queue import select
from llm_grader.scoring import Scorecard
from llm_grader.testing import FakeJudge, top_tier_answer
from llm_grader.types import ReviewVerdict

from .conftest import EXAMPLES

RUBRIC = load_rubric("internet_cs_qa")
EVIL_ID = "x/<i>1"
EVIL = {
    "id": EVIL_ID,
    "channel": "chat",
    "metadata": {"agent_id": '"><svg onload=alert(3)>', "business": "=HYPERLINK(1)"},
    "turns": [
        {"speaker": "customer", "text": "<script>alert(1)</script>你好"},
        {"speaker": "agent", "text": "您好<img src=x onerror=alert(2)>,很高兴为您服务"},
        {"speaker": "customer", "text": "谢谢"},
    ],
}
"""A hostile transcript: markup in the id, the metadata and the turns, a formula in metadata."""


def _script(cid: str) -> Callable[[JudgeRequest], Any]:
    """The fake model for one conversation: top tiers, with a few cases for review."""

    def script(request: JudgeRequest) -> Any:
        answer = top_tier_answer(RUBRIC.item(request.item_id))
        case = (cid, request.item_id)
        if case == ("c003", "politeness"):  # a service taboo: fatal
            answer.update(tier="poor", flags={"service_taboo": True}, evidence=[{"turn": 1, "quote": "喂,你说"}])
        elif case == ("c001", "politeness"):
            answer.update(evidence=[{"turn": 2, "quote": "您好,很高兴为您服务"}])
        elif case == ("c002", "expression"):  # 2 of 3 samples agree: low agreement, not needing review
            answer.update(tier="good" if request.sample < 2 else "fair")
        elif case == ("c004", "efficiency"):  # 1 of 3: needs review
            answer.update(tier=["good", "fair", "poor"][request.sample])
        elif case == ("c005", "answer_rigor"):  # no answer: unscored
            return ModelResult(error="connection reset", kind="transport")
        elif case == (EVIL_ID, "politeness"):
            evidence = [{"turn": 2, "quote": "<img src=x onerror=alert(2)>"}]
            answer.update(tier="fair", evidence=evidence, rationale='=HYPERLINK("http://evil.example")')
        return answer

    return script


@dataclass(frozen=True)
class Graded:
    """Results and conversations on disk, and the batch they make."""

    results: Path
    conversations: Path
    cards: list[Scorecard]
    batch: ReviewBatch


def grade_examples(directory: Path) -> Graded:
    """Grade the examples and the hostile chat with the fake model (3 samples), newest first."""
    directory.mkdir(parents=True, exist_ok=True)
    convs = [*load_conversations(EXAMPLES / "conversations.jsonl"), Conversation.model_validate(EVIL)]
    conversations = directory / "conversations.jsonl"
    conversations.write_text("".join(c.model_dump_json(exclude_none=True) + "\n" for c in convs), encoding="utf-8")
    results = directory / "results.jsonl"
    writer = ResultsWriter(results)
    for c in reversed(convs):  # completion order is not id order
        writer.write(Grader(RUBRIC, model=FakeJudge(_script(c.id)), samples=3, cache=None).grade(c))
    writer.close()
    cards = list(read_results(results))
    return Graded(results, conversations, cards, ReviewBatch.build(RUBRIC, cards, {c.id: c for c in convs}))


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    return grade_examples(tmp_path_factory.mktemp("graded"))


def verdict(**fields: Any) -> ReviewVerdict:
    return ReviewVerdict(**{"reviewer": "qa1", "decision": "accept", **fields})


# ---------------------------------------------------------------------- store


def test_store_is_wal_keeps_history_and_the_latest_wins(tmp_path: Path) -> None:
    db = tmp_path / "review.sqlite"
    with VerdictStore(db) as store:
        first = store.record("c004", "efficiency", verdict(original_tier="good"))
        store.record("c004", "efficiency", verdict(decision="override", tier="poor", reason="慢", original_tier="good"))
        store.record("c001", "politeness", verdict(original_tier="good"))
        assert first.verdict.at  # stamped when recorded
    mode = sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    with VerdictStore(db) as store:  # reopened: nothing lost
        assert [s.verdict.decision for s in store.history("c004", "efficiency")] == ["accept", "override"]
        latest = store.latest()
        assert latest[("c004", "efficiency")].verdict.tier == "poor"
        assert set(latest) == {("c004", "efficiency"), ("c001", "politeness")}
        assert set(store.latest("c001")) == {("c001", "politeness")}
        assert store.count() == 3


def test_store_record_many_is_all_or_nothing(tmp_path: Path) -> None:
    with VerdictStore(tmp_path / "r.sqlite") as store:
        bad = ReviewVerdict.model_construct(reviewer="qa", decision="maybe", kind="review", reason="", at="")  # type: ignore[arg-type]
        with pytest.raises(sqlite3.IntegrityError):
            store.record_many([("c1", "a", verdict()), ("c1", "b", bad)])
        assert store.count() == 0
        assert store.record_many([("c1", "a", verdict()), ("c1", "b", verdict())]) == 2
        assert store.count() == 2


def test_store_refuses_other_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(LLMGraderError, match=r"junk\.sqlite: not a verdict database"):
        VerdictStore(junk)
    newer = tmp_path / "newer.sqlite"
    sqlite3.connect(newer).execute("PRAGMA user_version=99")
    with pytest.raises(LLMGraderError, match="version 99 is newer"):
        VerdictStore(newer)


# ---------------------------------------------------------------------- batch and queue


def test_batch_is_in_id_order_and_checks_the_rubric(graded: Graded) -> None:
    ids = [c.conversation_id for c in graded.batch.cards]
    assert ids[:3] == ["c001", "c002", "c003"] and ids[-1] == EVIL_ID
    with pytest.raises(ReviewError, match=r"graded with rubric 'internet_cs_qa' v1.3, not 'phone_answering' v.*; pass the rubric the results were graded with \(-r\)$"):
        ReviewBatch.build(load_rubric("phone_answering"), graded.cards)
    changed = RUBRIC.model_copy(deep=True)
    changed.categories[1].items[0] = changed.categories[1].items[0].model_copy(update={"description": "改了"})
    with pytest.raises(ReviewError, match=r"items record_accuracy differ from rubric 'internet_cs_qa' v1.3 \(new, gone, or"):
        ReviewBatch.build(changed, graded.cards)
    with pytest.raises(ReviewError, match="'c001' is in the results more than once"):
        ReviewBatch.build(RUBRIC, [graded.batch.card("c001"), graded.batch.card("c001")])


def test_flag_reasons(graded: Graded) -> None:
    b = graded.batch
    reasons = {
        (c.conversation_id, r.item_id): flag_reasons(c, r) for c in b.cards for r in c.items if flag_reasons(c, r)
    }
    assert reasons == {
        ("c002", "expression"): ("low_agreement",),
        ("c003", "politeness"): ("fatal",),
        ("c004", "efficiency"): ("needs_review", "low_agreement"),
        ("c005", "answer_rigor"): ("needs_review", "unscored", "fatal"),  # it blocks the wrong-answer fatal
        (EVIL_ID, "first_response_time"): ("needs_review", "unscored"),  # a chat with no times
    }
    c002 = b.card("c002")
    assert flag_reasons(c002, c002.item("expression"), low_agreement=0.6) == ()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"needs_review": "1"}, ["c004", "c005", EVIL_ID]),
        ({"fatal": "1"}, ["c003"]),
        ({"partial": "1"}, ["c005", EVIL_ID]),
        ({"low_agreement": "1"}, ["c002", "c004"]),
        ({"item": "efficiency"}, ["c004"]),
        ({"needs_review": "1", "item": "answer_rigor"}, ["c005"]),
        ({"field": "agent_id", "value": "A3310"}, ["c003"]),
        ({"text": "快递"}, ["c003", "c007"]),
        ({"pending": "1", "sort": "total"}, ["c003", "c005", EVIL_ID, "c002", "c004"]),
        ({"fatal": "1", "needs_review": "1"}, []),
    ],
)
def test_filters(graded: Graded, query: dict[str, str], expected: list[str]) -> None:
    rows = summarise(graded.batch, {})
    assert [r.conversation_id for r in select(rows, Filters.from_query(query))] == expected


def test_the_least_confident_flagged_conversations_come_first(graded: Graded) -> None:
    sure = {"c002": 0.9, "c004": 0.3, "c005": 0.55}
    cards = tuple(
        c.model_copy(update={"items": [
            i.model_copy(update={"confidence": sure[c.conversation_id]}) if i.judge == "model" else i for i in c.items
        ]}) if c.conversation_id in sure else c
        for c in graded.batch.cards
    )
    batch = type(graded.batch)(graded.batch.rubric, cards, graded.batch.conversations)
    rows = summarise(batch, {})
    ordered = [r.conversation_id for r in select(rows, Filters(sort="confidence"))]
    assert ordered[:3] == ["c004", "c005", "c002"]  # then every row without a confidence, by id
    assert Filters.from_query({"sort": "confidence"}).sort == "confidence"


def test_filters_round_trip_and_pending_goes_down(graded: Graded, tmp_path: Path) -> None:
    filters = Filters.from_query({"needs_review": "on", "sort": "nope", "item": "efficiency", "descending": "1"})
    assert filters.sort == "id" and filters.needs_review and filters.descending
    assert Filters.from_query(dict(urllib.parse.parse_qsl(filters.query()))) == filters
    with VerdictStore(tmp_path / "r.sqlite") as store:
        store.record("c004", "efficiency", verdict(original_tier="good"))
        rows = summarise(graded.batch, store.latest())
    pending = [r.conversation_id for r in select(rows, Filters(pending=True))]
    assert "c004" not in pending and "c005" in pending


@pytest.mark.parametrize(
    ("cid", "item", "fields", "message"),
    [
        ("c999", "politeness", {}, "unknown conversation 'c999'"),
        ("c001", "nope", {}, "unknown item 'nope'; items: politeness, first_response_time"),
        ("c001", "politeness", {"decision": "override", "tier": "great", "reason": "x"}, "tier 'great' is not one of good, fair, poor"),
        ("c001", "politeness", {"decision": "override", "tier": "not_applicable", "reason": "x"}, "not one of good, fair, poor$"),
        ("c001", "politeness", {"decision": "override", "tier": "fair"}, "an override needs a reason"),
        ("c001", "politeness", {"decision": "override", "tier": "good", "reason": "x"}, "'good' is the grader's tier already"),
        ("c001", "politeness", {"kind": "appeal"}, "an appeal's outcome needs a reason"),
        ("c001", "politeness", {"decision": "maybe"}, "decision 'maybe' is not one of accept, override"),
        ("c001", "politeness", {"reviewer": " \x00 "}, "a reviewer name is required"),
        ("c005", "answer_rigor", {}, "unscored: there is no grade to accept; override it with a tier"),
    ],
)
def test_bad_verdicts_are_refused(graded: Graded, cid: str, item: str, fields: dict[str, str], message: str) -> None:
    with pytest.raises(ReviewError, match=message):
        graded.batch.verdict(cid, item, **{"reviewer": "qa1", "decision": "accept", **fields})


def test_good_verdicts(graded: Graded) -> None:
    v = graded.batch.verdict("c001", "soothing", reviewer=" 王五 ", decision="override", tier="not_applicable", reason="无情绪")
    assert (v.reviewer, v.tier, v.original_tier, v.kind) == ("王五", "not_applicable", "good", "review")
    appeal = graded.batch.verdict("c003", "politeness", reviewer="qa", decision="accept", kind="appeal", reason="驳回")
    assert (appeal.decision, appeal.original_tier, appeal.kind) == ("accept", "poor", "appeal")


# ---------------------------------------------------------------------- apply


def test_apply_override_accept_and_unscored(graded: Graded) -> None:
    c004 = graded.batch.card("c004")
    before = c004.model_dump()
    down = verdict(decision="override", tier="poor", original_tier="good", reason="拖沓")
    final = apply_verdicts(c004, {"efficiency": down}, RUBRIC)
    item = final.item("efficiency")
    assert (item.tier, item.points, item.needs_review, item.audit.review) == ("poor", 0.0, False, down)
    assert final.total_score == pytest.approx(70 / 90 * 100, abs=1e-4)  # record_accuracy excluded (no notes); politeness 差 by its rule (no greeting/closing)
    assert c004.model_dump() == before  # the card given is not changed
    kept = apply_verdicts(c004, {"efficiency": verdict(original_tier="good")}, RUBRIC)
    assert kept.total_score == c004.total_score and not kept.item("efficiency").needs_review
    assert kept.item("efficiency").audit.review is not None
    c005 = graded.batch.card("c005")
    assert not c005.complete
    fixed = apply_verdicts(c005, {"answer_rigor": verdict(decision="override", tier="good", reason="答得对")}, RUBRIC)
    assert fixed.complete and fixed.item("answer_rigor").error is None and fixed.total_score == 100.0


def test_apply_not_applicable_uses_the_items_policy(graded: Graded) -> None:
    card = graded.batch.card("c001")
    na = verdict(decision="override", tier="not_applicable", original_tier="good", reason="无情绪波动")
    final = apply_verdicts(card, {"soothing": na}, RUBRIC)
    item = final.item("soothing")
    assert item.not_applicable and item.tier is None and item.points == 15.0  # policy full: 不扣分
    assert final.total_score == card.total_score


def test_apply_refuses_what_cannot_be_applied(graded: Graded) -> None:
    card = graded.batch.card("c005")
    with pytest.raises(ReviewError, match=r"c005: no item 'nope' on the scorecard"):
        apply_verdicts(card, {"nope": verdict()}, RUBRIC)
    with pytest.raises(ReviewError, match="is unscored: an accept verdict has no grade to keep"):
        apply_verdicts(card, {"answer_rigor": verdict()}, RUBRIC)
    with pytest.raises(ReviewError, match="tier 'great' is not one of good, fair, poor"):
        apply_verdicts(card, {"politeness": verdict(decision="override", tier="great")}, RUBRIC)
    changed = RUBRIC.model_copy(deep=True)
    changed.categories[0].items[0].tiers[0] = changed.categories[0].items[0].tiers[0].model_copy(update={"description": "改了"})
    with pytest.raises(RescoreError, match="politeness"):
        apply_verdicts(card, {}, changed)


# ---------------------------------------------------------------------- CSV out and in


def test_human_scores_feed_calibration(graded: Graded, tmp_path: Path) -> None:
    with VerdictStore(tmp_path / "r.sqlite") as store:
        store.record("c004", "efficiency", verdict(reviewer="qa1", original_tier="good"))
        store.record("c004", "efficiency", verdict(reviewer="qa2", decision="override", tier="fair", original_tier="good", reason="x"))
        store.record("c002", "expression", verdict(reviewer="qa1", original_tier="good"))
        store.record("c001", "soothing", verdict(reviewer="qa1", decision="override", tier="not_applicable", original_tier="good", reason="x"))
        latest = store.latest()
    out = tmp_path / "human.csv"
    assert write_human_scores(latest, out) == 3
    assert out.read_text(encoding="utf-8-sig").splitlines() == [
        "conversation_id,rater,item_id,value,blind",
        "c001,qa1,soothing,not_applicable,0",
        "c002,qa1,expression,good,0",
        "c004,qa2,efficiency,fair,0",
    ]
    humans = load_human_scores(out)
    report = calibrate(RUBRIC, graded.cards, humans, n_boot=20)
    assert report.conversations == 3 and report.raters == ["qa1", "qa2"]
    efficiency = next(i for i in report.items if i.item_id == "efficiency")
    assert efficiency.model_human.n == 1 and efficiency.model_human.exact == 0.0


def _sheet(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_sheet_export_and_import(graded: Graded, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    assert write_sheet(graded.batch, {}, sheet) == 5
    rows = _sheet(sheet)
    assert [(r["conversation_id"], r["item_id"], r["current_tier"]) for r in rows] == [
        ("c002", "expression", "good"),
        ("c003", "politeness", "poor"),
        ("c004", "efficiency", "good"),
        ("c005", "answer_rigor", ""),
        (EVIL_ID, "first_response_time", ""),
    ]
    assert rows[1]["excerpt"].startswith("[1] agent: 喂,你说。\n[2] customer:") and rows[1]["flags"] == "fatal"
    assert rows[1]["tiers"] == "good=好 | fair=一般 | poor=差"
    assert all(r["decision"] == r["tier"] == r["reason"] == "" for r in rows)
    everything = tmp_path / "all.csv"
    assert write_sheet(graded.batch, {}, everything, all_items=True) == 150
    evil = next(r for r in _sheet(everything) if (r["conversation_id"], r["item_id"]) == (EVIL_ID, "politeness"))
    assert evil["rationale"] == ''''=HYPERLINK("http://evil.example")'''  # text, never a formula
    rows[0].update(decision="accept")
    rows[1].update(decision="改判", tier="一般", reason="口头禅", kind="申诉", reviewer="李四")
    rows[3].update(decision="override", tier="good", reason="答复正确")
    _write(sheet, rows)
    found = read_sheet(sheet, graded.batch, reviewer="qa9")
    assert [(c, i, v.decision, v.tier, v.kind, v.reviewer) for c, i, v in found] == [
        ("c002", "expression", "accept", None, "review", "qa9"),
        ("c003", "politeness", "override", "fair", "appeal", "李四"),
        ("c005", "answer_rigor", "override", "good", "review", "qa9"),
    ]


def test_sheet_import_reports_every_bad_row(graded: Graded, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    write_sheet(graded.batch, {}, sheet)
    rows = _sheet(sheet)
    rows[0].update(decision="override", tier="superb", reason="x", reviewer="qa")
    rows[1].update(tier="fair")
    rows[2].update(decision="accept", current_tier="fair", reviewer="qa")
    rows[3].update(decision="accept", item_id="nope", reviewer="qa")
    rows[4].update(decision="accept", kind="投诉")
    _write(sheet, rows)
    with pytest.raises(InputError) as caught:
        read_sheet(sheet, graded.batch)
    assert [str(p) for p in caught.value.problems] == [
        f"{sheet}:2: tier: tier 'superb' is not one of good, fair, poor",
        f"{sheet}:3: decision: is empty but a tier or reason is filled in: write accept or override",
        f"{sheet}:4: current_tier: 'fair' is not the tier in the results ('good'): the sheet was exported from other results",
        f"{sheet}:5: item_id: unknown item 'nope'; items: politeness, first_response_time, record_accuracy, norm_compliance, expression, focus, answer_rigor, efficiency, soothing, proactiveness",
        f"{sheet}:6: kind: '投诉' is not one of review, appeal (复核, 申诉)",
    ]
    (tmp_path / "bad.csv").write_text("conversation_id,item_id\nc001,politeness\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.csv:1: header lacks current_tier, decision, tier, reason, reviewer, kind"):
        read_sheet(tmp_path / "bad.csv", graded.batch)


# ---------------------------------------------------------------------- the batch report page (point 3)


def test_results_page_is_in_id_order_with_the_review_list(graded: Graded) -> None:
    page = results_html(graded.cards)
    order = [page.index(f'data-id="{c}"') for c in ("c001", "c002", "c010", "c014")]
    assert order == sorted(order)  # the file was written newest first
    data = json.loads(page.split('<script type="application/json" id="review-data">')[1].split("</script>")[0])
    assert [(r["conversation_id"], r["item_id"]) for r in data] == [
        ("c004", "efficiency"),
        ("c005", "answer_rigor"),
        (EVIL_ID, "first_response_time"),
    ]
    assert "<img src=x" not in page and "<mark>&lt;img src=x onerror=alert(2)&gt;</mark>" in page
    assert 'id="export-review"' in page and 'id="filter-text"' in page


# ---------------------------------------------------------------------- the web app, called directly


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str


def call(app: ReviewApp, method: str, path: str, *, query: str = "", form: Mapping[str, str] | None = None,
         headers: Mapping[str, str] | None = None, body: bytes | None = None) -> Reply:
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    data = body if body is not None else urllib.parse.urlencode(form or {}).encode()
    environ.update(
        REQUEST_METHOD=method,
        PATH_INFO=path.encode().decode("latin-1"),
        QUERY_STRING=query,
        HTTP_HOST="127.0.0.1:8000",
        CONTENT_LENGTH=str(len(data)),
        CONTENT_TYPE="application/x-www-form-urlencoded",
    )
    environ["wsgi.input"] = io.BytesIO(data)
    environ.update(headers or {})
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = int(status.split()[0]), dict(response_headers)

    chunks = app(environ, start_response)
    return Reply(seen["status"], seen["headers"], b"".join(chunks).decode("utf-8-sig"))


@pytest.fixture
def app(graded: Graded, tmp_path: Path) -> Iterator[ReviewApp]:
    with VerdictStore(tmp_path / "app.sqlite") as store:
        yield ReviewApp(graded.batch, store, reviewer="qa1", allowed_hosts={"127.0.0.1:8000"})


def good_form(app: ReviewApp, **fields: str) -> dict[str, str]:
    return {"csrf": app.csrf, "conversation": "c004", "item": "efficiency", "reviewer": "qa1", "decision": "accept", **fields}


def test_app_pages_and_headers(app: ReviewApp) -> None:
    home = call(app, "GET", "/")
    assert home.status == 200 and "c004" in home.body
    policy = home.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; style-src 'nonce-") and "frame-ancestors 'none'" in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert home.body.count(f'nonce="{nonce}"') == 1  # the style; the list page has no script
    filtered = call(app, "GET", "/", query="fatal=1")
    assert ">c003</a>" in filtered.body and ">c004</a>" not in filtered.body
    page = call(app, "GET", "/c/c004", query="needs_review=1")
    assert page.status == 200 and 'name="csrf" value="' + app.csrf in page.body
    assert 'href="/c/c005?needs_review=1" rel="next"' in page.body
    assert call(app, "GET", "/c/nope").status == 404
    assert call(app, "GET", "/verdict").status == 405
    assert call(app, "GET", "/etc/passwd").status == 404


def test_app_escapes_hostile_text(app: ReviewApp) -> None:
    page = call(app, "GET", "/c/" + EVIL_ID)
    assert page.status == 200
    assert "<script>alert" not in page.body and "<img src=x" not in page.body and "<svg" not in page.body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.body
    assert "<mark>&lt;img src=x onerror=alert(2)&gt;</mark>" in page.body  # the evidence, highlighted
    listing = call(app, "GET", "/")
    assert 'href="/c/x%2F%3Ci%3E1"' in listing.body and "&#34;&gt;&lt;svg onload=alert(3)&gt;" in listing.body


def test_app_records_a_verdict_and_redirects(app: ReviewApp) -> None:
    reply = call(app, "POST", "/verdict", form=good_form(app, decision="override", tier="poor", reason="慢", back="needs_review=1"))
    assert reply.status == 303
    assert reply.headers["Location"] == "/c/c004?needs_review=1&saved=efficiency#item-efficiency"
    assert reply.headers["Set-Cookie"].startswith("llm_grader_reviewer=qa1;")
    stored = app.store.latest()[("c004", "efficiency")].verdict
    assert (stored.decision, stored.tier, stored.original_tier, stored.reason) == ("override", "poor", "good", "慢")
    page = call(app, "GET", "/c/c004", query="saved=efficiency")
    assert "已改判 → 差" in page.body and 'role="status">已保存' in page.body


@pytest.mark.parametrize(
    ("changes", "headers", "status", "message"),
    [
        ({"tier": "great", "decision": "override", "reason": "x"}, {}, 400, "tier &#39;great&#39; is not one of good, fair, poor"),
        ({"item": "nope"}, {}, 400, "unknown item &#39;nope&#39;"),
        ({"conversation": "c999"}, {}, 400, "unknown conversation &#39;c999&#39;"),
        ({"reviewer": ""}, {}, 400, "a reviewer name is required"),
        ({"csrf": "forged"}, {}, 403, "the form is stale or forged"),
        ({}, {"HTTP_ORIGIN": "http://evil.example"}, 403, "cross-origin form from &#39;http://evil.example&#39; refused"),
        ({}, {"HTTP_SEC_FETCH_SITE": "cross-site"}, 403, "cross-site form refused"),
        ({}, {"HTTP_HOST": "evil.example:8000"}, 403, "unexpected Host header"),
    ],
)
def test_app_refuses_bad_posts(app: ReviewApp, changes: dict[str, str], headers: dict[str, str], status: int, message: str) -> None:
    reply = call(app, "POST", "/verdict", form=good_form(app, **changes), headers=headers)
    assert (reply.status, message in reply.body) == (status, True), reply.body
    assert app.store.count() == 0


def test_app_refuses_a_large_body_and_accepts_same_origin(app: ReviewApp) -> None:
    assert call(app, "POST", "/verdict", body=b"x" * 70_000).status == 413
    ok = call(app, "POST", "/verdict", form=good_form(app), headers={"HTTP_ORIGIN": "http://127.0.0.1:8000", "HTTP_SEC_FETCH_SITE": "same-origin"})
    assert ok.status == 303 and app.store.count() == 1


def test_app_with_a_token(graded: Graded, tmp_path: Path) -> None:
    with VerdictStore(tmp_path / "t.sqlite") as store:
        app = ReviewApp(graded.batch, store, token="s3cret")
        assert call(app, "GET", "/").status == 403
        assert call(app, "GET", "/", query="token=wrong").status == 403
        login = call(app, "GET", "/c/c004", query="token=s3cret&fatal=1")
        assert login.status == 303 and login.headers["Location"] == "/c/c004?fatal=1"
        assert login.headers["Set-Cookie"].startswith("llm_grader_review_token=s3cret; Path=/; HttpOnly; SameSite=Strict")
        cookie = {"HTTP_COOKIE": "llm_grader_review_token=s3cret", "HTTP_HOST": "review.lan:9000"}
        assert call(app, "GET", "/", headers=cookie).status == 200
        assert call(app, "GET", "/export/human.csv", headers={"HTTP_COOKIE": "llm_grader_review_token=nope"}).status == 403


def test_app_exports(app: ReviewApp) -> None:
    call(app, "POST", "/verdict", form=good_form(app))
    human = call(app, "GET", "/export/human.csv")
    assert human.headers["Content-Disposition"] == 'attachment; filename="human_scores.csv"'
    assert human.body.splitlines() == ["conversation_id,rater,item_id,value,blind", "c004,qa1,efficiency,good,0"]
    sheet = call(app, "GET", "/export/review.csv")
    assert sheet.body.splitlines()[0].startswith("conversation_id,item_id,item,metadata,flags,current_tier")
    assert "accept by qa1" in sheet.body


# ---------------------------------------------------------------------- the command line


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "llm_grader", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", cwd=cwd, timeout=120,
        env={**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_cli_export_import_apply(graded: Graded, tmp_path: Path) -> None:
    db, sheet = tmp_path / "review.sqlite", tmp_path / "sheet.csv"
    missing = run("review", "export", "--db", db, "-o", tmp_path / "h.csv")
    assert (missing.returncode, missing.stderr) == (1, f"error: 复核数据库 '{db}' 不存在\n")
    made = run("review", "export", graded.results, "--csv", "--conversations", graded.conversations, "-o", sheet)
    assert made.returncode == 0 and made.stdout.startswith(f"5 个待复核项 → {sheet}")
    rows = _sheet(sheet)
    rows[2].update(decision="override", tier="poor", reason="拖沓", reviewer="qa1")
    rows[3].update(decision="override", tier="good", reason="答复正确", reviewer="qa1")
    _write(sheet, rows)
    imported = run("review", "import", sheet, "--results", graded.results, "--db", db)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(f"从 {sheet} 导入 2 条复核记录(0 条与现有记录相同,已跳过)")
    again = run("review", "import", sheet, "--results", graded.results, "--db", db)
    assert "导入 0 条复核记录(2 条与现有记录相同" in again.stdout  # importing twice adds nothing
    rows[0].update(decision="override", tier="superb", reason="x", reviewer="qa1")
    _write(sheet, rows)
    bad = run("review", "import", sheet, "--results", graded.results, "--db", db)
    assert (bad.returncode, bad.stderr) == (1, f"error: {sheet}:2: tier: tier 'superb' is not one of good, fair, poor\n")
    human = tmp_path / "human.csv"
    exported = run("review", "export", "--db", db, "-o", human)
    assert exported.returncode == 0 and [s.value for s in load_human_scores(human)] == ["poor", "good"]
    final = tmp_path / "final.jsonl"
    applied = run("review", "apply", graded.results, "--db", db, "-r", "internet_cs_qa", "-o", final)
    assert applied.returncode == 0, applied.stderr
    assert "15 张评分卡已应用复核结论(2 个总分改变,2 条结论)" in applied.stdout
    cards = {c.conversation_id: c for c in read_results(final)}
    assert cards["c004"].total_score == pytest.approx(70 / 90 * 100, abs=1e-4) and cards["c005"].complete and cards["c005"].total_score == 100.0
    assert cards["c004"].item("efficiency").audit.review is not None
    other = run("review", "apply", graded.results, "--db", db, "-r", "phone_answering", "-o", final)
    assert other.returncode == 1
    assert other.stderr == f"error: {EVIL_ID}: graded with rubric 'internet_cs_qa' v1.3, not 'phone_answering' v1.1; pass the rubric the results were graded with (-r)\n"


def test_cli_review_needs_a_known_rubric(graded: Graded, tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.jsonl"
    lines = graded.results.read_text(encoding="utf-8").splitlines()
    renamed.write_text("".join(json.dumps({**json.loads(line), "rubric_id": "my_card"}) + "\n" for line in lines), encoding="utf-8")
    result = run("review", renamed, "--conversations", graded.conversations, "--db", tmp_path / "r.sqlite")
    assert (result.returncode, result.stderr) == (1, "error: 结果使用评分表 'my_card' 评分,它不是内置评分表:请用 -r 指定评分表文件\n")


def _csrf(base: str) -> str:
    with urllib.request.urlopen(base + "c/c004") as response:
        page = response.read().decode()
    return str(page.split('name="csrf" value="')[1].split('"')[0])


def _post(base: str, fields: dict[str, str]) -> int:
    request = urllib.request.Request(base + "verdict", data=urllib.parse.urlencode(fields).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:  # follows the 303 to the page
        return int(response.status)


def _start(graded: Graded, db: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "llm_grader", "review", str(graded.results), "--conversations",
         str(graded.conversations), "--db", str(db), "--reviewer", "qa1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
        env={**os.environ, "COLUMNS": "300", "PYTHONIOENCODING": "utf-8"},
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    assert "http://127.0.0.1:" in line, line + (server.stderr.read() if server.stderr else "")
    return server, "http://" + line.split("http://")[1].split("/")[0] + "/"


def test_verdicts_survive_kill_9(graded: Graded, tmp_path: Path) -> None:
    db = tmp_path / "review.sqlite"
    server, base = _start(graded, db)
    acknowledged: list[str] = []
    enough = threading.Event()

    def post_forever() -> None:
        csrf = _csrf(base)
        n = 0
        while True:
            reason = f"r{n}"
            try:
                _post(base, {"csrf": csrf, "conversation": "c004", "item": "efficiency", "reviewer": "qa1",
                             "decision": "override", "tier": ["fair", "poor"][n % 2], "reason": reason})
            except (urllib.error.URLError, ConnectionError, OSError):
                return  # the server was killed
            acknowledged.append(reason)
            n += 1
            if n >= 25:
                enough.set()

    poster = threading.Thread(target=post_forever, daemon=True)
    try:
        poster.start()
        assert enough.wait(timeout=60)
        os.kill(server.pid, signal.SIGKILL)  # mid-run: the poster is sending more
        server.wait(timeout=30)
        poster.join(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate(timeout=30)
    assert server.returncode == -signal.SIGKILL
    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = [r for (r,) in connection.execute("SELECT reason FROM verdicts ORDER BY id")]
    connection.close()
    assert stored[: len(acknowledged)] == acknowledged  # every acknowledged verdict, in order
    assert len(stored) - len(acknowledged) <= 1  # at most the one in flight
    again, base = _start(graded, db)  # a new server on the same file shows the latest verdict
    try:
        with urllib.request.urlopen(base + "c/c004") as response:
            page = response.read().decode()
        assert f"— {stored[-1]}</p>" in page
    finally:
        again.terminate()
        again.communicate(timeout=30)


def test_an_upheld_appeal_can_clear_the_flag_that_made_a_record_fatal() -> None:
    from llm_grader import Conversation, Grader, load_rubric
    from llm_grader.review import ReviewError, apply_verdicts
    from llm_grader.testing import FakeJudge, top_tier_answer
    from llm_grader.types import ReviewVerdict

    rubric = load_rubric("internet_cs_qa")
    conversation = Conversation.model_validate({"id": "a1", "channel": "chat", "turns": [
        {"speaker": "customer", "text": "我的订单还没到"}, {"speaker": "agent", "text": "这不归我管"}]})

    def script(request):  # type: ignore[no-untyped-def]
        answer = top_tier_answer(rubric.item(request.item_id))
        if request.item_id == "politeness":
            answer.update(tier="poor", evidence=[{"turn": 2, "quote": "这不归我管"}], flags={"service_taboo": True})
        return answer

    card = Grader(rubric, model=FakeJudge(script)).grade(conversation)
    assert card.fatal is True
    appeal = ReviewVerdict(reviewer="质检组长", decision="override", tier="fair", original_tier="poor", kind="appeal",
                           reason="语气生硬,但不构成服务禁忌", flags={"service_taboo": False})
    final = apply_verdicts(card, {"politeness": appeal}, rubric)
    assert final.fatal is False and final.item("politeness").audit.review == appeal
    assert final.total_score is not None and final.total_score > 0
    with pytest.raises(ReviewError, match="no flag 'made_up'"):
        apply_verdicts(card, {"politeness": appeal.model_copy(update={"flags": {"made_up": True}})}, rubric)


def test_rescore_applies_the_reviewers_verdicts(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from llm_grader import Conversation, Grader, load_rubric
    from llm_grader._results import ResultsWriter
    from llm_grader.review import VerdictStore
    from llm_grader.testing import FakeJudge
    from llm_grader.types import ReviewVerdict

    rubric = load_rubric("internet_cs_qa")
    conversation = Conversation.model_validate({"id": "r1", "channel": "chat", "turns": [
        {"speaker": "customer", "text": "你好"}, {"speaker": "agent", "text": "您好,很高兴为您服务"}]})
    card = Grader(rubric, model=FakeJudge.top_tier(rubric)).grade(conversation)
    results = tmp_path / "cards.jsonl"
    writer = ResultsWriter(results)
    writer.write(card)
    writer.close()
    with VerdictStore(tmp_path / "review.sqlite") as store:
        store.record("r1", "efficiency", ReviewVerdict(reviewer="张三", decision="override", tier="poor",
                                                       original_tier="good", reason="处理拖沓"))
    run = subprocess.run([sys.executable, "-m", "llm_grader", "rescore", str(results), "-r", "internet_cs_qa",
                          "--verdicts", str(tmp_path / "review.sqlite"), "-o", str(tmp_path / "final.jsonl")],
                         capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert run.returncode == 0, run.stderr
    final = json.loads((tmp_path / "final.jsonl").read_text(encoding="utf-8"))
    efficiency = next(i for i in final["items"] if i["item_id"] == "efficiency")
    assert efficiency["tier"] == "poor" and efficiency["audit"]["review"]["reviewer"] == "张三"
    assert card.total_score is not None and final["total_score"] < card.total_score  # rescaled (N/A items)


def test_review_list_shows_a_partial_total_as_its_range(app: ReviewApp, graded: Graded) -> None:
    partial = next(c for c in graded.cards if c.conversation_id == "c005")
    assert not partial.complete and partial.total_min is not None and partial.total_max is not None
    listing = call(app, "GET", "/")
    row = re.search(r'<tr data-id="c005">(.*?)</tr>', listing.body, re.S)
    assert row, listing.body
    cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]
    low, high = (f"{v:.2f}".rstrip("0").rstrip(".") for v in (partial.total_min, partial.total_max))
    totals = [c for c in cells if c.endswith("/ 100")]
    assert totals == [f"部分 {low}–{high} / 100"]  # never the bare total_score of a partial card
    page = call(app, "GET", "/c/c005")
    assert f"c005 — 部分 {low}–{high} / 100" in html.unescape(page.body)
