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
:class:`~llm_grader.llm.transport.ChatTransport` (one pooled aiohttp session, the SDK's
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

from .._answers import validation_context
from ..types import Usage
from ._judge import JudgeRequest, ModelResult, redact
from ._openai_common import (
    LOGPROBS,
    MESSAGES_KEPT,
    TRUNCATED,
    api_error_text,
    last_error_text,
    logprobs_of,
    openai_client,
    raise_if_fatal,
    refusal_of,
    usage_of,
)
from ._prices import load_prices, priced
from ._settings import ModelSettings
from ._transport import ChatTransport

_response_schema: Any = None
# instructor's own wrapper (internal in 1.17); without it, each call wraps the model anew.
with contextlib.suppress(ImportError):
    from instructor.v2.core.function_calls import response_schema as _response_schema

# instructor logs each failed attempt; we record failures on the item instead of printing them.
logging.getLogger("instructor").addHandler(logging.NullHandler())

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
            self._openai = openai_client(self.settings)
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

        The usage carries its cost (:func:`~llm_grader.llm.prices.priced`, at the settings'
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
            **LOGPROBS if self.settings.asks_logprobs else {},
        )
        kwargs = dict(kwargs)
        if self._mode in MESSAGES_KEPT and kwargs.get("messages") == request.messages:
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
                    total += usage_of(completion.usage)
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
                        **LOGPROBS if self.settings.asks_logprobs else {},
                    )
                attempts = max(int(policy.statistics.get("attempt_number", 1)), 1)
                total = usage_of(getattr(completion, "usage", None))
        except IncompleteOutputException as exc:
            usage = usage_of(getattr(exc.last_completion, "usage", None))
            return ModelResult(
                error=TRUNCATED, kind="truncated", usage=usage.model_copy(update={"calls": 1}), attempts=1
            )
        except InstructorRetryException as exc:
            raise_if_fatal(exc.__cause__, self.settings)
            return _failed(exc)
        except openai.APIError as exc:
            raise_if_fatal(exc, self.settings)
            return ModelResult(error=api_error_text(exc), kind="transport", usage=Usage(calls=1), attempts=1)
        refusal = refusal_of(completion)
        if refusal:
            return ModelResult(error=f"the model refused: {refusal}", kind="refusal", usage=Usage(calls=1))
        usage = total.model_copy(update={"calls": attempts})
        return ModelResult(
            answer=answer,
            raw=answer.model_dump_json(),
            usage=usage,
            attempts=attempts,
            logprobs=logprobs_of(completion),
        )


def _failed(exc: InstructorRetryException) -> ModelResult:
    """The recorded failure after instructor gave up: refusal, transport, truncation or validation."""
    cause = exc.__cause__ or (exc.failed_attempts[-1].exception if exc.failed_attempts else None)
    usage = usage_of(exc.total_usage).model_copy(update={"calls": exc.n_attempts})
    completions = [exc.last_completion, *(a.completion for a in exc.failed_attempts or [])]
    refused = next((r for r in map(refusal_of, completions) if r), None)
    if refused is None and str(cause).startswith(_INSTRUCTOR_REFUSAL):
        # instructor's TOOLS mode turns a refusal into an AssertionError with this text.
        refused = str(cause).removeprefix(_INSTRUCTOR_REFUSAL)
    common: dict[str, Any] = {"usage": usage, "attempts": exc.n_attempts}
    if refused:
        return ModelResult(error=f"the model refused: {refused}", kind="refusal", **common)
    if isinstance(cause, openai.APIError):
        return ModelResult(error=api_error_text(cause), kind="transport", **common)
    if isinstance(cause, IncompleteOutputException):
        return ModelResult(error=TRUNCATED, kind="truncated", **common)
    message = f"no valid answer after {exc.n_attempts} attempts: {last_error_text(cause)}"
    return ModelResult(error=message, kind="validation", **common)
