"""Undetermined overrides and partial totals are never shown as definite numbers."""

from __future__ import annotations

from llm_grader import Conversation, Grader, Rubric, load_rubric
from llm_grader.calibration import HumanScore, calibrate
from llm_grader.llm import ModelResult
from llm_grader.scoring import score
from llm_grader.testing import FakeJudge, top_tier_answer
from llm_grader.types import Judgement


def test_an_unscored_item_leaves_its_override_undetermined(flagship: Rubric, by_id: dict[str, Conversation]) -> None:
    def script(request):  # type: ignore[no-untyped-def]
        if request.item_id == "politeness":
            return ModelResult(error="APITimeoutError after retries", kind="transport")
        return top_tier_answer(flagship.item(request.item_id))

    card = Grader(flagship, model=FakeJudge(script)).grade(by_id["c006"])
    assert card.fatal is None and not card.complete
    assert [(p.id, p.blocking) for p in card.pending_overrides] == [("service_taboo_fatal", ["politeness"])]
    assert card.total_min == 0  # politeness could still raise the service taboo
    assert card.total_score is not None and card.total_max is not None
    assert card.total_score <= card.total_max <= card.max_score
    complete = Grader(flagship, model=FakeJudge.top_tier(flagship)).grade(by_id["c006"])
    assert complete.fatal is False and complete.complete and complete.total_min is None


def test_undetermined_fatal_is_left_out_of_fatal_recall(flagship: Rubric, by_id: dict[str, Conversation]) -> None:
    def script(request):  # type: ignore[no-untyped-def]
        if request.item_id == "politeness":
            return ModelResult(error="timeout", kind="transport")
        return top_tier_answer(flagship.item(request.item_id))

    card = Grader(flagship, model=FakeJudge(script)).grade(by_id["c006"])
    humans = [HumanScore(conversation_id="c006", rater="a", item_id="fatal", value="1")]
    report = calibrate(flagship, [card], humans, n_boot=10)
    assert report.fatal is not None and report.fatal.undetermined == 1 and report.fatal.n == 0
    assert report.fatal.model_positive == 0 and not [d for d in report.disagreements if d.item_id == "fatal"]


def test_deduction_items_not_checked_are_open() -> None:
    card_rubric = load_rubric("service_norms_deductions")
    conversation = Conversation.model_validate({"id": "x", "channel": "call", "turns": [
        {"speaker": "agent", "text": "您好", "start": 0, "end": 1}]})
    card = Grader(card_rubric).grade(conversation)
    assert not card.complete and card.total_max == card.max_score
    assert card.total_min is not None and card.total_min < card.max_score


def test_group_penalties_and_caps_bound_the_range(flagship: Rubric) -> None:
    rubric = load_rubric("service_quality_scoring")
    first = next(i for _, i in rubric.items() if i.judge == "rule" and not i.is_deduction)
    scored = score(rubric, [Judgement(item_id=first.id, tier=first.tiers[0].id)], conversation_id="x")
    assert scored.total_min is not None and scored.total_max is not None
    assert 0 <= scored.total_min <= scored.total_max <= rubric.max_score
    everything = {i.id: Judgement(item_id=i.id, tier=max(i.tiers, key=i.tier_points).id) if not i.is_deduction
                  else Judgement(item_id=i.id) for _, i in rubric.items()}
    best = score(rubric, everything, conversation_id="x")
    assert best.complete and best.total_score == scored.total_max
