"""Where a batch's scorecards go: appended to the output, or the run stopped when it cannot be.

:func:`written` appends one scorecard through the :class:`~llm_grader.results.ResultsWriter`;
:func:`submitted` does so on the event loop with the writer's group commit, and :func:`committed`
also waits for its ``fsync`` (the conversation's task is then never cancelled by a stop).
A scorecard that cannot be serialised is reported and the batch goes on; an
:class:`~llm_grader.errors.OutputWriteError` (a full disk, an I/O error: the writer has cut the
file back to whole lines) stops it — the grader cancels the conversations in flight with
:func:`cancel_all` at once, so no model call is made after the error, and the error's
``unwritten`` holds every scorecard graded but not written (their calls were paid for).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from .errors import OutputWriteError
from .progress import ProgressReporter
from .results import ResultsWriter
from .scoring import Scorecard

__all__ = ["Slot", "cancel_all", "committed", "stop_all", "submitted", "written"]

_T = TypeVar("_T")


def written(
    writer: ResultsWriter,
    card: Scorecard,
    reporter: ProgressReporter,
    on_error: Callable[[str, str], None] | None,
) -> bool:
    """Append ``card`` to the output; False (reported) when it cannot be serialised.

    A full disk (:class:`~llm_grader.errors.OutputWriteError`) is raised, to stop the run,
    with the card among the error's ``unwritten``.
    """

    def write(card: Scorecard) -> bool:
        writer.write(card)
        return True

    return _appended(write, card, reporter, on_error) is not None


def submitted(
    writer: ResultsWriter,
    card: Scorecard,
    reporter: ProgressReporter,
    on_error: Callable[[str, str], None] | None,
) -> asyncio.Future[None] | None:
    """Append ``card`` now, its ``fsync`` to follow (:meth:`ResultsWriter.submit`).

    None (reported) when it cannot be serialised, as :func:`written`.
    """
    return _appended(writer.submit, card, reporter, on_error)


def _appended(
    append: Callable[[Scorecard], _T],
    card: Scorecard,
    reporter: ProgressReporter,
    on_error: Callable[[str, str], None] | None,
) -> _T | None:
    try:
        return append(card)
    except OutputWriteError as exc:
        exc.unwritten.append(card)
        reporter.advance(card, written=False)
        raise
    except Exception as exc:  # e.g. a value that cannot be serialised
        if on_error:
            on_error(card.conversation_id, f"not written: {type(exc).__name__}: {exc}")
        reporter.advance(card, written=False)
        return None


async def committed(
    writer: ResultsWriter,
    card: Scorecard,
    reporter: ProgressReporter,
    on_error: Callable[[str, str], None] | None,
    committing: set[asyncio.Future[None]],
    release: Callable[[], None],
) -> bool:
    """Append ``card`` and wait for its ``fsync``, the task in ``committing`` meanwhile.

    ``release`` (the conversation's slot) is called once the line is written, so the next
    conversation starts while it is synced. False when the card cannot be serialised
    (reported); a full disk or a failed ``fsync`` is raised with the card unwritten.
    """
    line = submitted(writer, card, reporter, on_error)
    if line is None:
        return False
    task = asyncio.current_task()
    if task is not None:
        committing.add(task)
        task.add_done_callback(committing.discard)
    release()
    try:
        await line
    except OutputWriteError as exc:
        exc.unwritten.append(card)
        reporter.advance(card, written=False)
        raise
    return True


class Slot:
    """A conversation's place among the ``concurrency`` in flight, given back once."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots: asyncio.Semaphore | None = slots

    def release(self) -> None:
        """Give the place back (the second and later calls do nothing)."""
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.release()


async def stop_all(running: set[asyncio.Future[None]], committing: set[asyncio.Future[None]]) -> None:
    """Cancel the conversations in flight but those whose line is being synced; wait for all."""
    await cancel_all(running - committing)
    await asyncio.gather(*committing, return_exceptions=True)


async def cancel_all(running: set[asyncio.Future[None]]) -> None:
    """Cancel the conversations in flight and wait until they have stopped."""
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
