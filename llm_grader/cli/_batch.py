"""``grade --batch``: submit (or pick up) a Batch API job, poll it with a bar, grade from its results.

The conversations are read twice: once to build the batch (quietly), once to grade them
(reporting what cannot be read, as ``grade`` always does). The batch's state file,
``<output>.batch.json``, is kept until grading has finished, so a run interrupted while
waiting or grading is picked up by running the same command again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LLMGraderError
from ._console import err, out

if TYPE_CHECKING:
    from .._grader import Grader
    from ..batch import BatchState
    from ..conversation import Conversation
    from ._console import ConversationStream
    from ._grading import BatchRun


def _quiet(paths: Sequence[Path], encoding: str | None, options: dict[str, Any]) -> Iterator[Conversation]:
    """The readable conversations of ``paths``; problems are left to the grading pass to report."""
    from ..conversation import Conversation, parse_channel_map, stream_conversations

    if isinstance(options.get("channel_map"), str):
        options = {**options, "channel_map": parse_channel_map(options["channel_map"])}
    for item in stream_conversations(*paths, encoding=encoding, on_warning=lambda _: None, **options):
        if isinstance(item, Conversation):
            yield item


def _graded_before(output: Path, *, resume: bool, overwrite: bool) -> set[str]:
    """Conversations already in ``output`` (not submitted again); refuses a full output as grading would."""
    if not output.exists() or not output.stat().st_size or overwrite:
        return set()
    if not resume:
        raise LLMGraderError(
            f"{str(output)!r} already holds scorecards: pass --resume to add the conversations "
            "not graded yet, or --overwrite to replace the file (or choose another -o)"
        )
    from .._results import read_results

    return {card.conversation_id for card in read_results(output)}


def _poll(grader: Grader, state: BatchState, poll_interval: float) -> BatchState:
    """Wait for the batch with a bar of request counts and status (a line per change when piped)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..batch import await_batch

    seen: set[tuple[str, int, int]] = set()
    with Progress(
        TextColumn("batch {task.fields[status]}"),
        BarColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("batch", total=max(state.total, 1), status=state.status, counts="")

        def show(now: BatchState) -> None:
            counts = f"{now.completed} completed, {now.failed} failed of {now.total}"
            bar.update(task, completed=now.completed + now.failed, status=now.status, counts=counts)
            if not err.is_terminal and (now.status, now.completed, now.failed) not in seen:
                seen.add((now.status, now.completed, now.failed))
                err.print(f"batch {now.status}: {counts}", markup=False)

        return asyncio.run(await_batch(grader, state, poll_interval=poll_interval, progress=show))


def _ids(state: BatchState) -> str:
    return ", ".join(state.batch_ids) or "(none)"


def _answers_line(stats: Counter[str]) -> str:
    again = stats["invalid"] + stats["failed"]
    line = (
        f"batch answers: {stats['answered']} used; {again} asked again by ordinary calls "
        f"({stats['failed']} failed or expired, {stats['invalid']} invalid)"
    )
    if stats["outside"]:
        line += f"; {stats['outside']} request(s) outside the batch (re-asks of grouped answers)"
    return line


def run_batch_api(
    grader: Grader,
    batch: ConversationStream,
    output: Path,
    *,
    paths: Sequence[Path],
    encoding: str | None,
    options: dict[str, Any],
    resume: bool,
    overwrite: bool,
    collect: bool,
    poll_interval: float,
) -> BatchRun:
    """Submit (or pick up) the batch, wait for it, grade ``batch`` from its results; print as ``grade``."""
    from ..batch import batch_grader, finish_batch, state_path, submit_batch
    from ._grading import run_batch

    if grader.judge is None:
        raise LLMGraderError(
            "--batch sends the model-judged items to a Batch API: it needs --model, not --rules-only"
        )
    done = _graded_before(output, resume=resume, overwrite=overwrite)
    path = state_path(output)
    resumed = path.exists()
    state = submit_batch(grader, _quiet(paths, encoding, options), state=path, exclude=done)
    how = "picked up from" if resumed else "submitted; its state is in"
    err.print(
        f"batch {_ids(state)}: {state.total} request(s) for {len(state.conversations)} conversation(s), "
        f"{how} {path}",
        markup=False,
    )
    try:
        state = _poll(grader, state, poll_interval)
    except KeyboardInterrupt:
        err.print(
            f"interrupted while waiting: batch {_ids(state)} goes on at the provider. Its state is in "
            f"{path}: run the same command again to pick it up (nothing is submitted twice).",
            markup=False,
        )
        raise
    err.print(
        f"batch {state.status}: {state.completed} answered, {state.failed} failed or expired, "
        f"of {state.total}",
        markup=False,
    )
    answering, answers = batch_grader(grader, state)
    try:
        run = run_batch(answering, batch, output, resume=resume, overwrite=overwrite, collect=collect)
    except KeyboardInterrupt:
        err.print(
            f"interrupted while grading: the batch's results and state are kept ({path}): run the same "
            "command with --resume to grade the rest.",
            markup=False,
        )
        raise
    finish_batch(state)
    out.print(_answers_line(answers.stats), markup=False)
    return run
