"""Grouped judging (--strategy category / conversation) through the real SDK, and the shared schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr

from llm_grader import Conversation, Grader, load_rubric
from llm_grader.errors import LLMGraderError
from llm_grader.llm import ModelSettings
from llm_grader.testing import FakeJudge, FakeOpenAIServer, Reply, answer, items_of, top_tier_responder

FLAGSHIP = load_rubric("internet_cs_qa")
MODEL_ITEMS = [i for _, i in FLAGSHIP.items() if i.judge == "model"]


def _grader(server: FakeOpenAIServer, strategy: str, mode: str = "tools") -> Grader:
    settings = ModelSettings(model="fake", base_url=server.base_url, api_key=SecretStr("sk-test"), mode=mode)  # type: ignore[arg-type]
    return Grader(FLAGSHIP, model=settings, cache=None, strategy=strategy)


@pytest.mark.parametrize(("strategy", "calls"), [("item", 9), ("category", 6), ("conversation", 1)])
def test_strategies_make_fewer_calls_and_give_the_same_card(
    strategy: str, calls: int, by_id: dict[str, Conversation]
) -> None:
    with FakeOpenAIServer(top_tier_responder(FLAGSHIP)) as server:
        card = _grader(server, strategy).grade(by_id["c006"])
    assert len(server.requests) == calls == card.usage.calls
    assert card.complete and card.total_score == 100 and not card.errors
    grouped = [i for i in card.items if i.audit.group]
    if strategy == "item":
        assert not grouped
    else:
        assert grouped and all(i.audit.group and i.item_id in i.audit.group for i in grouped)
        # The grouped call's usage is booked once, on the first item it answered.
        for ids in {tuple(i.audit.group or ()) for i in grouped}:
            assert [card.item(i).usage.calls for i in ids] == [1] + [0] * (len(ids) - 1)
        assert sum(i.usage.calls for i in card.items) == calls


def test_category_groups_follow_the_card(by_id: dict[str, Conversation]) -> None:
    with FakeOpenAIServer(top_tier_responder(FLAGSHIP)) as server:
        _grader(server, "category").grade(by_id["c006"])
    asked = [items_of(r) for r in server.requests]
    category = {item.id: c.id for c, item in FLAGSHIP.items()}
    for ids in asked:
        assert len({category[i] for i in ids}) == 1
    assert sorted(i for ids in asked for i in ids) == sorted(i.id for i in MODEL_ITEMS)
    # Every request carries the same schema, the group answer model (one-item categories too):
    # a conversation's requests share their prefix up to the item blocks.
    tools = {json.dumps(r["tools"], sort_keys=True) for r in server.requests}
    assert len(tools) == 1 and '"ItemAnswers"' in tools.pop()


def _grouped_with_faults(request: dict[str, Any]) -> Reply:
    """Whole card in one call: politeness cites a quote not in the transcript, focus is missing."""
    ids = items_of(request)
    top = top_tier_responder(FLAGSHIP)
    if len(ids) == 1:  # an item asked again alone
        return top(request)
    entries = json.loads(top(request).body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])  # type: ignore[index]
    out = []
    for entry in entries["answers"]:
        if entry["item_id"] == "focus":
            continue
        if entry["item_id"] == "politeness":
            entry = {**entry, "tier": "poor", "evidence": [{"turn": 3, "quote": "这句话不在对话里"}]}
        out.append(entry)
    return answer(request, {"answers": out})


def test_a_failing_or_missing_entry_is_asked_again_alone(by_id: dict[str, Conversation]) -> None:
    with FakeOpenAIServer(_grouped_with_faults) as server:
        card = _grader(server, "conversation").grade(by_id["c006"])
    alone = [items_of(r) for r in server.requests[1:]]
    assert sorted(alone) == [["focus"], ["politeness"]]  # the rest of the group stands
    assert card.complete and card.total_score == 100
    assert card.item("politeness").tier == "good" and not card.item("politeness").audit.group
    assert card.item("soothing").audit.group is not None
    assert card.usage.calls == 3


def test_grouped_judging_with_fake_judge_and_samples(by_id: dict[str, Conversation]) -> None:
    judge = FakeJudge.top_tier(FLAGSHIP)
    card = Grader(FLAGSHIP, model=judge, strategy="category", samples=3).grade(by_id["c006"])
    assert card.complete and card.total_score == 100
    assert len(judge.requests) == 6 * 3
    assert all(i.audit.agreement == 1.0 for i in card.items if i.audit.group)


def test_plan_lists_the_first_requests_of_each_strategy(by_id: dict[str, Conversation]) -> None:
    for strategy, n in (("item", 9), ("category", 6), ("conversation", 1)):
        plan = Grader(FLAGSHIP, model=FakeJudge.top_tier(FLAGSHIP), strategy=strategy).plan(by_id["c006"])
        assert len(plan) == n and sorted(i for r in plan for i in r.item_ids) == sorted(i.id for i in MODEL_ITEMS)
    assert Grader(FLAGSHIP).plan(by_id["c006"]) == []  # rules only: nothing is sent


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(LLMGraderError, match="strategy must be one of item, category, conversation"):
        Grader(FLAGSHIP, strategy="batch")


def test_batches_stream_a_generator_with_bounded_read_ahead(tmp_path: Any, by_id: dict[str, Conversation]) -> None:
    """Conversations are pulled as slots free up, and collect=False keeps nothing in memory."""
    read: list[str] = []
    finished: list[str] = []
    ahead: list[int] = []

    def source() -> Any:
        for n in range(40):
            read.append(f"s{n}")
            ahead.append(len(read) - len(finished))
            yield by_id["c006"].model_copy(update={"id": f"s{n}"})

    grader = Grader(FLAGSHIP, model=FakeJudge.top_tier(FLAGSHIP), concurrency=4)
    cards = grader.grade_many(source(), output=tmp_path / "out.jsonl", collect=False,
                              on_scorecard=lambda c: finished.append(c.conversation_id))
    assert cards == [] and len(finished) == 40
    assert max(ahead) <= 4 + 1  # never more than `concurrency` in flight (+ the one being read)
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 40
