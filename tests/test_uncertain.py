"""Explicit uncertainty and decision policies (issue 18.4): cannot_determine, when_unsure, flags
with their own evidence before the tier, points hidden, tier order per sample, cross-item
consistency — with FakeJudge, and end to end through the fake OpenAI server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_grader import Conversation, Grader, Rubric, load_rubric
from llm_grader._answers import answer_model, checked_model, located
from llm_grader._prompting import Prompts, compile_messages, tier_order
from llm_grader._views import tier_text
from llm_grader.cli._console import BatchSummary, summary_table
from llm_grader.errors import RubricError
from llm_grader.llm import JudgeRequest
from llm_grader.rubric import rubric_from_text
from llm_grader.scoring import Scorecard
from llm_grader.testing import FakeJudge, top_tier_answer
from llm_grader.types import CANNOT_DETERMINE
from tests.test_judging import APOLOGY, CHAT, TABOO
from tests.test_model import run

ZH, EN = Prompts.load("zh"), Prompts.load("en")
UNSURE = {"tier": CANNOT_DETERMINE, "cannot_determine_reason": "录音在第 3 轮后中断,无法判断客服是否推诿",
          "rationale": "对话不完整", "evidence": []}


def _scripted(rubric: Rubric, replies: dict[str, Any]) -> FakeJudge:
    def script(request: JudgeRequest) -> dict[str, Any]:
        reply = replies.get(request.item_id)
        if callable(reply):
            reply = reply(request)
        return {**top_tier_answer(rubric.item(request.item_id)), **(reply or {})}

    return FakeJudge(script)


# --------------------------------------------------------------------------- cannot_determine


def test_cannot_determine_leaves_the_item_unscored_for_review(flagship: Rubric) -> None:
    card = Grader(flagship, model=_scripted(flagship, {"efficiency": UNSURE}), cache=None).grade(CHAT)
    item = card.item("efficiency")
    assert item.abstained and item.unscored and item.needs_review
    assert item.points is None and item.tier is None  # never a guess: no points
    assert item.error == "无法判断:录音在第 3 轮后中断,无法判断客服是否推诿"
    assert item.audit.failure is None  # an abstention is not a failed call
    # The total is partial exactly as for any other unscored item: its 15 points open.
    sure = Grader(flagship, model=_scripted(flagship, {}), cache=None).grade(CHAT)
    assert not card.complete and card.unscored_points == sure.unscored_points + 15
    assert card.total_min is not None and card.total_max is not None
    assert sure.total_min is not None and card.total_max == sure.total_max
    assert card.total_min < sure.total_min  # the open item may still come out at 差
    assert tier_text(item, "zh") == "无法判断" and tier_text(item, "en") == "cannot determine"


def test_cannot_determine_needs_a_reason_and_is_reasked_without_one(flagship: Rubric) -> None:
    checked = checked_model(answer_model(ZH), flagship.item("efficiency"), ZH)
    with pytest.raises(ValueError, match="cannot_determine_reason"):
        checked.model_validate({**UNSURE, "cannot_determine_reason": " "}, context={"conversation": CHAT})
    ok = checked.model_validate(UNSURE, context={"conversation": CHAT})
    assert ok.tier == CANNOT_DETERMINE and located(ok) == ()


def test_a_deduction_item_may_abstain_too() -> None:
    deductions = load_rubric("service_norms_deductions")
    item = next(i for _, i in deductions.items() if i.deduction is not None and i.judge == "model")
    card = Grader(deductions, model=_scripted(deductions, {item.id: UNSURE}), cache=None).grade(CHAT)
    result = card.item(item.id)
    assert result.abstained and result.points is None and result.needs_review


def test_samples_abstain_by_majority_and_a_minority_sends_the_item_to_review(flagship: Rubric) -> None:
    def by_sample(pattern: list[bool]) -> FakeJudge:
        return _scripted(flagship, {"efficiency": lambda r: UNSURE if pattern[r.sample] else {}})

    card = Grader(flagship, model=by_sample([True, False, True]), samples=3, cache=None).grade(CHAT)
    assert card.item("efficiency").abstained and card.item("efficiency").audit.agreement == pytest.approx(2 / 3)
    card = Grader(flagship, model=by_sample([False, True, False]), samples=3, cache=None).grade(CHAT)
    item = card.item("efficiency")
    assert not item.abstained and item.tier == "good" and item.needs_review
    assert "3 次采样中有 1 次回答无法判断" in item.rationale


def test_abstentions_are_counted_in_the_summary(flagship: Rubric) -> None:
    card = Grader(flagship, model=_scripted(flagship, {"efficiency": UNSURE}), cache=None).grade(CHAT)
    summary = BatchSummary()
    summary.add(card)
    assert (summary.unscored, summary.abstained, summary.failed) == (2, 1, 0)  # record_accuracy: no notes
    rendered = str(summary_table([card], "zh").columns[-1]._cells[0])
    assert "efficiency: 无法判断:录音在第 3 轮后中断" in rendered


def test_cannot_determine_through_the_fake_openai_server(by_id: dict[str, Conversation]) -> None:
    cards, script, _ = run(by_id, ["c006"], {("c006", "efficiency"): UNSURE}, "json_schema")
    item = cards[0].item("efficiency")
    assert item.abstained and item.needs_review and item.points is None
    assert item.error is not None and item.error.startswith("无法判断:录音在第 3 轮后中断")
    assert len(script.requests[("c006", "efficiency")]) == 1  # accepted as it is: no re-ask
    assert not cards[0].complete


def test_cannot_determine_is_a_reserved_tier_id() -> None:
    text = load_rubric_text().replace("- {id: poor, label: 差, points: 0, description: \"属自身",
                                      "- {id: cannot_determine, label: 差, points: 0, description: \"属自身")
    with pytest.raises(RubricError, match="'cannot_determine' is reserved"):
        rubric_from_text(text, file="x.yaml")


# --------------------------------------------------------------------------- when_unsure


def load_rubric_text() -> str:
    from llm_grader.rubric import resolve_rubric

    return resolve_rubric("internet_cs_qa").read_text(encoding="utf-8")


def _block(rubric: Rubric, item_id: str, **options: Any) -> str:
    return compile_messages(rubric=rubric, item=rubric.item(item_id), conversation=CHAT, **options)[2]["content"]


def test_the_policy_is_the_items_not_the_system_prompts(flagship: Rubric) -> None:
    system = compile_messages(rubric=flagship, item=flagship.item("focus"), conversation=CHAT)[0]["content"]
    assert "从严把握" not in system
    assert "拿不准时依据评分表的描述从严把握" in _block(flagship, "focus")  # undeclared: strict, as before
    assert "拿不准时依据评分表的描述从宽把握" in _block(flagship, "soothing")  # the seed forgives: lenient
    assert flagship.item("proactiveness").when_unsure == "lenient"
    assert flagship.item("answer_rigor").when_unsure == "strict"
    review = rubric_from_text(load_rubric_text().replace("        when_unsure: lenient\n        judge: model\n"
                                                         "        points: 15\n        # 差 has",
                                                         "        when_unsure: review\n        judge: model\n"
                                                         "        points: 15\n        # 差 has"), file="x.yaml")
    assert "拿不准时回答 cannot_determine" in _block(review, "proactiveness")


def test_english_policies() -> None:
    en = load_rubric("internet_cs_qa_en")
    assert "When unsure, apply the scorecard's descriptions leniently" in _block(en, "soothing")
    assert "When unsure, apply the scorecard's descriptions strictly" in _block(en, "focus")
    assert en.item("soothing").when_unsure == load_rubric("internet_cs_qa").item("soothing").when_unsure


def test_shared_prefix_stays_byte_identical_across_policies(flagship: Rubric) -> None:
    compiled = [compile_messages(rubric=flagship, item=i, conversation=CHAT) for _, i in flagship.items()]
    assert len({json.dumps(m[:2], ensure_ascii=False) for m in compiled}) == 1
    assert len({i.when_unsure for _, i in flagship.items()}) == 2


# --------------------------------------------------------------------------- flags with evidence


def test_a_raised_flags_own_evidence_is_verified_and_cited(flagship: Rubric) -> None:
    checked = checked_model(answer_model(ZH), flagship.item("politeness"), ZH)
    reply = {"evidence": [APOLOGY], "rationale": "r", "tier": "fair",
             "flags": {"service_taboo": {"evidence": [TABOO], "answer": True}}}
    validated = checked.model_validate(reply, context={"conversation": CHAT})
    assert [e.quote for e in located(validated)] == [TABOO["quote"], APOLOGY["quote"]]  # the flag's first
    bad = {**reply, "flags": {"service_taboo": {"evidence": [{"turn": 3, "quote": "你给我闭嘴吧"}], "answer": True}}}
    with pytest.raises(ValueError, match="你给我闭嘴吧"):
        checked.model_validate(bad, context={"conversation": CHAT})
    # A raised flag with evidence of its own needs no other quote.
    alone = {**reply, "evidence": []}
    assert located(checked.model_validate(alone, context={"conversation": CHAT}))[0].turn == 3


def test_the_fatal_override_cites_the_flags_evidence(flagship: Rubric) -> None:
    reply = {"evidence": [], "rationale": "顶撞客户", "tier": "poor",
             "flags": {"service_taboo": {"evidence": [TABOO], "answer": True}}}
    card = Grader(flagship, model=_scripted(flagship, {"politeness": reply}), cache=None).grade(CHAT)
    assert card.fatal and [e.quote for e in card.overrides[0].evidence] == [TABOO["quote"]]


# --------------------------------------------------------------------------- points


def test_points_are_hidden_unless_asked(flagship: Rubric) -> None:
    hidden = _block(flagship, "soothing")
    assert "15 分" not in hidden and "满分 15" not in hidden and "- good(好):" in hidden
    shown = _block(flagship, "soothing", show_points=True)
    assert "(编号 soothing,满分 15 分)" in shown and "- good(好,15 分):" in shown
    card = rubric_from_text(load_rubric_text().replace("language: zh\n", "language: zh\nshow_points: true\n"),
                            file="x.yaml")
    assert "- fair(一般,12 分):" in _block(card, "soothing")
    # The Grader option, for the requests it sends.
    grader = Grader(flagship, model=FakeJudge.top_tier(flagship), show_points=True, cache=None)
    (request,) = [r for r in grader.plan(CHAT) if r.item_id == "soothing"]
    assert "- good(好,15 分):" in request.messages[2]["content"]
    deductions = load_rubric("service_norms_deductions")
    item = next(i for _, i in deductions.items() if i.deduction is not None and i.judge == "model")
    assert "每出现一次扣" not in _block(deductions, item.id)
    assert "每出现一次扣" in _block(deductions, item.id, show_points=True)


# --------------------------------------------------------------------------- tier order per sample


def test_sample_k_sees_the_tiers_in_a_permutation_seeded_by_k(flagship: Rubric) -> None:
    item = flagship.item("soothing")
    assert tier_order(item, 0) == item.tiers
    orders = [[t.id for t in tier_order(item, k)] for k in range(1, 6)]
    assert all(o != ["good", "fair", "poor"] and sorted(o) == ["fair", "good", "poor"] for o in orders)
    assert orders == [[t.id for t in tier_order(item, k)] for k in range(1, 6)]  # deterministic
    judge = FakeJudge.top_tier(flagship)
    Grader(flagship, model=judge, samples=3, cache=None).grade(CHAT)
    sent = [r for r in judge.requests if r.item_id == "soothing"]
    single = compile_messages(rubric=flagship, item=item, conversation=CHAT)
    assert sent[0].messages == single  # sample 0 is the single-sample prompt (and its cache key)
    lines = [[ln for ln in r.messages[2]["content"].splitlines() if ln.startswith("- ") and "(" in ln][:3]
             for r in sent]
    assert [[ln.split("(")[0][2:] for ln in block] for block in lines] == [
        ["good", "fair", "poor"], *[[t.id for t in tier_order(item, k)] for k in (1, 2)]]


# --------------------------------------------------------------------------- consistency


def _shirking(efficiency: str, shirked: bool, flagship: Rubric) -> Scorecard:
    replies = {
        "efficiency": {"tier": efficiency, "evidence": [TABOO] if efficiency != "good" else [],
                       "rationale": "推诿"},
        "proactiveness": {"tier": "poor" if shirked else "good", "evidence": [TABOO] if shirked else [],
                          "rationale": "推诿", "flags": {"shirked_unsolved": shirked}},
    }
    return Grader(flagship, model=_scripted(flagship, replies), cache=None).grade(CHAT)


def test_items_that_judge_the_same_fact_differently_go_to_review(flagship: Rubric) -> None:
    card = _shirking("poor", False, flagship)
    for item_id in ("efficiency", "proactiveness"):
        item = card.item(item_id)
        assert item.needs_review
        (found,) = item.audit.inconsistent or []
        assert (found.id, found.holds, found.fails) == (
            "shirking", ["efficiency: tier in [poor]"], ["proactiveness: flag shirked_unsolved"])
        assert "推诿" in found.reason
    assert card.item("politeness").audit.inconsistent is None
    rendered = str(summary_table([card], "zh").columns[-1]._cells[0])
    assert "efficiency: 与其他质检项判断不一致(shirking),需复核" in rendered
    agreeing = _shirking("poor", True, flagship)
    assert agreeing.item("efficiency").audit.inconsistent is None and not agreeing.item("efficiency").needs_review
    neither = _shirking("good", False, flagship)
    assert neither.item("proactiveness").audit.inconsistent is None


def test_an_abstention_is_not_an_inconsistency(flagship: Rubric) -> None:
    replies = {"efficiency": UNSURE,
               "proactiveness": {"tier": "poor", "evidence": [TABOO], "rationale": "推诿",
                                 "flags": {"shirked_unsolved": True}}}
    card = Grader(flagship, model=_scripted(flagship, replies), cache=None).grade(CHAT)
    assert card.item("proactiveness").audit.inconsistent is None  # not told yet: nothing to compare


def test_consistency_rules_are_linted() -> None:
    text = load_rubric_text().replace("      - {item: proactiveness, flag: shirked_unsolved}\n"
                                      "\n", "      - {item: proactiveness, flag: shirked_unsolved}\n\n", 1)
    text = text.rstrip("\n").removesuffix("      - {item: proactiveness, flag: shirked_unsolved}")
    text += "      - {item: proactivity, flag: shirked_unsolved}\n"
    with pytest.raises(RubricError, match=r"consistency\[0\]\.agree\[1\]\.item.*unknown item 'proactivity'"):
        rubric_from_text(text, file="x.yaml")


def test_a_reviewers_verdict_settles_an_inconsistency(flagship: Rubric) -> None:
    from llm_grader.review import apply_verdicts
    from llm_grader.types import ReviewVerdict

    card = _shirking("poor", False, flagship)
    settled = apply_verdicts(card, {"efficiency": ReviewVerdict(reviewer="qa", decision="accept")}, flagship)
    assert not settled.item("efficiency").needs_review  # not sent back to review by the rule
    assert settled.item("efficiency").audit.inconsistent  # the split stays on record
