"""The real judge: the openai SDK and instructor, for any OpenAI-compatible endpoint.

Retries come in explicit layers:

1. **transport** — the openai SDK retries 429 (honouring ``Retry-After`` / ``retry-after-ms``),
   408/409/5xx, timeouts and dropped connections with exponential backoff, at most
   ``transport_retries`` times;
2. **validation re-asks** — instructor sends the validation error (an unknown tier, a quote
   not in the transcript, malformed JSON) back to the model; the policy is an explicit
   tenacity ``AsyncRetrying`` (:func:`reask_policy`): at most ``reasks`` re-asks, no wait;
3. **recorded failure** — whatever still fails comes back as a :class:`ModelResult` with
   ``error`` set and a ``kind`` saying what it was (``transport``, ``validation``,
   ``truncated``, ``refusal``); the grader marks the item for review.

The fast path (every provider but Azure, whose deployments are routed by the SDK): each
request is prepared once with instructor's ``handle_response_model`` (reusing what it adds
per answer model in the ``tools`` and ``json_schema`` modes), posted by
:class:`~llm_grader.model.transport.ChatTransport` (one pooled aiohttp session, the SDK's
transport retries and typed errors), parsed and validated with instructor's
``process_response`` for the mode, and re-asked in our own tenacity loop with instructor's
``handle_reask_kwargs`` (the error appended the way instructor does for the mode). The
openai SDK's request machinery (about 5 ms of CPU per call) is skipped.

With :mod:`.batch`, the only modules that import instructor (and :mod:`.transport` openai).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

import instructor
import openai
from instructor.core import FailedAttempt, IncompleteOutputException, InstructorRetryException
from instructor.processing import handle_reask_kwargs, handle_response_model, process_response
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from ..answers import validation_context
from ..confidence import TokenLogprob
from ..errors import ModelConfigurationError
from ..types import Usage
from .base import JudgeRequest, ModelResult, redact
from .prices import load_prices, priced
from .settings import ModelSettings
from .transport import ChatTransport

__all__ = ["InstructorJudge", "reask_policy"]

_response_schema: Any = None
# instructor's own wrapper (internal in 1.17); without it, each call wraps the model anew.
with contextlib.suppress(ImportError):
    from instructor.v2.core.function_calls import response_schema as _response_schema

# instructor logs each failed attempt; we record failures on the item instead of printing them.
logging.getLogger("instructor").addHandler(logging.NullHandler())

_LOGPROBS: dict[str, Any] = {"logprobs": True, "top_logprobs": 5}
"""Asked in json modes: the tier token's alternatives measure confidence (not in the cache key)."""
_TRUNCATED = "the answer was cut off (finish_reason=length); raise max_tokens"
_MESSAGES_KEPT = (instructor.Mode.TOOLS, instructor.Mode.JSON_SCHEMA)
"""Modes whose request preparation adds fields and leaves the messages untouched."""
_INSTRUCTOR_REFUSAL = "Unable to generate a response due to "


def reask_policy(reasks: int) -> AsyncRetrying:
    """The re-ask policy: re-ask at once after an invalid answer, at most ``reasks`` times.

    Only invalid answers are re-asked (transport errors were already retried by the SDK).
    A new object per call: tenacity keeps per-run state on it.
    """
    return AsyncRetrying(
        stop=stop_after_attempt(max(reasks, 0) + 1),
        retry=retry_if_exception_type((ValidationError, json.JSONDecodeError)),
        reraise=True,
    )


def _openai_client(settings: ModelSettings) -> openai.AsyncOpenAI:
    key = settings.api_key.get_secret_value() or "not-needed"
    if settings.profile.azure:
        # Azure routes by deployment (the model name) and needs an api-version; json_schema
        # needs 2024-08-01-preview or later, so the default is the 2024-10-21 GA version.
        return openai.AsyncAzureOpenAI(
            azure_endpoint=(settings.base_url or "").split("/openai")[0],
            api_version=settings.api_version or os.environ.get("OPENAI_API_VERSION") or "2024-10-21",
            api_key=key,
            timeout=settings.timeout,
            max_retries=settings.transport_retries,
        )
    return openai.AsyncOpenAI(
        base_url=settings.base_url,
        api_key=key,
        timeout=settings.timeout,
        max_retries=settings.transport_retries,
    )


