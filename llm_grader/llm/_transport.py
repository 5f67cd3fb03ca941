"""One pooled HTTP client for chat completions: the request machinery of the fast path.

:class:`ChatTransport` posts an already prepared chat-completion body with one
``aiohttp`` session per event loop (keep-alive; the pool grows to the requests in flight,
which the grader's concurrency bounds) and returns the answer as an SDK
``ChatCompletion`` (built with ``construct``, as the SDK itself does).

Its transport retries are the openai SDK's, with the SDK's own rules: 408, 409, 429 and
5xx answers, timeouts and dropped connections are retried at most ``transport_retries``
times, honouring ``retry-after-ms`` / ``Retry-After`` (up to the SDK's limit), obeying
``x-should-retry``, else backing off exponentially with jitter; each attempt carries
``x-stainless-retry-count``. What still fails raises the SDK's typed errors
(``openai.RateLimitError``, ``openai.AuthenticationError``, ``openai.APIConnectionError``,
``openai.APITimeoutError`` …), made by the SDK from the answer, so callers handle them
exactly as they handle the SDK's.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import random
from typing import Any

import aiohttp
import openai
from openai._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER_DELAY, MAX_RETRY_DELAY
from openai.types.chat import ChatCompletion

try:  # openai 3.x sends through httpx2, 2.x through httpx: the SDK's errors wrap its types
    _http: Any = importlib.import_module("httpx2")
except ImportError:  # pragma: no cover - openai 2.x
    _http = importlib.import_module("httpx")

from ._urls import without_userinfo

_RETRIED_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)


class ChatTransport:
    """POSTs chat-completion bodies to ``sdk``'s endpoint, with the SDK's retries and errors.

    ``sdk`` is the openai client the same settings make (never used to send): it gives the
    URL, the key, the retry count, and turns an error answer into the SDK's typed error.
    """

    def __init__(self, sdk: openai.AsyncOpenAI, *, timeout: float) -> None:
        self.sdk = sdk
        # Credentials in the URL (user:pass@) are never sent: the key goes in the header, as the SDK does.
        self.url = without_userinfo(str(sdk.base_url)).rstrip("/") + "/chat/completions"
        self.headers = {
            "Authorization": f"Bearer {sdk.api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.retries = max(int(sdk.max_retries), 0)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # limit=0: no cap of the pool's own (aiohttp's default of 100 would queue a
            # larger concurrency); the grader's semaphore bounds the requests in flight.
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self.timeout, trust_env=False, auto_decompress=True
            )
        return self._session

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            await self._session.close()
        self._session = None

    def _request(self) -> Any:
        return _http.Request("POST", self.url)

    def _response(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> Any:
        """The answer as the SDK's HTTP response type (what its errors carry)."""
        return _http.Response(status, headers=headers, content=payload, request=self._request())

    async def post(self, body: dict[str, Any]) -> ChatCompletion:
        """The completion for ``body`` (retried as the SDK retries); the SDK's typed error if none."""
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        session = self._client()
        for retried in range(self.retries + 1):
            headers = {**self.headers, "x-stainless-retry-count": str(retried)}
            delay: float | None = None
            try:
                async with session.post(self.url, data=data, headers=headers) as response:
                    payload = await response.read()
                    status, answer_headers = response.status, list(response.headers.items())
            except asyncio.TimeoutError as exc:
                error: openai.APIError = openai.APITimeoutError(request=self._request())
                error.__cause__ = exc
            except _RETRIED_ERRORS as exc:
                error = openai.APIConnectionError(request=self._request())
                error.__cause__ = exc
            else:
                if 200 <= status < 300:
                    try:
                        return ChatCompletion.construct(**json.loads(payload))
                    except (ValueError, TypeError) as exc:
                        raise openai.APIResponseValidationError(
                            self._response(status, answer_headers, payload),
                            payload.decode(errors="replace"),
                            message=f"the answer is not a chat completion: {exc}",
                        ) from None
                raw = self._response(status, answer_headers, payload)
                error = self.sdk._make_status_error_from_response(raw)
                if not self.sdk._should_retry(raw):
                    raise error
                delay = self.sdk._parse_retry_after_header(raw.headers)
            if retried >= self.retries:
                raise error
            await asyncio.sleep(_backoff(retried, delay))
        raise AssertionError("unreachable")  # pragma: no cover


def _backoff(retried: int, retry_after: float | None) -> float:
    """The SDK's wait before the next attempt: the server's delay (up to its limit), else backoff."""
    if retry_after is not None and math.isfinite(retry_after) and 0 < retry_after <= MAX_RETRY_AFTER_DELAY:
        return retry_after
    return max(min(INITIAL_RETRY_DELAY * 2.0**retried, MAX_RETRY_DELAY) * (1 - 0.25 * random.random()), 0.0)
