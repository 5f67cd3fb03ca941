"""The one place the model is called: openai + instructor behind a small interface.

Retries come in explicit layers:

1. **transport** — the openai SDK retries 429 (honouring ``Retry-After`` / ``retry-after-ms``),
   408/409/5xx, timeouts and dropped connections with exponential backoff, at most
   ``transport_retries`` times;
2. **validation re-asks** — instructor sends the validation error (an unknown tier, a quote
   not in the transcript, malformed JSON) back to the model, at most ``reasks`` times;
3. **recorded failure** — whatever still fails comes back as a :class:`ModelResult` with
   ``error`` set and a ``kind`` saying what it was (``transport``, ``validation``,
   ``truncated``, ``refusal``); the grader marks the item for review.

Provider differences live in :data:`PROVIDERS`, a table of settings, not in code branches.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import instructor
import openai
from instructor.core import IncompleteOutputException, InstructorRetryException
from pydantic import BaseModel, SecretStr, ValidationError

from .errors import LLMGraderError
from .prompting import CONVERSATION
from .types import Usage
from .transcript import Conversation

__all__ = ["PROVIDERS", "ModelClient", "ModelResult", "ModelSettings", "Profile", "ResultCache"]

# instructor logs each failed attempt; we record failures on the item instead of printing them.
logging.getLogger("instructor").addHandler(logging.NullHandler())

Mode = Literal["tools", "json_schema", "json", "md_json"]
_MODES: dict[str, instructor.Mode] = {
    "tools": instructor.Mode.TOOLS,
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "json": instructor.Mode.JSON,
    "md_json": instructor.Mode.MD_JSON,
}


@dataclass(frozen=True)
class Profile:
    """How to talk to one kind of endpoint."""

    name: str
    hosts: tuple[str, ...]
    """Substrings of the base URL that identify the provider."""
    mode: Mode
    """Structured-output mode that works there (see research/STRUCTURED_OUTPUT.md §2.3)."""
    extra_body: dict[str, Any] = field(default_factory=dict)
    """Provider-specific request fields (e.g. turning a model's thinking off)."""
    quirks: str = ""


PROVIDERS: tuple[Profile, ...] = (
    Profile(
        "openai",
        ("api.openai.com",),
        "tools",
        quirks="tool-call arguments carry no logprobs; reasoning models take only the default temperature",
    ),
    Profile(
        "azure",
        (".openai.azure.com", "cognitiveservices.azure.com"),
        "tools",
        quirks="json_schema needs api-version 2024-08-01-preview or later",
    ),
    Profile(
        "deepseek",
        ("api.deepseek.com",),
        "tools",
        quirks="thinking models reject forced tool_choice: use md_json for deepseek-reasoner",
    ),
    Profile(
        "dashscope",
        ("dashscope",),
        "json",
        {"enable_thinking": False},
        quirks="some Qwen models reject forced tool_choice; json_object needs the word JSON in the prompt",
    ),
    Profile("moonshot", ("moonshot",), "json", quirks="Kimi thinking models reject forced tool_choice"),
    Profile(
        "zhipu",
        ("bigmodel.cn", "z.ai"),
        "md_json",
        quirks="tool_choice must be auto; json_object support varies by model",
    ),
    Profile(
        "ollama", (":11434",), "json_schema", quirks="tool_choice is ignored on the OpenAI-compatible layer"
    ),
    Profile("lmstudio", (":1234",), "json_schema", quirks="json_object is rejected"),
    Profile("llamacpp", (":8080",), "json_schema", quirks="tools need --jinja"),
    Profile("vllm", (":8000",), "json_schema", quirks="guided decoding serves json_schema"),
    Profile("generic", (), "tools", quirks="any other OpenAI-compatible endpoint"),
)
"""Known providers. ``ModelSettings(provider=...)`` or ``mode=...`` overrides the detection."""


def _profile(name: str | None, base_url: str | None) -> Profile:
    if name is not None:
        for profile in PROVIDERS:
            if profile.name == name:
                return profile
        raise LLMGraderError(
            f"unknown provider {name!r}; valid providers: {', '.join(p.name for p in PROVIDERS)}"
        )
    url = (base_url or "https://api.openai.com/v1").lower()
    return next((p for p in PROVIDERS if any(h in url for h in p.hosts)), PROVIDERS[-1])


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """Where and how to call the model. ``from_env`` fills what is not given."""

    model: str
    base_url: str | None = None
    api_key: SecretStr = field(default_factory=lambda: SecretStr(""))
    provider: str | None = None
    mode: Mode | None = None
    temperature: float | None = 0.0
    max_tokens: int | None = None
    timeout: float = 120.0
    transport_retries: int = 4
    reasks: int = 2
    extra_body: dict[str, Any] = field(default_factory=dict)
    api_version: str | None = None
    """Azure OpenAI only: the api-version (default ``OPENAI_API_VERSION`` or 2024-10-21)."""

    @classmethod
    def from_env(
        cls,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        **options: Any,
    ) -> ModelSettings:
        """Flags first, then ``LLM_GRADER_MODEL``, ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``."""
        model = model or os.environ.get("LLM_GRADER_MODEL")
        if not model:
            raise LLMGraderError("no model configured: pass --model or set LLM_GRADER_MODEL")
        return cls(
            model=model,
            base_url=base_url or os.environ.get("OPENAI_BASE_URL") or None,
            api_key=SecretStr(api_key or os.environ.get("OPENAI_API_KEY") or ""),
            **options,
        )

    @property
    def profile(self) -> Profile:
        """The provider profile in force."""
        return _profile(self.provider, self.base_url)

    @property
    def effective_mode(self) -> Mode:
        """The structured-output mode: the override, else the provider's."""
        return self.mode or self.profile.mode

    def request_params(self) -> dict[str, Any]:
        """Parameters that change the model's output (part of the cache key)."""
        params: dict[str, Any] = {}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        extra = {**self.profile.extra_body, **self.extra_body}
        if extra:
            params["extra_body"] = extra
        return params

    def __repr__(self) -> str:  # never show the key
        return (
            f"ModelSettings(model={self.model!r}, base_url={self.base_url!r}, mode={self.effective_mode!r})"
        )


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


class ResultCache:
    """Answers on disk (SQLite), keyed by the canonical request; never holds the API key."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("create table if not exists answers (key text primary key, value text not null)")

    @staticmethod
    def key(
        settings: ModelSettings, messages: list[dict[str, str]], schema: dict[str, Any], sample: int
    ) -> str:
        """sha256 of the canonical request: model, endpoint, mode, messages, schema, parameters."""
        url = urlparse(settings.base_url or "https://api.openai.com/v1")
        canonical = {
            "v": 1,
            "model": settings.model,
            "endpoint": f"{url.netloc}{url.path}".rstrip("/"),
            "mode": settings.effective_mode,
            "messages": messages,
            "schema": schema,
            "params": settings.request_params(),
            "sample": sample,
        }
        text = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        """The stored answer JSON, or None."""
        with self._lock:
            row = self._db.execute("select value from answers where key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str) -> None:
        """Store an answer JSON."""
        with self._lock:
            self._db.execute("insert or replace into answers values (?, ?)", (key, value))

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    details = getattr(raw, "prompt_tokens_details", None)
    return Usage(
        calls=0,
        prompt_tokens=getattr(raw, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(raw, "completion_tokens", 0) or 0,
        cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
    )


class ModelClient:
    """Calls the model for one item at a time; async; shares one HTTP client."""

    def __init__(self, settings: ModelSettings, *, cache: ResultCache | None = None) -> None:
        self.settings = settings
        self.cache = cache
        key = settings.api_key.get_secret_value() or "not-needed"
        self._openai: openai.AsyncOpenAI
        if settings.profile.name == "azure":
            # Azure routes by deployment (the model name) and needs an api-version; json_schema
            # needs 2024-08-01-preview or later, so the default is the 2024-10-21 GA version.
            self._openai = openai.AsyncAzureOpenAI(
                azure_endpoint=(settings.base_url or "").split("/openai")[0],
                api_version=settings.api_version or os.environ.get("OPENAI_API_VERSION") or "2024-10-21",
                api_key=key,
                timeout=settings.timeout,
                max_retries=settings.transport_retries,
            )
        else:
            self._openai = openai.AsyncOpenAI(
                base_url=settings.base_url,
                api_key=key,
                timeout=settings.timeout,
                max_retries=settings.transport_retries,
            )
        self._client = instructor.from_openai(self._openai, mode=_MODES[settings.effective_mode])
        self._client.on("completion:kwargs", _count_attempt)

    async def close(self) -> None:
        """Close the HTTP client and the cache."""
        await self._openai.close()
        if self.cache is not None:
            self.cache.close()

    async def judge(
        self,
        messages: list[dict[str, str]],
        response_model: type[BaseModel],
        *,
        conversation: Conversation,
        language: str,
        sample: int = 0,
        schema: dict[str, Any] | None = None,
    ) -> ModelResult:
        """Ask for one item's answer, validated (quotes verified) against ``conversation``."""
        token = CONVERSATION.set((conversation, language))
        try:
            key = None
            if self.cache is not None:
                schema = schema if schema is not None else response_model.model_json_schema()
                key = ResultCache.key(self.settings, messages, schema, sample)
                stored = self.cache.get(key)
                if stored is not None:
                    try:
                        answer = response_model.model_validate_json(stored)
                    except ValidationError:
                        pass  # e.g. a stricter verifier now: ask again
                    else:
                        return ModelResult(
                            answer=answer, raw=stored, cached=True, usage=Usage(cached_calls=1)
                        )
            result = await self._call(messages, response_model)
            if key is not None and self.cache is not None and result.answer is not None and result.raw:
                self.cache.put(key, result.raw)
            return result
        finally:
            CONVERSATION.reset(token)

    async def _call(self, messages: list[dict[str, str]], response_model: type[BaseModel]) -> ModelResult:
        counter = [0]
        token = _ATTEMPTS.set(counter)
        try:
            return await self._attempt(messages, response_model, counter)
        finally:
            _ATTEMPTS.reset(token)

    async def _attempt(
        self, messages: list[dict[str, str]], response_model: type[BaseModel], counter: list[int]
    ) -> ModelResult:
        try:
            answer, completion = await self._client.chat.completions.create_with_completion(
                model=self.settings.model,
                response_model=response_model,
                messages=messages,  # type: ignore[arg-type]
                max_retries=self.settings.reasks,
                **self.settings.request_params(),
            )
        except IncompleteOutputException as exc:
            usage = _usage(getattr(exc.last_completion, "usage", None))
            return ModelResult(
                error="the answer was cut off (finish_reason=length); raise max_tokens",
                kind="truncated",
                usage=usage.model_copy(update={"calls": 1}),
                attempts=1,
            )
        except InstructorRetryException as exc:
            cause = exc.__cause__ or (exc.failed_attempts[-1].exception if exc.failed_attempts else None)
            usage = _usage(exc.total_usage).model_copy(update={"calls": exc.n_attempts})
            completions = [exc.last_completion, *(a.completion for a in exc.failed_attempts or [])]
            refused = next((r for r in map(_refusal, completions) if r), None)
            if refused is None and str(cause).startswith(_INSTRUCTOR_REFUSAL):
                # instructor's TOOLS mode turns a refusal into an AssertionError with this text.
                refused = str(cause).removeprefix(_INSTRUCTOR_REFUSAL)
            if refused:
                return ModelResult(
                    error=f"the model refused: {refused}",
                    kind="refusal",
                    usage=usage,
                    attempts=exc.n_attempts,
                )
            if isinstance(cause, openai.APIError):
                return ModelResult(
                    error=_api_error(cause), kind="transport", usage=usage, attempts=exc.n_attempts
                )
            if isinstance(cause, IncompleteOutputException):
                return ModelResult(
                    error="the answer was cut off (finish_reason=length); raise max_tokens",
                    kind="truncated",
                    usage=usage,
                    attempts=exc.n_attempts,
                )
            last = _last_error(cause)
            return ModelResult(
                error=f"no valid answer after {exc.n_attempts} attempts: {last}",
                kind="validation",
                usage=usage,
                attempts=exc.n_attempts,
            )
        except openai.APIError as exc:
            return ModelResult(error=_api_error(exc), kind="transport", usage=Usage(calls=1), attempts=1)
        refusal = _refusal(completion)
        if refusal:
            return ModelResult(error=f"the model refused: {refusal}", kind="refusal", usage=Usage(calls=1))
        usage = _usage(getattr(completion, "usage", None))
        attempts = max(counter[0], 1)
        return ModelResult(
            answer=answer,
            raw=answer.model_dump_json(),
            usage=usage.model_copy(update={"calls": attempts}),
            attempts=attempts,
        )


_ATTEMPTS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "llm_grader_attempts", default=None
)


def _count_attempt(*args: Any, **kwargs: Any) -> None:
    """Instructor hook: one call per attempt (first try or re-ask), per task."""
    counter = _ATTEMPTS.get()
    if counter is not None:
        counter[0] += 1


_INSTRUCTOR_REFUSAL = "Unable to generate a response due to "


def _refusal(completion: Any) -> str | None:
    choices = getattr(completion, "choices", None)
    message = getattr(choices[0], "message", None) if choices else None
    refusal = getattr(message, "refusal", None)
    return str(refusal) if refusal else None


def _api_error(exc: openai.APIError) -> str:
    status = getattr(exc, "status_code", None)
    kind = type(exc).__name__
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    detail = body.get("message") if isinstance(body, dict) else None
    message = str(detail or getattr(exc, "message", "") or exc).splitlines()[0][:200]
    return f"{kind}{f' {status}' if status else ''} after retries: {message}"


def _last_error(cause: BaseException | None) -> str:
    if isinstance(cause, ValidationError):
        return "; ".join(
            str(e["msg"]).removeprefix("Value error, ").replace("\n", " ") for e in cause.errors()
        )
    return str(cause).splitlines()[0] if cause else "unknown error"
