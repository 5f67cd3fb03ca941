"""Model answers into judgements (llm_grader._judging): evidence verified once, samples voting on flags,
trivial evidence deciding nothing — with FakeJudge, and end to end through the fake OpenAI server."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from llm_grader import Conversation, Grader, LLMGraderError, ModelSettings, Rubric
from llm_grader import _answers as answers_module
from llm_grader._answers import answer_model, checked_model, located
from llm_grader._prompting import Prompts
from llm_grader._sampling import Vote, majority_occurrences, majority_verdict
from llm_grader.llm import JudgeRequest
from llm_grader.scoring import Scorecard
from llm_grader.testing import FakeJudge, FakeOpenAIServer, Reply, answer, item_of, top_tier_answer
from llm_grader.types import Occurrence

ZH = Prompts.load("zh")

CHAT = Conversation.model_validate({"id": "taboo", "channel": "chat", "turns": [
    {"speaker": "agent", "text": "您好，在的。"},  # a greeting: the politeness rules do not fire
    {"speaker": "customer", "text": "我的宽带又断了，上周报修到现在都没人来。"},
    {"speaker": "agent", "text": "这个我们也没办法，你自己等着吧，别老打电话来烦人。"},
    {"speaker": "customer", "text": "你这是什么态度？"},
    {"speaker": "agent", "text": "抱歉，我帮您加急催一下维修师傅。"},
]})
TABOO = {"turn": 3, "quote": "别老打电话来烦人"}
APOLOGY = {"turn": 5, "quote": "抱歉，我帮您加急催一下维修师傅"}

Script = Callable[[JudgeRequest], dict[str, Any]]


def _politeness(by_sample: Callable[[int], dict[str, Any]], rubric: Rubric) -> Script:
    def script(request: JudgeRequest) -> dict[str, Any]:
        reply = top_tier_answer(rubric.item(request.item_id))
        if request.item_id == "politeness":
            reply.update(by_sample(request.sample))
        return reply

    return script


def _fair(raised: bool) -> dict[str, Any]:
    if raised:
        return {"tier": "fair", "evidence": [TABOO], "flags": {"service_taboo": True}, "rationale": "顶撞客户"}
    return {"tier": "fair", "evidence": [APOLOGY], "flags": {"service_taboo": False}, "rationale": "语气生硬"}


def _graded(rubric: Rubric, pattern: tuple[bool, ...]) -> Scorecard:
    script = _politeness(lambda sample: _fair(pattern[sample]), rubric)
    return Grader(rubric, model=FakeJudge(script), samples=len(pattern), cache=None).grade(CHAT)


def _verdict(card: Scorecard) -> tuple[Any, ...]:
    item = card.item("politeness")
    evidence = [(e.turn, e.quote, e.start_char, e.end_char) for e in item.evidence]
    return (card.total_score, card.fatal, item.tier, dict(item.flags), evidence, item.audit.agreement,
            item.audit.flag_votes, item.needs_review, item.rationale)


# --------------------------------------------------------------------------- verified once


def test_a_checked_answer_keeps_the_evidence_it_located(flagship: Rubric) -> None:
    shared = answer_model(ZH)
    checked = checked_model(shared, flagship.item("politeness"), ZH)
    assert checked.model_json_schema() == shared.model_json_schema()  # the schema sent is unchanged
    reply = {"evidence": [TABOO, {"turn": 1, "quote": "您好，在的。"}], "rationale": "r", "tier": "poor",
             "flags": {"service_taboo": True}}
    validated = checked.model_validate(reply, context={"conversation": CHAT})
    assert [(e.turn, e.speaker, e.start_char, e.end_char, e.quote) for e in located(validated)] == [
        (3, "agent", 16, 24, "别老打电话来烦人"), (1, "agent", 0, 6, "您好，在的。")]
    # A flag given as a bare boolean is a flag answered without evidence of its own.
    assert "_located" not in validated.model_dump_json() and validated.model_dump() == {
        **reply, "occurrences": [], "flags": {"service_taboo": {"evidence": [], "answer": True}},
        "cannot_determine_reason": ""}
    assert located(validated.model_copy()) == located(validated)
    with pytest.raises(LLMGraderError, match="not validated by an item's checked model"):
        located(shared.model_validate(reply))


def test_judging_does_not_locate_the_quotes_again(flagship: Rubric, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = answers_module.verify_quote

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(answers_module, "verify_quote", counting)
    from llm_grader import _judging as judging

    # (A second pass, if there were one, would go through this name.)
    monkeypatch.setattr(judging, "verify_quote", counting, raising=False)
    card = _graded(flagship, (True,))
    assert card.fatal and card.item("politeness").evidence[0].start_char == 16
    assert calls == [TABOO["quote"]]  # once, by the validator


# --------------------------------------------------------------------------- samples vote on flags


@pytest.mark.parametrize("pattern", sorted(set(itertools.permutations((True, False, False)))))
def test_one_sample_of_three_raising_a_flag_does_not_fire_it(flagship: Rubric, pattern: tuple[bool, ...]) -> None:
    card = _graded(flagship, pattern)
    item = card.item("politeness")
    assert not card.fatal and card.total_score != 0
    assert item.flags == {"service_taboo": False} and item.tier == "fair"
    assert item.audit.agreement == pytest.approx(2 / 3) and item.audit.flag_votes == {"service_taboo": 1}
    assert item.needs_review and "1/3 次采样判定 service_taboo 成立" in item.rationale
    assert [e.quote for e in item.evidence] == [APOLOGY["quote"]]  # from the samples behind the verdict
    assert _verdict(card) == _verdict(_graded(flagship, (False, False, True)))  # order does not matter


@pytest.mark.parametrize("pattern", sorted(set(itertools.permutations((True, True, False)))))
def test_a_flag_most_samples_raise_fires_with_their_evidence(flagship: Rubric, pattern: tuple[bool, ...]) -> None:
    card = _graded(flagship, pattern)
    item = card.item("politeness")
    assert card.fatal and card.total_score == 0
    assert item.flags == {"service_taboo": True} and item.needs_review
    assert item.audit.agreement == pytest.approx(2 / 3) and item.audit.flag_votes == {"service_taboo": 2}
    assert [e.quote for e in item.evidence] == [TABOO["quote"]]
    assert [e.quote for e in card.overrides[0].evidence] == [TABOO["quote"]]
    assert _verdict(card) == _verdict(_graded(flagship, (False, True, True)))


def test_samples_that_agree_on_every_flag_agree(flagship: Rubric) -> None:
    card = _graded(flagship, (True, True, True))
    item = card.item("politeness")
    assert card.fatal and item.audit.agreement == 1.0 and not item.needs_review
    assert item.rationale == "顶撞客户"


def test_a_tie_between_tiers_does_not_depend_on_sample_order(flagship: Rubric) -> None:
    good = {"tier": "good", "evidence": [], "flags": {"service_taboo": False}, "rationale": "好"}
    poor = {"tier": "poor", "evidence": [APOLOGY], "flags": {"service_taboo": False}, "rationale": "差"}
    cards = [
        Grader(flagship, model=FakeJudge(_politeness(lambda s, o=order: o[s], flagship)), samples=2,
               cache=None).grade(CHAT)
        for order in ((good, poor), (poor, good))
    ]
    assert _verdict(cards[0]) == _verdict(cards[1])
    item = cards[0].item("politeness")
    assert item.tier == "poor" and item.needs_review and item.audit.tiers == {"good": 1, "poor": 1}


# --------------------------------------------------------------------------- trivial evidence


@pytest.mark.parametrize("quote", ["。", "您", "，"])
def test_a_trivial_quote_never_fires_an_override(flagship: Rubric, quote: str) -> None:
    trivial = {"tier": "poor", "evidence": [{"turn": 1, "quote": quote}], "flags": {"service_taboo": True},
               "rationale": "服务禁忌"}
    judge = FakeJudge(_politeness(lambda sample: trivial, flagship))
    card = Grader(flagship, model=judge, cache=None).grade(CHAT)
    item = card.item("politeness")
    assert not card.fatal and item.tier is None and item.needs_review and item.error
    assert [r.item_id for r in judge.requests].count("politeness") == 3  # asked again, twice


def test_a_trivial_quote_is_asked_again_and_a_real_one_decides(flagship: Rubric) -> None:
    attempts = iter([{"turn": 1, "quote": "。"}, {"turn": 9, "quote": TABOO["quote"]}, TABOO])

    def by_sample(sample: int) -> dict[str, Any]:
        return {"tier": "poor", "evidence": [next(attempts)], "flags": {"service_taboo": True}, "rationale": "r"}

    card = Grader(flagship, model=FakeJudge(_politeness(by_sample, flagship)), cache=None).grade(CHAT)
    item = card.item("politeness")
    assert card.fatal and item.audit.attempts == 3  # "。", then turn 9 (out of range), then the words
    assert [(e.turn, e.cited_turn, e.quote) for e in item.evidence] == [(3, None, TABOO["quote"])]


def test_a_flag_raised_without_evidence_is_asked_again(flagship: Rubric) -> None:
    bare = {"tier": "good", "evidence": [], "flags": {"service_taboo": True}, "rationale": "r"}
    judge = FakeJudge(_politeness(lambda sample: bare, flagship))
    card = Grader(flagship, model=judge, cache=None).grade(CHAT)
    assert not card.fatal and card.item("politeness").error


# --------------------------------------------------------------------------- end to end


def test_a_punctuation_quote_fires_no_override_through_the_api(flagship: Rubric) -> None:
    """Through openai + instructor + the fake server: "。" and "您" are re-asked with the reason, never decide."""
    trivial = {
        "politeness": {"tier": "poor", "evidence": [{"turn": 1, "quote": "。"}], "flags": {"service_taboo": True},
                       "rationale": "服务禁忌"},
        "proactiveness": {"tier": "poor", "evidence": [{"turn": 1, "quote": "您"}],
                          "flags": {"shirked_unsolved": True}, "rationale": "推诿"},
    }
    seen: dict[str, list[dict[str, Any]]] = {}

    def respond(request: dict[str, Any]) -> Reply:
        item_id = item_of(request)
        seen.setdefault(item_id, []).append(request)
        return answer(request, trivial.get(item_id) or top_tier_answer(flagship.item(item_id)))

    with FakeOpenAIServer(respond) as server:
        settings = ModelSettings(model="fake-model", base_url=server.base_url, api_key=SecretStr("sk-test"),
                                 reasks=1)
        card = Grader(flagship, model=settings, cache=None).grade(CHAT)
    assert not card.fatal and not card.zero_score and card.total_score != 0
    for item_id in trivial:
        item = card.item(item_id)
        assert item.tier is None and item.needs_review and item.audit.failure == "validation"
        assert len(seen[item_id]) == 2  # asked once more, with the reason
    reasked = str(seen["politeness"][1]["messages"])
    assert "引用只有标点或符号,没有实际内容" in reasked
    assert "引用太短(不足 4 个字)" in str(seen["proactiveness"][1]["messages"])


# --------------------------------------------------------------------------- the vote, as pure functions


def _occurrence(turn: int, severe: bool, quote: str = "别老打电话来烦人") -> Occurrence:
    return Occurrence(turn=turn, speaker="agent", quote=quote, start_char=0, end_char=len(quote), severe=severe)


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_deduction_severity_is_voted_in_any_order(order: tuple[int, ...]) -> None:
    samples = [[_occurrence(3, True)], [_occurrence(3, False)], [_occurrence(3, False, "别老打电话")]]
    kept, share = majority_occurrences([samples[i] for i in order])
    assert [(o.turn, o.severe, o.quote) for o in kept] == [(3, False, "别老打电话")]
    assert share == pytest.approx(2 / 3)


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_majority_verdict_does_not_depend_on_order(order: tuple[int, ...]) -> None:
    taboo, other = (_occurrence(3, False),), (_occurrence(5, False, "抱歉"),)
    votes = [Vote("fair", {"taboo": True}, taboo, "b"), Vote("fair", {"taboo": True}, taboo, "a"),
             Vote("good", {"taboo": False}, other, "c")]
    verdict = majority_verdict([votes[i] for i in order], {"good": 5, "fair": 3, "poor": 0})
    assert (verdict.tier, verdict.flags, verdict.agreeing, verdict.split) == ("fair", {"taboo": True}, 2, ("taboo",))
    assert verdict.evidence == taboo and verdict.flag_votes == {"taboo": 2}
    assert [votes[i] for i in order][verdict.chosen].key == "a"
