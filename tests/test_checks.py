"""Decomposed model items (``checks``, issue 18.3) and the constrained ``tier`` (issue 18.5).

A decomposed item's model answers yes/no checks, each with its own evidence (verified like any
quote); the tier is computed by rule from the failed checks (the item's ``thresholds``) and each
check's answer is kept in the audit. The shared answer schema's ``tier`` is an enum when every
model item of the rubric has the same tier ids, and required unless deductions are model-judged.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from pydantic import SecretStr

from llm_grader import Conversation, Grader, load_conversations, load_rubric
from llm_grader._answers import answer_shape
from llm_grader.calibration import compare_variants, load_human_scores
from llm_grader.errors import RubricError
from llm_grader.llm import JudgeRequest, ModelSettings
from llm_grader.rubric import check_rubric, item_fingerprint, rubric_from_text
from llm_grader.testing import FakeJudge, FakeOpenAIServer, Reply, answer, items_of, top_tier_answer

from .conftest import ROOT

CARD = """\
id: checks_card
name: 分项检查
version: "1"
max_score: 20
categories:
  - id: ability
    name: 服务能力
    items:
      - id: efficiency
        name: 处理问题效率
        judge: model
        points: 15
        tiers:
          - {id: good, label: 好, points: 15}
          - {id: fair, label: 一般, points: 12}
          - {id: poor, label: 差, points: 0}
        checks:
          - {id: no_shirking, name: 未推诿, question: 客服是否没有推诿?}
          - {id: proficient, question: 客服处理是否熟练?}
          - {id: info_complete, question: 信息是否完整?}
        thresholds:
          - {failed: [no_shirking], tier: poor}
          - {max: 0, tier: good}
          - {tier: fair}
      - id: clarity
        name: 表达
        judge: model
        points: 5
        tiers:
          - {id: good, label: 好, points: 5}
          - {id: fair, label: 一般, points: 3}
          - {id: poor, label: 差, points: 0}
        not_applicable: {when: 没有需要解释的内容}
