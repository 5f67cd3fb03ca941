"""The fast model path: one pooled HTTP client, instructor's preparation, parsing and re-asks.

The instructor judge posts prepared bodies itself (llm_grader/llm/_transport.py) instead of
going through ``instructor`` + the openai SDK's request machinery; these tests hold it to
what the SDK path sends and does, mode by mode, against the fake server.
"""

from __future__ import annotations

from typing import Any

import pytest

from llm_grader import Conversation, Grader
from llm_grader.testing import FakeOpenAIServer, error

from .test_model import BAD_QUOTE, FAST, GOOD_QUOTE, KEY, Script, make_grader

ALL_MODES = ["tools", "json_schema", "json", "md_json"]


def _grade(by_id: dict[str, Conversation], mode: str, *, fast: bool,
           answers: dict[tuple[str, str], Any]) -> tuple[Any, Script, FakeOpenAIServer, Grader]:
    script: Script | None = None
    with FakeOpenAIServer(lambda r: script(r)) as server:  # type: ignore[misc]
        grader = make_grader(server, mode)
        judge = getattr(grader.judge, "inner", grader.judge)
        judge.fast = fast
        script = Script(grader, [by_id["c006"]], answers)
        card = grader.grade(by_id["c006"])
    return card, script, server, grader


@pytest.mark.parametrize("mode", ALL_MODES)
def test_fast_path_sends_what_the_sdk_path_sends_and_reasks_alike(mode: str, by_id: dict[str, Conversation]) -> None:
    answers = {("c006", "politeness"): [BAD_QUOTE, GOOD_QUOTE]}
    fast_card, fast, fast_server, _ = _grade(by_id, mode, fast=True, answers=answers)
    sdk_card, sdk, sdk_server, _ = _grade(by_id, mode, fast=False, answers=answers)
    # Every request body — the first tries and the re-ask with instructor's error message for
    # the mode — is the one instructor + the SDK send, field for field.
    assert len(fast.requests[("c006", "politeness")]) == 2
    assert dict(fast.requests) == dict(sdk.requests)
    def graded(card: Any) -> list[Any]:
        return [(i.item_id, i.tier, i.points, i.error, [e.model_dump() for e in i.evidence]) for i in card.items]

    assert graded(fast_card) == graded(sdk_card) and fast_card.total_score == sdk_card.total_score
    assert fast_card.item("politeness").tier == "fair" and fast_card.usage == sdk_card.usage
    # Sent by the pooled aiohttp client (the SDK names itself in its User-Agent), with the key.
    agents = {h.get("User-Agent", "") for h in fast_server.headers}
    assert all("aiohttp" in a for a in agents), agents
    assert all("aiohttp" not in h.get("User-Agent", "") for h in sdk_server.headers)
    assert {h["Authorization"] for h in fast_server.headers} == {f"Bearer {KEY}"}


def test_transport_errors_are_the_sdks_typed_errors_after_its_retries(by_id: dict[str, Conversation]) -> None:
    answers = {("c006", "politeness"): [lambda r: error(503, "overloaded", FAST),
                                        lambda r: error(400, f"bad request for {KEY}")]}
    card, script, server, _ = _grade(by_id, "tools", fast=True, answers=answers)
    item = card.item("politeness")
    # 503 is retried (x-stainless-retry-count counts), 400 is not: BadRequestError, key hidden.
    assert len(script.requests[("c006", "politeness")]) == 2
    assert item.error is not None and item.error.startswith("BadRequestError 400 after retries: bad request for")
    assert KEY not in item.error and item.audit.failure == "transport" and item.needs_review
    counts = [h["x-stainless-retry-count"] for h in server.headers]
    assert set(counts) == {"0", "1"}


def test_azure_still_goes_through_the_sdk() -> None:
    from pydantic import SecretStr

    from llm_grader.llm import ModelSettings
    from llm_grader.llm._instructor import InstructorJudge

    settings = ModelSettings(model="dep", base_url="https://x.openai.azure.com", api_key=SecretStr(KEY),
                             provider="azure")
    assert InstructorJudge(settings).fast is False
    assert InstructorJudge(ModelSettings(model="m", base_url="http://127.0.0.1:9/v1")).fast is True
