"""The one interface between grading and a model: :class:`Judge`.

A judge takes a :class:`JudgeRequest` — the messages and the answer model to fill, already
bound to the conversation so that it verifies quotes — and returns a :class:`ModelResult`:
a validated answer, or what went wrong. The real judge is
:class:`~llm_grader.model.instructor_judge.InstructorJudge` (openai + instructor);
:class:`~llm_grader.testing.FakeJudge` is an in-process one for tests. Anything with the
same three members can grade.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from ..confidence import TokenLogprob
from ..types import Usage

__all__ = ["Judge", "JudgeRequest", "JudgeWrapper", "ModelResult", "prompt_size", "redact"]

_TOKENS = (
    (re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer ***"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), "sk-***"),
)


def redact(text: str, *, secrets: Iterable[str] = ()) -> str:
    """``text`` with each secret, and anything shaped like a bearer token or ``sk-`` key, hidden.

    Applied to every error text that is stored or printed: a server may echo the key back.
    """
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern, mask in _TOKENS:
        text = pattern.sub(mask, text)
    return text


@dataclass(frozen=True, kw_only=True)
class JudgeRequest:
    """One item of one conversation, to be answered."""

    messages: list[dict[str, str]]
    """The chat messages, exactly as sent."""
    response_model: type[BaseModel]
    """The answer model, bound to the conversation (it verifies quotes)."""
    schema: dict[str, Any]
    """The answer's JSON schema (part of the cache key and the prompt hash)."""
    item_id: str = ""
    """The rubric item asked about (for logs, tracing and test doubles); ``a+b`` for a group."""
    item_ids: tuple[str, ...] = ()
    """Every item the request asks about (one, or several when judged as a group)."""
    sample: int = 0
    """Which of several samples this is (self-consistency); part of the cache key."""
    context: Mapping[str, Any] | None = None
    """The validation context of the answer (``{"conversation": ...}``, to verify quotes)."""


@dataclass(frozen=True, kw_only=True)
class ModelResult:
    """The outcome of one item's call: a validated answer, or what went wrong."""

    answer: BaseModel | None = None
    raw: str | None = None
    """The answer's JSON as the model gave it (after re-asks)."""
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    kind: Literal["ok", "transport", "validation", "truncated", "refusal"] = "ok"
    attempts: int = 0
    cached: bool = False
    logprobs: tuple[TokenLogprob, ...] | None = None
    """The answer content's token logprobs, when the endpoint returned them (json modes)."""


@runtime_checkable
class Judge(Protocol):
    """What the grader needs of a model."""

    @property
    def identity(self) -> Mapping[str, Any]:
        """What makes its answers differ from another judge's (model, endpoint, mode, params).

        Used in the answer-cache key and the audit trail; must never contain a secret.
        ``identity["model"]`` and ``identity["mode"]`` are recorded on each graded item.
        """
        ...

    async def judge(self, request: JudgeRequest) -> ModelResult:
        """Answer one request. Failures come back as a result with ``error``, not as exceptions."""
        ...

    async def aclose(self) -> None:
        """Release connections (the judge may be used again afterwards)."""
        ...


class JudgeWrapper:
    """Base of a judge in front of another (``inner``): the same identity and prompt budget."""

    def __init__(self, inner: Judge) -> None:
        self.inner = inner

    @property
    def identity(self) -> Mapping[str, Any]:
        """The inner judge's identity (the same answers, the same cache keys)."""
        return self.inner.identity

    @property
    def prompt_budget(self) -> int | None:
        """The inner judge's prompt budget, if it has one."""
        return getattr(self.inner, "prompt_budget", None)

    async def aclose(self) -> None:
        """Close the inner judge."""
        await self.inner.aclose()


def prompt_size(request: JudgeRequest) -> int:
    """Characters a request carries: every message and the answer schema."""
    return sum(len(m.get("content") or "") for m in request.messages) + len(
        json.dumps(request.schema, ensure_ascii=False)
    )
