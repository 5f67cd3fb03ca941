"""Pacing model requests: a bound on requests in flight and, optionally, per minute."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ..errors import ModelConfigurationError
from ._judge import ModelResult


class Pacer:
    """Bounds requests in flight and, optionally, requests per minute; stops all at once.

    After :meth:`stop`, every waiting and later :meth:`run` raises the stop reason instead of
    sending (a rejected key fails every request the same way).
    """

    def __init__(self, concurrency: int, rpm: float | None) -> None:
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()
        self._stopped: BaseException | None = None

    def stop(self, reason: BaseException) -> None:
        """Send nothing more; ``run`` raises ``reason`` from now on."""
        self._stopped = reason

    async def run(self, call: Callable[[], Awaitable[ModelResult]]) -> ModelResult:
        """Run ``call`` when a slot is free and the rate allows."""
        async with self._slots:
            if self._stopped is not None:
                raise self._stopped
            if self._interval:
                async with self._lock:
                    now = time.monotonic()
                    wait = self._next - now
                    self._next = max(now, self._next) + self._interval
                if wait > 0:
                    await asyncio.sleep(wait)
            try:
                return await call()
            except ModelConfigurationError as exc:
                self.stop(exc)
                raise
