"""The grader's planning without a model: conversations → the requests grading would send."""

from __future__ import annotations

import pytest

from llm_grader import Conversation, Grader, GraderConfig, Planner, load_rubric
from llm_grader.errors import LLMGraderError
from llm_grader.llm import ModelSettings
from llm_grader.testing import FakeJudge

FLAGSHIP = load_rubric("internet_cs_qa")


def test_planning_needs_no_judge_and_is_what_grading_sends(by_id: dict[str, Conversation]) -> None:
    conversation = by_id["c006"]
    planner = Planner(FLAGSHIP, GraderConfig(cache=None))
    planned = planner.plan(conversation)
    judge = FakeJudge.top_tier(FLAGSHIP)
    Grader(FLAGSHIP, model=judge, cache=None).grade(conversation)
    assert [r.digest for r in planned] == [r.digest for r in judge.requests] and len(planned) == 9
    with_model = Grader(FLAGSHIP, model=ModelSettings(model="m", base_url="http://127.0.0.1:9/v1"), cache=None)
    assert [r.digest for r in with_model.plan(conversation)] == [r.digest for r in planned]
    rules_only = Grader(FLAGSHIP, cache=None)
    assert rules_only.plan(conversation) == [] and len(rules_only.planner.plan(conversation)) == 9
    assert [c.id for c, _ in planner.plans([conversation, by_id["c003"]])] == ["c006", "c003"]


def test_with_judge_shares_the_planning_and_keeps_the_requests() -> None:
    grader = Grader(FLAGSHIP, cache=None)
    other = grader.with_judge(FakeJudge.top_tier(FLAGSHIP))
    assert other.planner is grader.planner and other.judge is not None and grader.judge is None
    with pytest.raises(LLMGraderError, match=r"^with_judge keeps the requests: samples cannot change$"):
        grader.with_judge(FakeJudge.top_tier(FLAGSHIP), config=GraderConfig(cache=None, samples=2))
