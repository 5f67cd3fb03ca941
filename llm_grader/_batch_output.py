"""Where a batch's scorecards go: appended to the output, or the run stopped when it cannot be.

:func:`written` appends one scorecard through the :class:`~llm_grader._results.ResultsWriter`.
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
    try:
        writer.write(card)
    except OutputWriteError as exc:
        exc.unwritten.append(card)
        reporter.advance(card, written=False)
        raise
    except Exception as exc:  # e.g. a value that cannot be serialised
        if on_error:
            on_error(card.conversation_id, f"not written: {type(exc).__name__}: {exc}")
        reporter.advance(card, written=False)
        return False
    return True


async def cancel_all(running: set[asyncio.Future[None]]) -> None:
    """Cancel the conversations in flight and wait until they have stopped."""
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
