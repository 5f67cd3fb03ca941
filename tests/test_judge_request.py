"""The Judge seam: one digest per request (cache key, batch id, prompt hash, size) and the protocol's members."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from llm_grader import Conversation, Grader, load_rubric
from llm_grader.errors import LLMGraderError
from llm_grader.llm import ModelSettings, ResultCache
from llm_grader.llm import _judge as base
from llm_grader.llm._batch_api import custom_id
from llm_grader.testing import FakeJudge

FLAGSHIP = load_rubric("internet_cs_qa")


def _old(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def test_one_serialisation_gives_the_same_cache_key_batch_id_and_hash_as_before(
        by_id: dict[str, Conversation], monkeypatch: pytest.MonkeyPatch) -> None:
    grader = Grader(FLAGSHIP, model=ModelSettings(model="m", base_url="http://127.0.0.1:9/v1"), cache=None)
    assert grader.judge is not None
    identity = grader.judge.identity
    request = grader.plan(by_id["c006"])[0]
    serialised: list[Any] = []
    real = base.canonical_json
    monkeypatch.setattr(base, "canonical_json", lambda v: serialised.append(v) or real(v))
    key = ResultCache.key(identity, request)
    cid, hashed, size = custom_id(request), request.prompt_hash, request.size
    assert ResultCache.key(identity, request) == key and custom_id(request) == cid
    # The messages, the schema and the sample were serialised once each, whatever was derived from them.
    assert [type(v) for v in serialised][:3] == [list, dict, int]
    assert sum(1 for v in serialised if v is request.messages or v is request.schema) == 2
    # Keys of caches written before this change still match (the cache keeps answering them).
    before = {"v": 1, **identity, "messages": request.messages, "schema": request.schema, "sample": request.sample}
    assert key == hashlib.sha256(_old(before).encode()).hexdigest()
    canonical = {"messages": request.messages, "schema": request.schema, "sample": request.sample}
    assert cid == "llmg-" + hashlib.sha256(_old(canonical).encode()).hexdigest()[:32]
    assert hashed == request.digest[:16] and len(hashed) == 16
    assert size == sum(len(m["content"]) for m in request.messages) + len(_old(request.schema))


def test_the_budget_is_the_judges_own_member(by_id: dict[str, Conversation]) -> None:
    judge = FakeJudge.top_tier(FLAGSHIP, prompt_budget=3_000)
    (card,) = Grader(FLAGSHIP, model=judge, cache=None).grade_many([by_id["c006"]])
    assert judge.endpoint is None and not judge.requests  # refused before the judge saw it
    assert any("over the budget of 3,000 " in e for e in card.errors), card.errors


def test_a_judge_without_the_protocols_members_is_refused_clearly() -> None:
    class Old:  # an old-style judge: identity, judge and aclose only
        @property
        def identity(self) -> dict[str, str]:
            return {"model": "x", "mode": "y"}

        async def judge(self, request: Any) -> Any: ...

        async def aclose(self) -> None: ...

    with pytest.raises(LLMGraderError, match=r"^Old is not a Judge: it has no prompt_budget, endpoint \(see "
                                             r"llm_grader\.llm\.Judge\)$"):
        Grader(FLAGSHIP, model=Old())  # type: ignore[arg-type]
