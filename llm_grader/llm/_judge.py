"""The one interface between grading and a model: :class:`Judge`.

A judge takes a :class:`JudgeRequest` — the messages and the answer model to fill, already
bound to the conversation so that it verifies quotes — and returns a :class:`ModelResult`:
a validated answer, or what went wrong. The real judge is
:class:`~llm_grader.llm.instructor_judge.InstructorJudge` (openai + instructor);
:class:`~llm_grader.testing.FakeJudge` is an in-process one for tests. Anything with the
same three members can grade.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote, quote_plus

from pydantic import BaseModel

from .._confidence import TokenLogprob
from ..types import Usage
from ._settings import ModelSettings
from ._urls import USERINFO as _USERINFO

_TOKENS = (
    (re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer ***"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), "sk-***"),
    (_USERINFO, r"\1"),
)


def redact(text: str, *, secrets: Iterable[str] = ()) -> str:
    """``text`` with each secret and anything shaped like a bearer token, key or URL credentials hidden.

    A secret is matched whatever its case and also URL-encoded (``urllib.parse.quote``, as a
    server may echo it in a query string). Applied to every error text that is stored or
    printed: a server may echo the key back.
    """
    for secret in secrets:
        if len(secret) >= 4:
            forms = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}
            longest_first = sorted(forms, key=len, reverse=True)
            text = re.sub("|".join(map(re.escape, longest_first)), "***", text, flags=re.IGNORECASE)
    for pattern, mask in _TOKENS:
        text = pattern.sub(mask, text)
    return text


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON: sorted keys, no spaces, non-ASCII kept (what digests hash)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def canonical_object(parts: Mapping[str, str]) -> str:
    """The canonical JSON of an object whose values are already canonical JSON texts.

    ``canonical_object({k: canonical_json(v) ...}) == canonical_json({k: v ...})``: a digest
    over several parts serialises each part once.
    """
    return "{" + ",".join(f"{canonical_json(k)}:{parts[k]}" for k in sorted(parts)) + "}"


@dataclass(frozen=True, kw_only=True)
class JudgeRequest:
    """One item of one conversation, to be answered.

    :attr:`digest` identifies it (messages, schema and sample, serialised once): the batch
    custom id, the prompt hash of the audit trail and, with the judge's identity, the answer
    cache key are all derived from it; :attr:`size` is what the prompt budget is checked against.
    """

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

    @cached_property
    def canonical(self) -> Mapping[str, str]:
        """The messages, schema and sample as canonical JSON texts (serialised once, on first use)."""
        return {
            "messages": canonical_json(self.messages),
            "schema": canonical_json(self.schema),
            "sample": canonical_json(self.sample),
        }

    @cached_property
    def digest(self) -> str:
        """sha256 (hex) of the canonical request: its messages, answer schema and sample."""
        return hashlib.sha256(canonical_object(self.canonical).encode()).hexdigest()

    @property
    def prompt_hash(self) -> str:
        """A short stable hash of the request (kept on each graded item): the digest's first 16."""
        return self.digest[:16]

    @cached_property
    def size(self) -> int:
        """Characters the request carries: every message's content and the answer schema."""
        return sum(len(m.get("content") or "") for m in self.messages) + len(self.canonical["schema"])


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

    @property
    def prompt_budget(self) -> int | None:
        """Most characters (:attr:`JudgeRequest.size`) one request may carry; None: no limit.

        A request over it is refused before it is sent.
        """
        ...

    @property
    def endpoint(self) -> ModelSettings | None:
        """The settings of the model endpoint the judge calls; None for an in-process judge.

        What the Batch API path sends its batches to, and what prices an estimate.
        """
        ...

    async def judge(self, request: JudgeRequest) -> ModelResult:
        """Answer one request. Failures come back as a result with ``error``, not as exceptions."""
        ...

    async def aclose(self) -> None:
        """Release connections (the judge may be used again afterwards)."""
        ...


class JudgeWrapper:
    """Base of a judge in front of another (``inner``): the same identity, budget and endpoint."""

    def __init__(self, inner: Judge) -> None:
        self.inner = inner

    @property
    def identity(self) -> Mapping[str, Any]:
        """The inner judge's identity (the same answers, the same cache keys)."""
        return self.inner.identity

    @property
    def prompt_budget(self) -> int | None:
        """The inner judge's prompt budget."""
        return self.inner.prompt_budget

    @property
    def endpoint(self) -> ModelSettings | None:
        """The inner judge's endpoint."""
        return self.inner.endpoint

    async def aclose(self) -> None:
        """Close the inner judge."""
        await self.inner.aclose()


def prompt_size(request: JudgeRequest) -> int:
    """Characters a request carries: :attr:`JudgeRequest.size`."""
    return request.size