class InstructorJudge:
    """Answers requests through instructor over one ``AsyncOpenAI`` client per event loop."""

    def __init__(self, settings: ModelSettings) -> None:
        settings.check_transport()
        self.settings = settings
        self.prices = load_prices(settings.prices)
        """The price table that fills each result's cost (a bad price file fails here, at once)."""
        self._mode = instructor.Mode[settings.effective_mode.upper()]
        self._openai: openai.AsyncOpenAI | None = None
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._prepared: dict[type[BaseModel], type[BaseModel]] = {}
        self._fixed: dict[type[BaseModel], dict[str, Any]] = {}
        self._identity: dict[str, Any] | None = None
        self._transport: ChatTransport | None = None
        self.fast = not settings.profile.azure
        """Whether requests go by the fast path (all but Azure, which goes through the SDK)."""

    @property
    def prompt_budget(self) -> int:
        """Most characters one request may carry (settings, else the provider profile)."""
        return self.settings.prompt_budget

    @property
    def endpoint(self) -> ModelSettings:
        """The settings this judge calls (the Batch API sends its batches to the same endpoint)."""
        return self.settings

    @property
    def identity(self) -> Mapping[str, Any]:
        """Model, endpoint (host and path, no key), mode and output-changing parameters."""
        if self._identity is None:  # settings are frozen: computed once (it is read on every call)
            url = urlparse(self.settings.shown_url)
            self._identity = {
                "model": self.settings.model,
                "endpoint": f"{url.netloc}{url.path}".rstrip("/"),
                "mode": self.settings.effective_mode,
                "params": self.settings.request_params(),
            }
        return self._identity

    def _instructor(self) -> Any:
        # An HTTP client belongs to the event loop it was made on; each asyncio.run gets its own.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._openai = _openai_client(self.settings)
            self._client = instructor.from_openai(self._openai, mode=self._mode)
            self._transport = (
                ChatTransport(self._openai, timeout=self.settings.timeout) if self.fast else None
            )
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client (a new one is made on next use)."""
        if self._openai is not None and self._loop is asyncio.get_running_loop():
            if self._transport is not None:
                await self._transport.aclose()
            await self._openai.close()
        self._openai = self._client = self._loop = self._transport = None

    def _prepared_model(self, model: type[BaseModel]) -> type[BaseModel]:
        """``model`` as instructor's response schema, made once per answer model.

        instructor wraps a plain model into a new schema class on *every* call (about 2.5 ms
        of CPU in tools mode); given one it made before, it reuses it, and its JSON schema
        comes from instructor's own cache. Same class name, schema and validators.
        """
        prepared = self._prepared.get(model)
        if prepared is None:
            prepared = self._prepared[model] = model if _response_schema is None else _response_schema(model)
        return prepared

    async def judge(self, request: JudgeRequest) -> ModelResult:
        """Ask for one item's answer, validated (quotes verified) by ``request.response_model``.

        The usage carries its cost (:func:`~llm_grader.model.prices.priced`, at the settings'
        model and provider profile). Failures come back as results, their text redacted of the
        key; a failure that no other request can escape (rejected key, unknown model,
        unreachable endpoint) raises :class:`~llm_grader.errors.ModelConfigurationError` instead.
        """
        result = await self._judge(request)
        usage = priced(
            result.usage, self.settings.model, provider=self.settings.profile.name, prices=self.prices
        )
        result = replace(result, usage=usage)
        if result.error is None:
            return result
        secret = self.settings.api_key.get_secret_value()
        return replace(result, error=redact(result.error, secrets=[secret] if secret else []))

    def _kwargs(self, prepared: type[BaseModel], request: JudgeRequest) -> dict[str, Any]:
        """The create kwargs instructor's preparation gives for ``request`` (fixed parts reused)."""
        fixed = self._fixed.get(prepared)
        if fixed is not None:
            return {**fixed, "messages": list(request.messages)}
        # No context: nothing is templated. A copy: the JSON modes extend the system message.
        _, kwargs = handle_response_model(
            prepared,
            mode=self._mode,
            model=self.settings.model,
            messages=copy.deepcopy(request.messages),
            **self.settings.request_params(),
            **_LOGPROBS if self.settings.asks_logprobs else {},
        )
        kwargs = dict(kwargs)
        if self._mode in _MESSAGES_KEPT and kwargs.get("messages") == request.messages:
            self._fixed[prepared] = {k: v for k, v in kwargs.items() if k != "messages"}
        return kwargs

    async def _ask(self, request: JudgeRequest, policy: AsyncRetrying) -> tuple[BaseModel, Any, int, Usage]:
        """The fast path: (answer, last completion, attempts, usage over the attempts).

        Raises what instructor's ``create_with_completion`` raises for the same answers:
        ``IncompleteOutputException`` at once, else ``InstructorRetryException`` (its cause the
        API error or the last invalid answer's error) when no valid answer came.
        """
        self._instructor()
        assert self._transport is not None
        prepared = self._prepared_model(request.response_model)
        kwargs = self._kwargs(prepared, request)
        failed: list[FailedAttempt] = []
        total, attempt_number = Usage(), 0
        try:
            async for attempt in policy:
                with attempt:
                    attempt_number = attempt.retry_state.attempt_number
                    extra = kwargs.get("extra_body") or {}
                    body = {k: v for k, v in kwargs.items() if k != "extra_body"} | extra
                    completion = await self._transport.post(body)
                    total += _usage(completion.usage)
                    try:
                        # Never instructor's context=: it renders the messages as Jinja templates.
                        with validation_context(request.context):
                            answer = process_response(
                                completion,
                                response_model=prepared,
                                stream=False,
                                strict=True,
                                mode=self._mode,
                            )
                    except (ValidationError, json.JSONDecodeError) as exc:
                        failed.append(FailedAttempt(attempt_number, exc, completion))
                        kwargs = handle_reask_kwargs(
                            {**kwargs, "messages": list(kwargs["messages"])},
                            mode=self._mode,
                            response=completion,
                            exception=exc,
                        )
                        raise
                    return answer, completion, attempt_number, total
        except IncompleteOutputException:
            raise
        except Exception as exc:
            raise InstructorRetryException(
                str(exc),
                last_completion=failed[-1].completion if failed else None,
                n_attempts=max(attempt_number, 1),
                total_usage=total,
                messages=kwargs.get("messages"),
                create_kwargs=kwargs,
                failed_attempts=failed,
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _judge(self, request: JudgeRequest) -> ModelResult:
        policy = reask_policy(self.settings.reasks)
        try:
            if self.fast:
                answer, completion, attempts, total = await self._ask(request, policy)
            else:
                # Never instructor's context=: it renders the messages as Jinja templates.
                with validation_context(request.context):
                    answer, completion = await self._instructor().chat.completions.create_with_completion(
                        model=self.settings.model,
                        response_model=self._prepared_model(request.response_model),
                        messages=request.messages,
                        max_retries=policy,
                        **self.settings.request_params(),
                        **_LOGPROBS if self.settings.asks_logprobs else {},
                    )
                attempts = max(int(policy.statistics.get("attempt_number", 1)), 1)
                total = _usage(getattr(completion, "usage", None))
        except IncompleteOutputException as exc:
            usage = _usage(getattr(exc.last_completion, "usage", None))
            return ModelResult(
                error=_TRUNCATED, kind="truncated", usage=usage.model_copy(update={"calls": 1}), attempts=1
            )
        except InstructorRetryException as exc:
            _raise_if_fatal(exc.__cause__, self.settings)
            return _failed(exc)
        except openai.APIError as exc:
            _raise_if_fatal(exc, self.settings)
            return ModelResult(error=_api_error(exc), kind="transport", usage=Usage(calls=1), attempts=1)
        refusal = _refusal(completion)
        if refusal:
            return ModelResult(error=f"the model refused: {refusal}", kind="refusal", usage=Usage(calls=1))
        usage = total.model_copy(update={"calls": attempts})
        return ModelResult(
            answer=answer,
            raw=answer.model_dump_json(),
            usage=usage,
            attempts=attempts,
            logprobs=_logprobs(completion),
        )


def _connect_failure(exc: BaseException) -> BaseException | None:
    """The connect-phase error (refused, DNS) under an SDK connection error, if that is what it was."""
    if isinstance(exc, openai.APITimeoutError):
        return None
    seen: BaseException | None = exc.__cause__ or exc.__context__
    while seen is not None:
        # The SDK's HTTP client (httpx, or httpx2 in openai 3) names its connect-phase error
        # ConnectError; under it lie the OS errors (refused, unreachable, no such host).
        if type(seen).__name__ == "ConnectError" or isinstance(
            seen, (ConnectionRefusedError, socket.gaierror)
        ):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _raise_if_fatal(exc: BaseException | None, settings: ModelSettings) -> None:
    """Raise ModelConfigurationError for failures every request would meet: key, model, endpoint."""
    host = settings.host
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        message = (
            f"{host} rejected the API key ({exc.status_code}): set OPENAI_API_KEY (or pass the key in "
            "ModelSettings) to a key valid for this endpoint"
        )
    elif isinstance(exc, openai.NotFoundError):
        message = (
            f"{host} has no model {settings.model!r} (404): check --model (on Azure: the deployment "
            "name) and --base-url"
        )
    elif isinstance(exc, openai.APIConnectionError) and (cause := _connect_failure(exc)) is not None:
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        message = (
            f"cannot connect to {host} ({reason}): check --base-url / OPENAI_BASE_URL and that the "
            "server is running"
        )
    else:
        return
    secret = settings.api_key.get_secret_value()
    raise ModelConfigurationError(redact(message, secrets=[secret] if secret else []), host=host) from None


def _failed(exc: InstructorRetryException) -> ModelResult:
    """The recorded failure after instructor gave up: refusal, transport, truncation or validation."""
    cause = exc.__cause__ or (exc.failed_attempts[-1].exception if exc.failed_attempts else None)
    usage = _usage(exc.total_usage).model_copy(update={"calls": exc.n_attempts})
    completions = [exc.last_completion, *(a.completion for a in exc.failed_attempts or [])]
    refused = next((r for r in map(_refusal, completions) if r), None)
    if refused is None and str(cause).startswith(_INSTRUCTOR_REFUSAL):
        # instructor's TOOLS mode turns a refusal into an AssertionError with this text.
        refused = str(cause).removeprefix(_INSTRUCTOR_REFUSAL)
    common: dict[str, Any] = {"usage": usage, "attempts": exc.n_attempts}
    if refused:
        return ModelResult(error=f"the model refused: {refused}", kind="refusal", **common)
    if isinstance(cause, openai.APIError):
        return ModelResult(error=_api_error(cause), kind="transport", **common)
    if isinstance(cause, IncompleteOutputException):
        return ModelResult(error=_TRUNCATED, kind="truncated", **common)
    message = f"no valid answer after {exc.n_attempts} attempts: {_last_error(cause)}"
    return ModelResult(error=message, kind="validation", **common)


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    if isinstance(raw, Usage):  # the fast path's sum over attempts
        return raw
    details = getattr(raw, "prompt_tokens_details", None)
    return Usage(
        calls=0,
        prompt_tokens=getattr(raw, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(raw, "completion_tokens", 0) or 0,
        cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
    )


def _logprobs(completion: Any) -> tuple[TokenLogprob, ...] | None:
    """The content tokens' logprobs of the (last) completion, or None when it carries none."""
    choices = getattr(completion, "choices", None)
    content = getattr(getattr(choices[0], "logprobs", None), "content", None) if choices else None
    if not content:
        return None
    return tuple(
        TokenLogprob(
            token=t.token,
            logprob=t.logprob,
            top=tuple((a.token, a.logprob) for a in (t.top_logprobs or ())),
        )
        for t in content
    )


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