"""
RUBRIC = rubric_from_text(CARD, file="checks.yaml")

SHIRK = "这个不归我们管,您找别的部门吧"


def chat() -> Conversation:
    turns = [
        {"speaker": "customer", "text": "我的宽带坏了,能帮我查一下吗"},
        {"speaker": "agent", "text": SHIRK},
        {"speaker": "customer", "text": "那好吧"},
        {"speaker": "agent", "text": "感谢您的来电,再见"},
    ]
    return Conversation.model_validate({"id": "c1", "channel": "chat", "turns": turns})


def checks(**failed: list[dict[str, Any]]) -> dict[str, Any]:
    """Every check of ``efficiency`` passed, except those given (with their evidence)."""
    ids = ("no_shirking", "proficient", "info_complete")
    return {i: {"evidence": failed.get(i, []), "passed": i not in failed} for i in ids}


def efficiency(tier: str = "good", **failed: list[dict[str, Any]]) -> dict[str, Any]:
    return {"evidence": [], "checks": checks(**failed), "rationale": "见检查项", "tier": tier}


def scripted(*answers: dict[str, Any]) -> FakeJudge:
    """``efficiency`` answered by ``answers`` in turn (the last repeated); other items top tier."""
    queue = list(answers)

    def script(request: JudgeRequest) -> dict[str, Any]:
        if request.item_id != "efficiency":
            return top_tier_answer(RUBRIC.item(request.item_id))
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return FakeJudge(script)


def problems(text: str) -> list[str]:
    return [str(p) for p in check_rubric("c.yaml", text=text)[1]]


# --------------------------------------------------------------------------- the tier by rule


def test_the_tier_is_computed_from_the_failed_checks_not_asked() -> None:
    quote = [{"turn": 2, "quote": SHIRK}]
    card = Grader(RUBRIC, model=scripted(efficiency("good", no_shirking=quote))).grade(chat())
    item = card.item("efficiency")
    assert item.tier == "poor" and item.points == 0  # the model said good; the rule says 差
    assert item.audit.checks is not None
    assert [(c.id, c.passed) for c in item.audit.checks] == [
        ("no_shirking", False),
        ("proficient", True),
        ("info_complete", True),
    ]
    (found,) = item.audit.checks[0].evidence
    assert (found.turn, found.quote, found.verified) == (2, SHIRK, True)
    assert "1/3 项检查不符合:未推诿" in item.rationale
    assert item.evidence[0].quote == SHIRK
    again = type(card).model_validate_json(card.model_dump_json())  # the results file keeps them
    assert again.item("efficiency").audit.checks == item.audit.checks
    assert "checks" not in card.item("clarity").audit.model_dump()  # none: not written at all


def test_the_count_of_failed_checks_maps_to_a_tier() -> None:
    quote = [{"turn": 4, "quote": "感谢您的来电"}]
    card = Grader(RUBRIC, model=scripted(efficiency("poor", proficient=quote))).grade(chat())
    assert card.item("efficiency").tier == "fair"
    card = Grader(RUBRIC, model=scripted(efficiency("poor"))).grade(chat())
    assert card.item("efficiency").tier == "good"
    assert card.item("efficiency").audit.checks is not None


def test_a_failed_check_needs_evidence_and_is_asked_again() -> None:
    judge = scripted(efficiency(no_shirking=[]), efficiency(no_shirking=[{"turn": 2, "quote": SHIRK}]))
    card = Grader(RUBRIC, model=judge).grade(chat())
    assert card.item("efficiency").tier == "poor"
    assert card.item("efficiency").audit.attempts == 2


def test_a_check_quote_is_verified_like_any_quote() -> None:
    forged = efficiency(no_shirking=[{"turn": 2, "quote": "我们不负责这个问题"}])
    card = Grader(RUBRIC, model=scripted(forged)).grade(chat())
    item = card.item("efficiency")
    assert item.tier is None and item.error is not None and item.needs_review
    assert "找不到" in item.error and item.audit.failure == "validation"


def test_every_check_and_only_those_must_be_answered() -> None:
    missing = efficiency()
    del missing["checks"]["proficient"]
    extra = efficiency()
    extra["checks"]["speed"] = {"evidence": [], "passed": True}
    for wrong in (missing, extra):
        item = Grader(RUBRIC, model=scripted(wrong)).grade(chat()).item("efficiency")
        assert item.error is not None and "no_shirking, proficient, info_complete" in item.error


def test_checks_on_an_item_that_has_none_are_asked_again() -> None:
    wrong = {**top_tier_answer(RUBRIC.item("clarity")), "checks": checks()}

    def script(request: JudgeRequest) -> dict[str, Any]:
        return wrong if request.item_id == "clarity" else efficiency()

    item = Grader(RUBRIC, model=FakeJudge(script)).grade(chat()).item("clarity")
    assert item.error is not None and "没有检查项" in item.error


def test_samples_vote_on_the_computed_tier() -> None:
    quote = [{"turn": 2, "quote": SHIRK}]
    judge = scripted(efficiency(no_shirking=quote), efficiency("poor"), efficiency(no_shirking=quote))
    card = Grader(RUBRIC, model=judge, samples=3).grade(chat())
    item = card.item("efficiency")
    assert item.tier == "poor" and item.audit.tiers == {"poor": 2, "good": 1}


def test_a_decomposed_item_may_still_not_apply() -> None:
    na_card = CARD.replace("          - {tier: fair}\n", "          - {tier: fair}\n        not_applicable: {when: 没有问题要处理}\n")
    rubric = rubric_from_text(na_card)

    def script(request: JudgeRequest) -> dict[str, Any]:
        if request.item_id == "efficiency":
            return {"evidence": [], "rationale": "无问题", "tier": "not_applicable"}
        return top_tier_answer(rubric.item(request.item_id))

    item = Grader(rubric, model=FakeJudge(script)).grade(chat()).item("efficiency")
    assert item.not_applicable and item.error is None and item.audit.checks is None


def test_a_decomposed_item_may_abstain_and_is_left_unscored() -> None:
    unsure = {"evidence": [], "rationale": "看不出", "tier": "cannot_determine",
              "cannot_determine_reason": "对话被截断,无法判断是否推诿"}
    item = Grader(RUBRIC, model=scripted(unsure)).grade(chat()).item("efficiency")
    assert item.tier is None and item.points is None and item.needs_review
    assert item.error is not None and "对话被截断" in item.error and item.audit.checks is None
    no_reason = {**unsure, "cannot_determine_reason": ""}  # an abstention must say why: re-asked
    item = Grader(RUBRIC, model=scripted(no_reason, efficiency())).grade(chat()).item("efficiency")
    assert item.tier == "good" and item.audit.attempts == 2


def test_the_prompt_lists_the_checks() -> None:
    grader = Grader(RUBRIC, model=FakeJudge.top_tier(RUBRIC))
    block = grader.messages(RUBRIC.item("efficiency"), chat())[-1]["content"]
    assert "规则计算:\n- no_shirking: 客服是否没有推诿?\n- proficient:" in block
    assert "no_shirking" not in grader.messages(RUBRIC.item("clarity"), chat())[-1]["content"]


# --------------------------------------------------------------------------- loader and linter


def test_linter_wants_thresholds_covering_every_count_of_failed_checks() -> None:
    gap = CARD.replace("          - {tier: fair}\n", "          - {min: 1, max: 2, tier: fair}\n")
    found = problems(gap)
    assert any("c.yaml:" in p and "thresholds" in p and "covers 3 failed" in p for p in found), found
    with pytest.raises(RubricError, match=r"c\.yaml:21: .*covers 3 failed"):  # an error: no loading
        rubric_from_text(gap, file="c.yaml")
    assert problems(CARD) == []


def test_linter_checks_ids_tiers_and_structure() -> None:
    dup = CARD.replace("{id: proficient,", "{id: no_shirking,")
    assert any("c.yaml:19:" in p and "duplicate check id 'no_shirking'" in p for p in problems(dup))
    unknown = CARD.replace("{failed: [no_shirking], tier: poor}", "{failed: [shirk], tier: bad}")
    found = problems(unknown)
    assert any("unknown check 'shirk'" in p for p in found) and any("unknown tier 'bad'" in p for p in found)
    no_thresholds = CARD.replace("        thresholds:\n          - {failed: [no_shirking], tier: poor}\n"
                                 "          - {max: 0, tier: good}\n          - {tier: fair}\n", "")
    assert any("needs thresholds" in p for p in problems(no_thresholds))
    orphan = CARD.replace("        not_applicable: {when: 没有需要解释的内容}\n",
                          "        thresholds: [{tier: good}]\n")
    assert any("give the item checks" in p for p in problems(orphan))
    shadowed = CARD.replace("          - {failed: [no_shirking], tier: poor}\n", "").replace(
        "          - {tier: fair}\n", "          - {tier: fair}\n          - {failed: [no_shirking], tier: poor}\n")
    assert any("never matches" in p for p in problems(shadowed))


def test_fingerprints_of_items_without_checks_are_unchanged() -> None:
    flagship, variant = load_rubric("internet_cs_qa"), load_rubric("internet_cs_qa_checks")
    for _, item in flagship.items():
        same = item_fingerprint(item) == item_fingerprint(variant.item(item.id))
        assert same == (item.id not in ("efficiency", "soothing")), item.id
    assert [i.id for _, i in flagship.items()] == [i.id for _, i in variant.items()]


def test_rubric_show_renders_the_checks() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "llm_grader", "rubric", "show", "internet_cs_qa_checks", "--item", "efficiency"],
        capture_output=True, text=True, encoding="utf-8", check=True, cwd=ROOT,
    ).stdout
    assert "检查项 no_shirking(未推诿)" in shown and '"failed":["no_shirking"]' in shown


# --------------------------------------------------------------------------- the answer schema


def test_tier_is_an_enum_when_every_model_item_shares_its_tiers() -> None:
    flagship = load_rubric("internet_cs_qa")
    assert answer_shape(flagship).tiers == ("good", "fair", "poor", "not_applicable", "cannot_determine")
    schema = Grader(flagship, model=FakeJudge.top_tier(flagship)).judging.shared_schema
    assert schema["properties"]["tier"]["enum"] == ["good", "fair", "poor", "not_applicable", "cannot_determine"]
    assert "tier" in schema["required"] and "checks" not in schema["properties"]
    mixed = answer_shape(rubric_from_text(CARD.replace(
        "          - {id: good, label: 好, points: 5}\n          - {id: fair, label: 一般, points: 3}\n"
        "          - {id: poor, label: 差, points: 0}\n", "        scale: binary\n")))
    assert mixed.tiers is None and mixed.tier_required  # good/fair/poor beside pass/fail
    deductions = answer_shape(load_rubric("service_norms_deductions"))
    assert deductions.tiers is None and not deductions.tier_required
    assert answer_shape(load_rubric("internet_cs_qa_checks")).checks


def test_the_schema_is_the_same_for_every_request_of_a_conversation() -> None:
    rubric = load_rubric("internet_cs_qa_checks")
    grader = Grader(rubric, model=FakeJudge.top_tier(rubric))
    (conversation, *_) = load_conversations(ROOT / "eval" / "calibration" / "conversations.jsonl")
    schemas = {json.dumps(r.schema, sort_keys=True) for r in grader.plan(conversation)}
    assert len(schemas) == 1 and "checks" in schemas.pop()


def test_a_tier_outside_the_item_is_still_asked_again_in_the_prompt_language() -> None:
    def script(request: JudgeRequest) -> dict[str, Any]:
        if request.item_id == "clarity":
            return {"evidence": [], "rationale": "x", "tier": "excellent"}
        return efficiency()

    item = Grader(RUBRIC, model=FakeJudge(script)).grade(chat()).item("clarity")
    assert item.error is not None and "不是质检项 clarity 的等级编号" in item.error


# --------------------------------------------------------------------------- through the fake server


def test_checks_through_the_openai_sdk_and_the_fake_server() -> None:
    def respond(request: dict[str, Any]) -> Reply:
        item_id = items_of(request)[-1]
        if item_id == "efficiency":
            return answer(request, efficiency("good", no_shirking=[{"turn": 2, "quote": SHIRK}]))
        return answer(request, top_tier_answer(RUBRIC.item(item_id)))

    with FakeOpenAIServer(respond) as server:
        settings = ModelSettings(model="fake-model", base_url=server.base_url, api_key=SecretStr("sk-test"))
        card = Grader(RUBRIC, model=settings, cache=None).grade(chat())
        sent = list(server.requests)
    item = card.item("efficiency")
    assert item.tier == "poor" and item.audit.checks is not None and not item.audit.checks[0].passed
    parameters = [r["tools"][0]["function"]["parameters"] for r in sent]
    assert all(p == parameters[0] for p in parameters)  # one schema for every item
    assert parameters[0]["properties"]["tier"]["enum"] == ["good", "fair", "poor", "not_applicable", "cannot_determine"]
    assert "tier" in parameters[0]["required"] and "checks" in parameters[0]["properties"]


# --------------------------------------------------------------------------- compare_variants


def _human_tiers(rubric: Any) -> dict[tuple[str, str], str]:
    """The majority human tier id of efficiency and soothing per conversation of the eval set."""
    votes: dict[tuple[str, str], Counter[str]] = {}
    for score in load_human_scores(ROOT / "eval" / "calibration" / "human_scores.csv"):
        if score.item_id in ("efficiency", "soothing"):
            item = rubric.item(score.item_id)
            tier = next((t.id for t in item.tiers if score.value in (t.id, t.display)), score.value)
            votes.setdefault((score.conversation_id, score.item_id), Counter())[tier] += 1
    return {key: counter.most_common(1)[0][0] for key, counter in votes.items()}


_FAILS = {"efficiency": {"fair": "proficient", "poor": "no_shirking"},
          "soothing": {"fair": "sensitive", "poor": "customer_stance"}}


def test_compare_variants_measures_the_checks_card_against_the_flagship() -> None:
    flagship, variant = load_rubric("internet_cs_qa"), load_rubric("internet_cs_qa_checks")
    conversations = list(load_conversations(ROOT / "eval" / "calibration" / "conversations.jsonl"))
    humans = load_human_scores(ROOT / "eval" / "calibration" / "human_scores.csv")
    truth = _human_tiers(flagship)
    first_agent = {c.id: next(i for i, t in enumerate(c.turns, 1) if t.speaker == "agent") for c in conversations}
    by_id = {c.id: c for c in conversations}

    def decomposed(request: JudgeRequest) -> dict[str, Any]:
        # The checks answered as the human graders' tier implies; the flagship judge below
        # always gives the top tier, so the checks card should agree better.
        conversation = request.context["conversation"] if request.context else None
        assert isinstance(conversation, Conversation)
        item = variant.item(request.item_id)
        tier = truth.get((conversation.id, item.id), "good")
        if not item.checks:
            return top_tier_answer(item)
        if tier == "not_applicable":
            return {"evidence": [], "rationale": "不涉及", "tier": tier}
        turn = first_agent[conversation.id]
        quote = [{"turn": turn, "quote": by_id[conversation.id].turns[turn - 1].text}]
        failed = _FAILS[item.id].get(tier)
        given = {c.id: {"evidence": quote if c.id == failed else [], "passed": c.id != failed}
                 for c in item.checks}
        return {"evidence": [], "checks": given, "rationale": "按检查项", "tier": "good"}

    cards_a = Grader(flagship, model=FakeJudge.top_tier(flagship)).grade_many(conversations)
    cards_b = Grader(variant, model=FakeJudge(decomposed)).grade_many(conversations)
    assert all(c.complete for c in cards_b)
    comparison = compare_variants(flagship, cards_a, variant, cards_b, humans, n_boot=200, seed=0)
    verdicts = {i.item_id: i.verdict for i in comparison.items}
    assert verdicts["efficiency"] == "better" and verdicts["soothing"] == "better"
    assert verdicts["politeness"] == "not distinguishable"  # the same item, the same answers
