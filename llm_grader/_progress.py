"""Watching a batch: a progress bar or callback, and optional OpenTelemetry spans.

- :class:`Progress` — the snapshot a ``progress=`` callable of
  :meth:`~llm_grader.Grader.grade_many` receives after each conversation: done, total, failed
  and the model usage so far (calls, cached calls, tokens — counters, never a cost estimate).
- :func:`progress_reporter` — turns ``progress=True | False | callable`` into a reporter:
  ``True`` draws a bar (``tqdm.auto`` when tqdm is installed, a widget in notebooks with
  ipywidgets; otherwise rich) with the ETA, the failed conversations and the usage counters.
- :func:`traced_grade`, :func:`traced_call` — one span per conversation and one per model
  call when ``opentelemetry-api`` is installed, with the GenAI semantic-convention attributes
  (``gen_ai.operation.name``, ``gen_ai.request.model``, ``gen_ai.usage.input_tokens``,
  ``gen_ai.usage.output_tokens``) and ``llm_grader.conversation_id`` / ``llm_grader.item_id``.
  Without the package (or without an SDK configured by the application) they cost one
  cached lookup.

tqdm, rich's progress and OpenTelemetry are imported only when used.
"""

from __future__ import annotations

import functools
import importlib
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .llm import Judge, JudgeRequest, ModelResult
from .scoring import Scorecard
from .types import Usage


@dataclass(frozen=True)
class Progress:
    """Where a batch stands, after a conversation finished."""

    done: int
    """Conversations finished (graded, failed or not written)."""
    total: int
    """Conversations in this run (those already in the output are not counted when resuming)."""
    failed: int
    """Finished conversations with an error or a failed item, or whose scorecard was not written."""
    usage: Usage = field(default_factory=Usage)
    """Model usage so far: calls, cached calls, prompt / completion / cached tokens."""
    elapsed: float = 0.0
    """Seconds since the run started."""

    @property
    def remaining(self) -> int:
        """Conversations still to finish."""
        return max(self.total - self.done, 0)


ProgressCallback = Callable[[Progress], None]
"""What ``progress=`` accepts besides ``True`` and ``False``."""


def _failed(card: Scorecard) -> bool:
    return bool(card.errors) or any(i.audit.failure for i in card.items)


def _postfix(state: Progress) -> dict[str, int]:
    u = state.usage
    return {
        "failed": state.failed,
        "calls": u.calls,
        "cached": u.cached_calls,
        "tokens": u.prompt_tokens + u.completion_tokens,
    }


class ProgressReporter:
    """Counts finished conversations and hands each new :class:`Progress` to ``show``."""

    def __init__(
        self, total: int, show: ProgressCallback | None = None, close: Callable[[], None] | None = None
    ) -> None:
        self._state = Progress(done=0, total=total, failed=0)
        self._show = show
        self._close = close
        self._started = time.monotonic()

    @property
    def state(self) -> Progress:
        """The latest snapshot."""
        return self._state

    def advance(self, card: Scorecard, *, written: bool = True) -> Progress:
        """Count one finished conversation (its usage, and whether it failed)."""
        s = self._state
        self._state = Progress(
            done=s.done + 1,
            total=s.total,
            failed=s.failed + (not written or _failed(card)),
            usage=s.usage + card.usage,
            elapsed=time.monotonic() - self._started,
        )
        if self._show is not None:
            self._show(self._state)
        return self._state

    def close(self) -> None:
        """Close the bar, if any (idempotent)."""
        close, self._close = self._close, None
        if close is not None:
            close()


def _tqdm_bar(total: int) -> ProgressReporter | None:
    """A tqdm bar (``tqdm.auto``: a widget in notebooks with ipywidgets); None without tqdm."""
    try:
        std = importlib.import_module("tqdm.std")
        with warnings.catch_warnings():
            # Without ipywidgets tqdm.auto falls back to the text bar, and says so: the text bar is fine.
            warnings.simplefilter("ignore", std.TqdmWarning)
            auto = importlib.import_module("tqdm.auto")
    except ImportError:
        return None
    bar = auto.tqdm(total=total, desc="grading", unit="conv")

    def show(state: Progress) -> None:
        bar.set_postfix(_postfix(state), refresh=False)
        bar.update(1)

    return ProgressReporter(total, show, bar.close)


def _rich_bar(total: int) -> ProgressReporter:
    """A rich bar on standard error, with the ETA and the counters."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[counters]}"),
        console=Console(stderr=True),
    )
    task = bar.add_task("grading", total=total, counters="")
    bar.start()

    def show(state: Progress) -> None:
        counters = ", ".join(f"{k}={v:,}" for k, v in _postfix(state).items())
        bar.update(task, advance=1, counters=counters)

    return ProgressReporter(total, show, bar.stop)


def progress_reporter(progress: bool | ProgressCallback | None, total: int) -> ProgressReporter:
    """The reporter for ``progress=``: nothing, a bar (tqdm, else rich), or the caller's function."""
    if progress is None or progress is False:
        return ProgressReporter(total)
    if progress is True:
        return _tqdm_bar(total) or _rich_bar(total)
    if callable(progress):
        return ProgressReporter(total, progress)
    raise TypeError(f"progress must be True, False or a callable taking a Progress, not {progress!r}")


# ----------------------------------------------------------------------------- OpenTelemetry


@functools.cache
def _trace_api() -> Any:
    """``opentelemetry.trace``, or None when opentelemetry-api is not installed (looked up once)."""
    try:
        return importlib.import_module("opentelemetry.trace")
    except ImportError:
        return None


def _tracer() -> Any:
    api = _trace_api()
    return None if api is None else api.get_tracer("llm_grader")


def _usage_attributes(usage: Usage) -> dict[str, int]:
    return {
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "llm_grader.usage.calls": usage.calls,
        "llm_grader.usage.cached_calls": usage.cached_calls,
    }


async def traced_grade(grading: Awaitable[Scorecard], conversation_id: str) -> Scorecard:
    """Await ``grading`` inside a ``llm_grader.grade`` span (when OpenTelemetry is installed)."""
    tracer = _tracer()
    if tracer is None:
        return await grading
    attributes = {"llm_grader.conversation_id": conversation_id}
    with tracer.start_as_current_span("llm_grader.grade", attributes=attributes) as span:
        card = await grading
        span.set_attributes(_usage_attributes(card.usage))
        span.set_attribute("llm_grader.failed", _failed(card))
        if card.errors:
            span.set_status(_trace_api().StatusCode.ERROR, "; ".join(card.errors))
        return card


def traced_call(
    judge: Judge, request: JudgeRequest, conversation_id: str
) -> Callable[[], Awaitable[ModelResult]]:
    """The judge's call on ``request``, inside a GenAI ``chat`` client span when OpenTelemetry is there."""
    call = functools.partial(judge.judge, request)
    tracer = _tracer()
    if tracer is None:
        return call
    model = str(judge.identity.get("model"))
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "llm_grader.conversation_id": conversation_id,
        "llm_grader.item_id": request.item_id,
        "llm_grader.sample": request.sample,
    }

    async def traced() -> ModelResult:
        api = _trace_api()
        kind = api.SpanKind.CLIENT
        with tracer.start_as_current_span(f"chat {model}", kind=kind, attributes=attributes) as span:
            result = await call()
            span.set_attributes(_usage_attributes(result.usage))
            span.set_attribute("llm_grader.cached", result.cached)
            if result.answer is None:
                span.set_attribute("error.type", str(result.kind or "error"))
                span.set_status(api.StatusCode.ERROR, str(result.error or result.kind))
            return result

    return traced
