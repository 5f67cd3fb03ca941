"""Confidence of model grades (llm_grader._confidence): the tier token's probability, the vote share,
routing below a threshold to review — pure functions, FakeJudge, and the real SDK against the fake server."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import SecretStr

from llm_grader import Grader, LLMGraderError, ModelSettings, Rubric
from llm_grader._confidence import TokenLogprob, combine, tier_distribution, tier_positions
from llm_grader.testing import (
    FakeJudge,
    FakeOpenAIServer,
    Reply,
    answer,
    item_of,
    items_of,
    scripted_logprobs,
    top_tier_answer,
)

from .test_judging import CHAT

TIERS = ["good", "fair", "poor", "not_applicable"]


def _t(token: str, p: float, *alternatives: tuple[str, float]) -> TokenLogprob:
    return TokenLogprob(token, math.log(p), tuple((a, math.log(q)) for a, q in alternatives))


# --------------------------------------------------------------------------- reading logprobs


def test_the_tier_token_gives_the_chosen_tier_against_the_alternatives() -> None:
    tokens = [_t('{"evidence": [], ', 1.0), _t('"tier', 1.0), _t('": "', 1.0),
              _t("fair", 0.6, ("fair", 0.6), ("good", 0.3), ("poor", 0.05), ("maybe", 0.05)), _t('"}', 1.0)]
    dist = tier_distribution(tokens, TIERS)
    # "maybe" is no tier: left out, the rest normalised
    assert dist == pytest.approx({"good": 0.3 / 0.95, "fair": 0.6 / 0.95, "poor": 0.05 / 0.95,
                                  "not_applicable": 0.0}, abs=1e-4)


def test_a_tier_spread_over_tokens_is_followed_to_where_it_is_settled() -> None:
    # "not" is shared by two tiers: the second token settles which, and its alternatives count.
    choices = ["not_applicable", "not_sure"]
    tokens = [_t('{"tier": "', 1.0), _t("not", 1.0, ("not", 1.0)),
              _t("_applicable", 0.8, ("_applicable", 0.8), ("_sure", 0.2)), _t('"}', 1.0)]
    assert tier_distribution(tokens, choices) == pytest.approx({"not_applicable": 0.8, "not_sure": 0.2})
    # the value starts inside a token that also carries the opening quote
    lead_in_token = [_t('{"tier":', 1.0), _t(' "good', 0.5, (' "good', 0.5), (' "poor', 0.25), (' "fair', 0.25)),
                     _t('"}', 1.0)]
    assert tier_distribution(lead_in_token, TIERS) == pytest.approx(
        {"good": 0.5, "fair": 0.25, "poor": 0.25, "not_applicable": 0.0})


def test_no_tier_value_or_an_unknown_one_gives_no_distribution() -> None:
    assert tier_distribution([_t('{"occurrences": []}', 1.0)], TIERS) is None
    assert tier_distribution([_t('{"tier": "', 1.0), _t("great", 0.9), _t('"}', 1.0)], TIERS) is None
    escaped = [_t('{"rationale": "\\"tier\\": \\"good\\"", "tier": "', 1.0), _t("poor", 0.7, ("good", 0.3)),
               _t('"}', 1.0)]
    assert tier_distribution(escaped, TIERS) == pytest.approx({"good": 0.3, "fair": 0.0, "poor": 0.7,
                                                               "not_applicable": 0.0})


def test_grouped_tiers_are_matched_in_content_order() -> None:
    content = '{"answers": [{"item_id": "a", "tier": "good"}, {"item_id": "d"}, {"item_id": "b", "tier": "poor"}]}'
    tokens = scripted_logprobs(content, [{"good": 0.9, "fair": 0.1}, {"poor": 0.6, "fair": 0.4}])
    assert tier_positions(tokens, ["good", "poor"]) == [0, 1]
    assert tier_distribution(tokens, TIERS, occurrence=1) == pytest.approx(
        {"good": 0.0, "fair": 0.4, "poor": 0.6, "not_applicable": 0.0})


def test_confidence_combines_vote_share_and_tier_probability() -> None:
    assert combine(agreeing=1, samples=1) is None  # nothing measured
    assert combine(agreeing=2, samples=3) == pytest.approx(0.6667, abs=1e-4)
    assert combine(agreeing=1, samples=1, tier_probs=[0.7]) == pytest.approx(0.7)
    assert combine(agreeing=2, samples=3, tier_probs=[0.9, 0.6]) == pytest.approx(2 / 3 * 0.75, abs=1e-4)


# --------------------------------------------------------------------------- grading with FakeJudge


def _script(rubric: Rubric, tiers: list[str]) -> Any:
    def script(request: Any) -> dict[str, Any]:
        reply = top_tier_answer(rubric.item(request.item_id))
        if request.item_id == "efficiency":
            reply.update(tier=tiers[request.sample], evidence=[{"turn": 5, "quote": "抱歉，我帮您加急催一下维修师傅"}])
        return reply

    return script


def test_samples_give_the_vote_share_and_logprobs_discount_it(flagship: Rubric) -> None:
    votes = ["fair", "fair", "poor"]
    card = Grader(flagship, model=FakeJudge(_script(flagship, votes)), samples=3, cache=None).grade(CHAT)
    assert card.item("efficiency").confidence == pytest.approx(0.6667, abs=1e-4)
    assert card.item("first_response_time").confidence is None  # a rule: exact, no confidence

    probs = {0: {"fair": 0.9, "poor": 0.1}, 1: {"fair": 0.5, "good": 0.5}, 2: {"poor": 0.8, "fair": 0.2}}
    judge = FakeJudge(_script(flagship, votes),
                      tier_probs=lambda r: [probs[r.sample]] if r.item_id == "efficiency" else None)
    item = Grader(flagship, model=judge, samples=3, cache=None).grade(CHAT).item("efficiency")
    assert item.confidence == pytest.approx(2 / 3 * (0.9 + 0.5) / 2, abs=1e-3)
    assert item.audit.tier_probs == pytest.approx({"good": 1 / 6, "fair": 1.6 / 3, "poor": 0.3}, abs=1e-3)


def test_review_below_marks_unsure_items_with_the_reason(flagship: Rubric) -> None:
    judge = FakeJudge(_script(flagship, ["fair"]),
                      tier_probs=lambda r: [{"fair": 0.55, "poor": 0.45}] if r.item_id == "efficiency"
                      else [{"good": 0.95, "fair": 0.05}])
    card = Grader(flagship, model=judge, review_below=0.8, cache=None).grade(CHAT)
    unsure = card.item("efficiency")
    assert unsure.confidence == pytest.approx(0.55) and unsure.needs_review
    assert "置信度 0.55 低于 0.80,需复核" in unsure.rationale
    sure = card.item("expression")
    assert sure.confidence == pytest.approx(0.95) and not sure.needs_review
    assert "置信度" not in sure.rationale
    # without the option, the same grade stays
    plain = Grader(flagship, model=judge, cache=None).grade(CHAT).item("efficiency")
    assert plain.confidence == pytest.approx(0.55) and not plain.needs_review


def test_review_below_must_be_a_share(flagship: Rubric) -> None:
    with pytest.raises(LLMGraderError, match="review_below must be between 0 and 1"):
        Grader(flagship, review_below=80)


# --------------------------------------------------------------------------- through openai + instructor


def _responder(flagship: Rubric, probs: dict[str, float]) -> Any:
    def respond(request: dict[str, Any]) -> Reply:
        item_id = item_of(request)
        reply = top_tier_answer(flagship.item(item_id))
        if item_id == "efficiency":
            reply.update(tier="fair", evidence=[{"turn": 5, "quote": "抱歉，我帮您加急催一下维修师傅"}])
        return answer(request, reply, tier_probs=[probs])

    return respond


@pytest.mark.parametrize("mode", ["json_schema", "json"])
def test_logprobs_through_the_sdk_measure_the_tier(flagship: Rubric, mode: str, tmp_path: Any) -> None:
    probs = {"fair": 0.7, "good": 0.2, "poor": 0.1}
    with FakeOpenAIServer(_responder(flagship, probs)) as server:
        settings = ModelSettings(model="fake-model", base_url=server.base_url, api_key=SecretStr("sk-test"),
                                 mode=mode)  # type: ignore[arg-type]
        card = Grader(flagship, model=settings, cache=tmp_path / "cache.sqlite").grade(CHAT)
        asked, calls = server.requests[0], len(server.requests)
        again = Grader(flagship, model=settings, cache=tmp_path / "cache.sqlite").grade(CHAT)
        assert len(server.requests) == calls  # answered from the cache: no call
    assert asked["logprobs"] is True and asked["top_logprobs"] == 5
    item = card.item("efficiency")
    assert item.tier == "fair" and item.confidence == pytest.approx(0.7)
    assert item.audit.tier_probs == pytest.approx({"good": 0.2, "fair": 0.7, "poor": 0.1})
    # the cached answer keeps its logprobs, so its confidence
    assert again.item("efficiency").confidence == pytest.approx(0.7)
    assert again.item("efficiency").usage.cached_calls == 1


def test_tools_mode_asks_no_logprobs_and_has_no_confidence(flagship: Rubric) -> None:
    with FakeOpenAIServer(_responder(flagship, {"fair": 0.7, "good": 0.3})) as server:
        settings = ModelSettings(model="fake-model", base_url=server.base_url, api_key=SecretStr("sk-test"),
                                 mode="tools")
        card = Grader(flagship, model=settings, cache=None).grade(CHAT)
        asked = server.requests[0]
    assert "logprobs" not in asked and "top_logprobs" not in asked
    assert card.item("efficiency").confidence is None


def test_logprobs_can_be_turned_off(flagship: Rubric) -> None:
    with FakeOpenAIServer(_responder(flagship, {"fair": 0.7, "good": 0.3})) as server:
        settings = ModelSettings(model="fake-model", base_url=server.base_url, api_key=SecretStr("sk-test"),
                                 mode="json_schema", logprobs=False)
        card = Grader(flagship, model=settings, cache=None).grade(CHAT)
        asked = server.requests[0]
    assert "logprobs" not in asked
    assert card.item("efficiency").confidence is None


def test_grouped_answers_read_each_items_tier(flagship: Rubric) -> None:
    def respond(request: dict[str, Any]) -> Reply:
        ids = items_of(request)
        replies = [{"item_id": i, **top_tier_answer(flagship.item(i))} for i in ids]
        probs = [{"good": 0.5 + 0.05 * n, "fair": 0.5 - 0.05 * n} for n in range(len(ids))]
        return answer(request, {"answers": replies}, tier_probs=probs)

    with FakeOpenAIServer(respond) as server:
        settings = ModelSettings(model="fake-model", base_url=server.base_url, api_key=SecretStr("sk-test"),
                                 mode="json_schema")
        card = Grader(flagship, model=settings, strategy="conversation", cache=None).grade(CHAT)
        ids = items_of(server.requests[0])
    assert len(ids) > 3
    for n, item_id in enumerate(ids):
        assert card.item(item_id).confidence == pytest.approx(0.5 + 0.05 * n, abs=1e-4), item_id


# --------------------------------------------------------------------------- coverage–agreement curve


def _calibrated(flagship: Rubric, confident: bool) -> Any:
    import json
    from pathlib import Path

    from llm_grader import load_conversations
    from llm_grader.calibration import calibrate, load_human_scores

    cal = Path(__file__).resolve().parent.parent / "eval" / "calibration"
    truth = {(t["conversation_id"], t["item_id"]): t for t in map(json.loads, (cal / "truth.jsonl").read_text(encoding="utf-8").splitlines())}
    conversations = load_conversations(cal / "conversations.jsonl")[:24]

    def script(request: Any) -> dict[str, Any]:
        cid = request.context["conversation"].id
        reply = top_tier_answer(flagship.item(request.item_id))
        known = truth.get((cid, request.item_id))
        if known and int(cid[1:]) % 3:  # two in three right (with their evidence); the rest top tier
            reply.update(tier=known["tier"], evidence=known["evidence"], flags=known["flags"] or reply.get("flags", {}))
        return reply

    def probs(request: Any) -> list[dict[str, float]]:
        cid = request.context["conversation"].id
        p = 0.9 if int(cid[1:]) % 3 else 0.5
        tier = script(request).get("tier", "good")
        return [{t: p if t == tier else (1 - p) / 2 for t in ("good", "fair", "poor")}]

    judge = FakeJudge(script, tier_probs=probs if confident else None)
    cards = Grader(flagship, model=judge, cache=None).grade_many(conversations)
    humans = [h for h in load_human_scores(cal / "human_scores.csv") if h.conversation_id <= "k024"]
    return calibrate(flagship, cards, humans, n_boot=60, seed=1, target_kappa=0.6)


def test_the_curve_at_confidence_zero_is_the_items_kappa_and_low_confidence_goes_to_review(flagship: Rubric) -> None:
    report = _calibrated(flagship, confident=True)
    overall, *items = report.coverage
    assert overall.item_id == "overall" and overall.confident
    by_id = {i.item_id: i for i in report.items}
    for curve in items:
        first = curve.points[0]
        assert first.threshold == 0 and first.coverage == pytest.approx(1.0)
        assert first.kappa == pytest.approx(by_id[curve.item_id].model_human.kappa, abs=1e-3), curve.item_id
        # above the unsure grades' 0.5, only the sure two in three are accepted
        sure = next(p for p in curve.points if 0.5 < p.threshold <= 0.9)
        assert sure.coverage < 0.75
    assert overall.recommended is not None
    assert overall.sentence.startswith("自动通过 ") and "送人工复核" in overall.sentence
    best = overall.recommended
    assert best.kappa >= 0.6 and best.kappa_ci.low <= best.kappa <= best.kappa_ci.high


def test_without_confidence_the_report_says_there_is_nothing_to_route_by(flagship: Rubric) -> None:
    report = _calibrated(flagship, confident=False)
    assert not report.coverage[0].confident
    assert report.coverage[0].sentence == "评分没有置信度(单次采样且无 logprobs),无法按置信度分流。"
