"""What the openai + instructor judge and the Batch API share.

The client, usage, logprobs, refusals, and how an OpenAI error is told and which ones stop a run.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import instructor
import openai
from pydantic import ValidationError

from .._confidence import TokenLogprob
from ..errors import ModelConfigurationError
from ..types import Usage
from ._judge import redact
from ._settings import ModelSettings

LOGPROBS: dict[str, Any] = {"logprobs": True, "top_logprobs": 5}
"""Asked in json modes: the tier token's alternatives measure confidence (not in the cache key)."""

TRUNCATED = "the answer was cut off (finish_reason=length); raise max_tokens"

MESSAGES_KEPT = (instructor.Mode.TOOLS, instructor.Mode.JSON_SCHEMA)
"""Modes whose request preparation adds fields and leaves the messages untouched."""


def openai_client(settings: ModelSettings) -> openai.AsyncOpenAI:
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


def connect_failure(exc: BaseException) -> BaseException | None:
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


def raise_if_fatal(exc: BaseException | None, settings: ModelSettings) -> None:
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
    elif isinstance(exc, openai.APIConnectionError) and (cause := connect_failure(exc)) is not None:
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        message = (
            f"cannot connect to {host} ({reason}): check --base-url / OPENAI_BASE_URL and that the "
            "server is running"
        )
    else:
        return
    secret = settings.api_key.get_secret_value()
    raise ModelConfigurationError(redact(message, secrets=[secret] if secret else []), host=host) from None


def usage_of(raw: Any) -> Usage:
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


def logprobs_of(completion: Any) -> tuple[TokenLogprob, ...] | None:
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


def refusal_of(completion: Any) -> str | None:
    choices = getattr(completion, "choices", None)
    message = getattr(choices[0], "message", None) if choices else None
    refusal = getattr(message, "refusal", None)
    return str(refusal) if refusal else None


def api_error_text(exc: openai.APIError) -> str:
    status = getattr(exc, "status_code", None)
    kind = type(exc).__name__
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    detail = body.get("message") if isinstance(body, dict) else None
    message = str(detail or getattr(exc, "message", "") or exc).splitlines()[0][:200]
    return f"{kind}{f' {status}' if status else ''} after retries: {message}"


def last_error_text(cause: BaseException | None) -> str:
    if isinstance(cause, ValidationError):
        return "; ".join(
            str(e["msg"]).removeprefix("Value error, ").replace("\n", " ") for e in cause.errors()
        )
    return str(cause).splitlines()[0] if cause else "unknown error"
