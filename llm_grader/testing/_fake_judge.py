"""An in-process judge for unit tests: no sockets, the same validation as real answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from ..llm import JudgeRequest, ModelResult
from ..rubric import Item, Rubric
from ..types import Usage
from ._logprobs import TierProbs, scripted_logprobs

Script = Callable[[JudgeRequest], Mapping[str, Any] | str | ModelResult]
"""Given a request, the answer (a dict or raw JSON text) or a ready result (e.g. a failure)."""


def _context(request: JudgeRequest) -> dict[str, Any] | None:
    return dict(request.context) if request.context is not None else None


def top_tier_answer(item: Item) -> dict[str, Any]:
    """The answer that gives ``item`` its top tier with no evidence, no flag raised, every check passed."""
    if item.deduction is not None:
        return {"occurrences": [], "rationale": "未发现"}
    answer: dict[str, Any] = {
        "evidence": [],
        "rationale": "符合标准",
        "tier": max(item.tiers, key=item.tier_points).id,
    }
    if item.flags:
        answer["flags"] = {f.id: False for f in item.flags}
    if item.checks:
        answer["checks"] = {c.id: {"evidence": [], "passed": True} for c in item.checks}
    return answer


def top_tier_answers(rubric: Rubric, request: JudgeRequest) -> dict[str, Any]:
    """The top-tier answer to ``request``: one item's, or ``answers`` for a grouped request."""
    ids = request.item_ids or (request.item_id,)
    if "answers" not in request.response_model.model_fields:
        return top_tier_answer(rubric.item(ids[0]))
    return {"answers": [{"item_id": i, **top_tier_answer(rubric.item(i))} for i in ids]}


class FakeJudge:
    """A :class:`~llm_grader.llm.Judge` that answers from a script, in process.

    Each answer goes through the request's response model, so quotes are verified against
    the conversation exactly as for a real model; an invalid answer is asked again (the
    script sees the same request) up to ``reasks`` times, then recorded as a validation
    failure. ``requests`` keeps every request answered. ``tier_probs`` scripts the answer's
    token logprobs (the tier's confidence), as an endpoint in a json mode returns them.

        judge = FakeJudge(lambda request: top_tier_answer(rubric.item(request.item_id)))
        card = Grader(rubric, model=judge).grade(conversation)
    """

    def __init__(
        self,
        script: Script,
        *,
        model: str = "fake-judge",
        mode: str = "fake",
        reasks: int = 2,
        prompt_budget: int | None = None,
        tier_probs: Callable[[JudgeRequest], TierProbs | None] | None = None,
    ) -> None:
        self.script = script
        self.tier_probs = tier_probs
        """Given a request, the tier distributions its answer's token logprobs carry (None: no logprobs)."""
        self.reasks = reasks
        self.prompt_budget = prompt_budget
        """Most characters a request may carry (None: no limit)."""
        self.requests: list[JudgeRequest] = []
        self._identity = {"model": model, "mode": mode}
        self.closed = 0

    @classmethod
    def top_tier(cls, rubric: Rubric, **options: Any) -> FakeJudge:
        """A judge that gives every item of ``rubric`` its top tier."""
        return cls(lambda request: top_tier_answers(rubric, request), **options)

    @property
    def identity(self) -> Mapping[str, Any]:
        """The fake model's name and mode."""
        return self._identity

    @property
    def endpoint(self) -> None:
        """None: an in-process judge has no model endpoint (it cannot use the Batch API)."""
        return None

    async def judge(self, request: JudgeRequest) -> ModelResult:
        """Validate the script's answers with ``request.response_model``, re-asking when invalid."""
        error = ""
        for attempt in range(1, self.reasks + 2):
            self.requests.append(request)
            reply = self.script(request)
            if isinstance(reply, ModelResult):
                return reply
            text = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
            try:
                answer = request.response_model.model_validate_json(text, context=_context(request))
            except ValidationError as exc:
                error = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
                continue
            probs = self.tier_probs(request) if self.tier_probs is not None else None
            logprobs = scripted_logprobs(text, probs) if probs is not None else None
            return ModelResult(
                answer=answer, raw=text, usage=Usage(calls=attempt), attempts=attempt, logprobs=logprobs
            )
        attempts = self.reasks + 1
        return ModelResult(
            error=f"no valid answer after {attempts} attempts: {error}",
            kind="validation",
            usage=Usage(calls=attempts),
            attempts=attempts,
        )

    async def aclose(self) -> None:
        """Count the closes (nothing to release)."""
        self.closed += 1
