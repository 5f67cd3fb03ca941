"""Grading through the Judge interface with the in-process FakeJudge: no sockets needed."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import ValidationError

from llm_grader import Conversation, Grader, GraderConfig, LLMGraderError, ModelSettings, Rubric
from llm_grader.llm import CachedJudge, Judge, JudgeRequest, ResultCache, default_cache_path
from llm_grader.llm._instructor import reask_policy
from llm_grader.testing import FakeJudge, top_tier_answer


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_fake_judge_grades_every_model_item_without_sockets(
    no_sockets: None, flagship: Rubric, by_id: dict[str, Conversation]
) -> None:
    judge = FakeJudge.top_tier(flagship)
    assert isinstance(judge, Judge)
    card = Grader(flagship, model=judge).grade(by_id["c006"])
    model_items = [r for r in card.items if r.judge == "model"]
    assert model_items and all(r.tier is not None or r.not_applicable for r in model_items)
    assert {r.item_id for r in model_items} == {req.item_id for req in judge.requests}
    assert card.model == "fake-judge" and model_items[0].audit.model == "fake-judge"
    assert judge.closed == 1  # grade() closes the judge's connections when it is done


def test_quotes_are_verified_against_the_conversation_passed_in(
    no_sockets: None, flagship: Rubric, by_id: dict[str, Conversation]
) -> None:
    def script(request: JudgeRequest) -> dict[str, Any]:
        answer = top_tier_answer(flagship.item(request.item_id))
        if request.item_id == "politeness":
            answer.update(tier="fair", evidence=[{"turn": 2, "quote": "工号9999"}])
        return answer

    judge = FakeJudge(script)
    card = Grader(flagship, model=judge).grade(by_id["c007"])
    item = card.item("politeness")
    assert item.points is None and item.needs_review
    assert item.error is not None and "'工号9999' (原文中找不到这句引用)" in item.error
    assert [r.item_id for r in judge.requests].count("politeness") == 3  # asked, then re-asked twice


def test_the_same_judge_serves_two_conversations_and_two_event_loops(
    flagship: Rubric, by_id: dict[str, Conversation]
) -> None:
    grader = Grader(flagship, model=FakeJudge.top_tier(flagship))
    first = grader.grade(by_id["c006"])
    second = asyncio.run(grader.agrade(by_id["c007"]))
    assert first.complete and second.conversation_id == "c007"


def test_grader_options_are_one_config(flagship: Rubric) -> None:
    grader = Grader(flagship, concurrency=3, cache=None)
    assert grader.config == GraderConfig(concurrency=3, cache=None)
    with pytest.raises(TypeError, match="either config= or keyword options"):
        Grader(flagship, config=GraderConfig(), samples=2)
    with pytest.raises(TypeError, match="unknown Grader options: base_url; valid: cache, concurrency"):
        Grader(flagship, base_url="http://x")
    for bad in ({"concurrency": 0}, {"samples": 0}, {"requests_per_minute": 0}):
        with pytest.raises(LLMGraderError, match="must be"):
            GraderConfig(**bad)


def test_model_settings_are_used_as_given(flagship: Rubric, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.invalid/v1")
    settings = ModelSettings(model="m", base_url="http://127.0.0.1:9/v1")
    grader = Grader(flagship, model=settings, cache=None)
    assert grader.judge is not None and grader.judge.identity["endpoint"] == "127.0.0.1:9/v1"
    assert grader.model == "m"


def test_default_cache_is_per_user_never_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flagship: Rubric
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLM_GRADER_CACHE_DIR", raising=False)
    path = default_cache_path()
    assert path.name == "answers.sqlite" and tmp_path not in path.parents
    monkeypatch.setenv("LLM_GRADER_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_path() == tmp_path / "mine" / "answers.sqlite"
    grader = Grader(flagship, model=ModelSettings(model="m", base_url="http://127.0.0.1:9/v1"))
    assert isinstance(grader.judge, CachedJudge) and grader.judge.cache.path == tmp_path / "mine" / "answers.sqlite"


def test_cached_judge_wraps_any_judge(tmp_path: Path, flagship: Rubric, by_id: dict[str, Conversation]) -> None:
    inner = FakeJudge.top_tier(flagship)
    cached = CachedJudge(inner, ResultCache(tmp_path / "c.sqlite"))
    Grader(flagship, model=cached).grade(by_id["c006"])
    calls = len(inner.requests)
    card = Grader(flagship, model=cached).grade(by_id["c006"])
    assert len(inner.requests) == calls and card.usage.cached_calls == calls and card.usage.calls == 0


def test_reask_policy_is_an_explicit_tenacity_object() -> None:
    attempts: list[str] = []

    async def invalid() -> None:
        attempts.append("invalid")
        raise ValidationError.from_exception_data("Grade", [])

    async def unreachable() -> None:
        attempts.append("transport")
        raise openai.APIConnectionError(request=None)  # type: ignore[arg-type]

    async def run(call: Any) -> None:
        async for attempt in reask_policy(2):
            with attempt:
                await call()

    with pytest.raises(ValidationError):
        asyncio.run(run(invalid))
    assert attempts == ["invalid"] * 3  # one ask and two re-asks
    attempts.clear()
    with pytest.raises(openai.APIConnectionError):
        asyncio.run(run(unreachable))
    assert attempts == ["transport"]  # transport errors are the SDK's to retry, not re-asked


@pytest.mark.parametrize("code", [
    "import llm_grader",
    "import llm_grader; llm_grader.ModelSettings; llm_grader.load_rubric('internet_cs_qa')",
    "from llm_grader.agreement import cohen_kappa",
    "import llm_grader.cli",
])
def test_light_imports_do_not_load_the_model_client(code: str) -> None:
    probe = code + "; import sys, json; print(json.dumps(sorted(m for m in ('openai', 'instructor', 'matplotlib') if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


# --------------------------------------------------------------------------- issue 8.1: evidence and speakers

FORGED = Conversation.model_validate({"id": "forged", "channel": "chat", "turns": [
    {"speaker": "agent", "text": "您好，在的。"},  # a greeting: the politeness rules do not fire
    {"speaker": "customer", "text": "您好，很高兴为您服务，这是你们该说的吧？上次那个客服说滚,别烦我,你个蠢货"},
    {"speaker": "agent", "text": "抱歉给您带来不好的体验，我帮您看看订单。"},
]})


def test_the_customers_words_are_not_the_agents_evidence(flagship: Rubric) -> None:
    """A quote found only in a customer turn does not verify: re-asked, then unscored for review."""

    def script(request: JudgeRequest) -> dict[str, Any]:
        answer = top_tier_answer(flagship.item(request.item_id))
        if request.item_id == "politeness":  # cites the customer's words as the agent's (turn 1)
            answer.update(tier="good", evidence=[{"turn": 1, "quote": "您好，很高兴为您服务"}])
        return answer

    judge = FakeJudge(script)
    card = Grader(flagship, model=judge).grade(FORGED)
    item = card.item("politeness")
    assert item.points is None and item.needs_review and item.tier is None
    assert "这句话出自第 2 轮客户的发言,只能引用客服的原话" in (item.error or "")
    assert [r.item_id for r in judge.requests].count("politeness") == 3


def test_a_reported_insult_cannot_fire_the_fatal_override(flagship: Rubric) -> None:
    def script(request: JudgeRequest) -> dict[str, Any]:
        answer = top_tier_answer(flagship.item(request.item_id))
        if request.item_id == "politeness":
            answer.update(tier="poor", evidence=[{"turn": 3, "quote": "滚,别烦我,你个蠢货"}],
                          flags={"service_taboo": True})
        return answer

    card = Grader(flagship, model=FakeJudge(script)).grade(FORGED)
    assert not card.fatal and card.total_score != 0
    assert card.item("politeness").needs_review and card.item("politeness").error


def test_a_quote_found_in_another_agent_turn_keeps_the_cited_turn(flagship: Rubric) -> None:
    def script(request: JudgeRequest) -> dict[str, Any]:
        answer = top_tier_answer(flagship.item(request.item_id))
        if request.item_id == "politeness":
            answer.update(tier="fair", evidence=[{"turn": 1, "quote": "我帮您看看订单"}])
        return answer

    card = Grader(flagship, model=FakeJudge(script)).grade(FORGED)
    evidence = card.item("politeness").evidence[0]
    assert (evidence.turn, evidence.cited_turn, evidence.speaker, evidence.verified) == (3, 1, "agent", True)


def test_an_item_can_declare_whose_words_count(flagship: Rubric) -> None:
    data = flagship.model_dump(mode="json")
    item = next(i for c in data["categories"] for i in c["items"] if i["id"] == "politeness")
    item["evidence_from"] = ["agent", "customer"]
    from llm_grader.rubric import rubric_from_dict

    rubric = rubric_from_dict(data)

    def script(request: JudgeRequest) -> dict[str, Any]:
        answer = top_tier_answer(rubric.item(request.item_id))
        if request.item_id == "politeness":
            answer.update(tier="fair", evidence=[{"turn": 2, "quote": "这是你们该说的吧"}])
        return answer

    card = Grader(rubric, model=FakeJudge(script)).grade(FORGED)
    assert card.item("politeness").tier == "fair" and card.item("politeness").evidence[0].speaker == "customer"


def test_rescore_never_fires_an_override_on_unverified_evidence(flagship: Rubric, by_id: dict[str, Conversation]) -> None:
    from llm_grader.scoring import rescore

    def script(request: JudgeRequest) -> dict[str, Any]:
        answer = top_tier_answer(flagship.item(request.item_id))
        if request.item_id == "politeness":
            answer.update(tier="poor", evidence=[{"turn": 1, "quote": "您好，在的"}], flags={"service_taboo": True})
        return answer

    card = Grader(flagship, model=FakeJudge(script)).grade(FORGED)
    assert card.fatal  # verified evidence: the override fires
    item = card.item("politeness")
    forged = item.model_copy(update={"evidence": [item.evidence[0].model_copy(update={"verified": False})]})
    edited = card.model_copy(update={"items": [forged if i.item_id == "politeness" else i for i in card.items]})
    assert not rescore(edited, flagship).fatal


def test_deduction_items_use_every_sample(by_id: dict[str, Conversation]) -> None:
    from llm_grader import load_rubric

    rubric = load_rubric("service_norms_deductions")
    model_items = [i for _, i in rubric.items() if i.judge == "model" and i.is_deduction]
    target = model_items[0]
    conversation = by_id["c005"]
    agent_turns = [n for n, t in enumerate(conversation.turns, 1) if t.speaker == "agent"]
    quote = {"turn": agent_turns[0], "quote": conversation.turns[agent_turns[0] - 1].text[:8], "severe": False}

    def script(request: JudgeRequest) -> dict[str, Any]:
        answer = top_tier_answer(rubric.item(request.item_id))
        if request.item_id == target.id:  # samples 0 and 2 report the occurrence, sample 1 does not
            answer["occurrences"] = [quote] if request.sample != 1 else []
        return answer

    card = Grader(rubric, model=FakeJudge(script), samples=3, min_agreement=0.9).grade(conversation)
    result = card.item(target.id)
    assert len(result.occurrences or []) == 1 and result.audit.agreement == pytest.approx(2 / 3)
    assert result.needs_review and result.points == -target.deduction.points  # type: ignore[union-attr]
