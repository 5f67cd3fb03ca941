"""Where a batch's scorecards go: appended to the output, or the run stopped when it cannot be.

:func:`submitted` appends one scorecard through the :class:`~llm_grader._results.ResultsWriter`'s
group commit, and :func:`committed` also waits for its ``fsync`` (the conversation's task is then
never cancelled by a stop: :func:`stop_all`).
A scorecard that cannot be serialised is reported and the batch goes on; an
:class:`~llm_grader.errors.OutputWriteError` (a full disk, an I/O error: the writer has cut the
file back to whole lines) stops it — the grader cancels the conversations in flight with
:func:`cancel_all` at once, so no model call is made after the error, and the error's
``unwritten`` holds every scorecard graded but not written (their calls were paid for).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ._progress import ProgressReporter
from ._results import ResultsWriter
from .errors import OutputWriteError
from .scoring import Scorecard


def submitted(
    writer: ResultsWriter,
    card: Scorecard,
    reporter: ProgressReporter,
    on_error: Callable[[str, str], None] | None,
) -> asyncio.Future[None] | None:
    """Append ``card`` now, its ``fsync`` to follow (:meth:`ResultsWriter.submit`).

    None (reported to ``on_error``) when it cannot be serialised; a full disk is raised, to
    stop the run, with the card among the error's ``unwritten``.
    """
    try:
        return writer.submit(card)
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
) -> bool:
    """Append ``card`` and wait for its ``fsync``, the task in ``committing`` meanwhile.

    The conversation keeps its slot until then, so at most ``concurrency`` conversations are
    read and not yet reported. False when the card cannot be serialised (reported); a full
    disk or a failed ``fsync`` is raised with the card unwritten.
    """
    line = submitted(writer, card, reporter, on_error)
    if line is None:
        return False
    task = asyncio.current_task()
    if task is not None:
        committing.add(task)
        task.add_done_callback(committing.discard)
    try:
        await line
    except OutputWriteError as exc:
        exc.unwritten.append(card)
        reporter.advance(card, written=False)
        raise
    return True


async def stop_all(running: set[asyncio.Future[None]], committing: set[asyncio.Future[None]]) -> None:
    """Cancel the conversations in flight but those whose line is being synced; wait for all."""
    await cancel_all(running - committing)
    await asyncio.gather(*committing, return_exceptions=True)


async def cancel_all(running: set[asyncio.Future[None]]) -> None:
    """Cancel the conversations in flight and wait until they have stopped."""
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
