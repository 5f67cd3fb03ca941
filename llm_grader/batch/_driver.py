"""A batch run: submit, wait (resumably), then grade from the results.

This driver sits above the grader: the grader knows nothing of batches. The batch's
answers are just another :class:`~llm_grader.llm.Judge` the ordinary grader grades with.

1. :func:`asubmit_batch` plans each conversation's first-attempt requests (the grader's
   :class:`~llm_grader._planning.Planner`, which needs no model), leaves out those the
   answer cache already holds or that exceed the prompt budget, writes every distinct
   request once as a JSONL line (at most 50,000 lines and 190 MB per batch; more are split
   across batches), uploads and creates the batches, and saves a state file after each
   step: batch and file ids, the rubric id and version, the judge's identity (never the
   key), the strategy and samples, the custom ids and conversation ids, and status. When
   the state file exists it is picked up instead (a killed run resumes its batch by id;
   nothing is sent twice).
2. :func:`await_batch` polls until every batch has ended (completed, expired, failed or
   cancelled), saving the status after each poll, then downloads the output and error files.
3. :func:`batch_grader` is the grader with a judge that answers from those files
   (:class:`~llm_grader.llm.batch.BatchAnswers`, in front of the grader's own judge and
   behind its answer cache: :meth:`~llm_grader._grader.Grader.with_judge`); its
   ``grade_many`` is the usual one — rules, scoring, evidence checks, results and exit
   codes — and a line missing, failed, expired or invalid becomes an ordinary call with
   re-asks.
4. :func:`acollect_batch` runs 2 and 3 and then :func:`finish_batch` removes the state file
   and the downloads.

:func:`submit_batch` and :func:`collect_batch` are the same from sync code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .._grader import Grader
from .._running import run_sync
from ..conversation import Conversation
from ..errors import LLMGraderError, ModelConfigurationError
from ..llm import CachedJudge, Judge, ModelSettings, Pacer, ResultCache
from ..scoring import Scorecard
from ._state import BatchPart, BatchPending, BatchState

if TYPE_CHECKING:
    from ..llm._batch_api import BatchAnswers, BatchClient

# ----------------------------------------------------------------------------- the endpoint


def _endpoint(grader: Grader) -> tuple[Judge, ModelSettings]:
    """The grader's judge and the endpoint (its settings) the batch goes to."""
    judge = grader.judge
    if judge is None:
        raise LLMGraderError("the Batch API needs a model: this grader grades rule items only")
    settings = judge.endpoint
    if settings is None:
        raise LLMGraderError(
            "the Batch API needs a model endpoint (a model name or ModelSettings), "
            f"not a {type(judge).__name__}"
        )
    return judge, settings


def _facts(grader: Grader) -> dict[str, Any]:
    judge = json.loads(json.dumps(dict(_endpoint(grader)[0].identity), ensure_ascii=False, default=str))
    return {
        "rubric": {"id": grader.rubric.id, "version": grader.rubric.version},
        "judge": judge,
        "options": {"strategy": grader.config.strategy, "samples": grader.config.samples},
    }


def _check(state: BatchState, grader: Grader) -> None:
    """Refuse a state file made for another rubric, model, endpoint, mode or strategy."""
    facts = _facts(grader)
    for name, value in facts.items():
        if getattr(state, name) != value:
            raise LLMGraderError(
                f"{state.path} holds batch {', '.join(state.batch_ids) or '(not created)'} made with "
                f"{name} {getattr(state, name)}, but this run has {value}: run again with the same options "
                "to collect it, or delete the file to submit anew"
            )


# ----------------------------------------------------------------------------- submit


class _Writer:
    """Batch input lines into part files, starting a new part at the line or byte limit."""

    def __init__(self, state: BatchState, max_lines: int, max_bytes: int) -> None:
        self.state, self.max_lines, self.max_bytes = state, max_lines, max_bytes
        self._file: IO[bytes] | None = None
        self._size = 0

    def add(self, cid: str, line: dict[str, Any]) -> None:
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
        part = self.state.parts[-1] if self.state.parts else None
        if part is None or len(part.custom_ids) >= self.max_lines or self._size + len(data) > self.max_bytes:
            self.close()
            part = BatchPart(custom_ids=[])
            self.state.parts.append(part)
            self._file = self.state.sibling(f"part-{len(self.state.parts)}.jsonl").open("wb")
            self._size = 0
        assert self._file is not None
        self._file.write(data)
        self._size += len(data)
        part.custom_ids.append(cid)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _prepare(
    grader: Grader,
    conversations: Iterable[Conversation],
    path: Path,
    exclude: Collection[str],
    max_lines: int,
    max_bytes: int,
) -> BatchState:
    from ..llm._batch_api import BatchFormat, custom_id

    judge, settings = _endpoint(grader)
    batch_format, cache, budget = BatchFormat(settings), grader.cache, judge.prompt_budget
    state = BatchState(path=path, conversations=[], **_facts(grader))
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = _Writer(state, max_lines, max_bytes)
    seen: set[str] = set()
    try:
        for conversation in conversations:
            if conversation.id in exclude:
                continue
            state.conversations.append(conversation.id)
            try:
                requests = grader.planner.plan(conversation)
            except Exception:  # grading records the same failure on its scorecard
                continue
            for request in requests:
                cid = custom_id(request)
                if cid in seen or (budget is not None and request.size > budget):
                    continue  # asked once; an over-long prompt is refused when grading
                key = ResultCache.key(judge.identity, request)
                if cache is not None and cache.get(key) is not None:
                    continue  # answered from the cache when grading
                seen.add(cid)
                writer.add(cid, batch_format.line(request))
    finally:
        writer.close()
    return state


async def _send(client: BatchClient, state: BatchState, endpoint: str) -> None:
    """Upload and create every batch not created yet, saving the state after each step."""
    metadata = {"llm_grader": f"{state.rubric['id']} {state.rubric['version']}"}
    for number, part in enumerate(state.parts, 1):
        if part.id is not None:
            continue
        local = state.sibling(f"part-{number}.jsonl")
        if part.input_file_id is None:
            if not local.exists():
                raise LLMGraderError(f"{local} (batch input) is missing: delete {state.path} to submit anew")
            part.input_file_id = await client.upload(local)
            part.status = "uploaded"
            state.save()
            info = None
        else:  # uploaded before a kill: the batch may have been created just before it
            info = await client.find(part.input_file_id)
        if info is None:
            info = await client.create(part.input_file_id, endpoint, metadata)
        part.update(info)
        state.save()
        local.unlink(missing_ok=True)


async def asubmit_batch(
    grader: Grader,
    conversations: Iterable[Conversation],
    *,
    state: str | Path,
    exclude: Collection[str] = (),
    max_lines: int | None = None,
    max_bytes: int | None = None,
) -> BatchState:
    """Submit the model requests of ``conversations`` as Batch API jobs, or pick up ``state``.

    ``exclude``: conversation ids not to submit (already graded). Returns the saved state.
    """
    from ..llm._batch_api import MAX_BATCH_BYTES, MAX_BATCH_LINES, BatchClient, BatchFormat

    path = Path(state)
    _, settings = _endpoint(grader)
    if path.exists():
        current = BatchState.load(path)
        _check(current, grader)
    else:
        lines, size = max_lines or MAX_BATCH_LINES, max_bytes or MAX_BATCH_BYTES
        current = _prepare(grader, conversations, path, exclude, lines, size)
        current.save()
    if all(p.id for p in current.parts):
        return current
    client = BatchClient(settings)
    try:
        await _send(client, current, BatchFormat(settings).endpoint)
    except ModelConfigurationError:
        if not any(p.input_file_id for p in current.parts):
            finish_batch(current)  # nothing reached the provider: leave nothing behind
        raise
    finally:
        await client.aclose()
    return current


# ----------------------------------------------------------------------------- wait and collect


async def await_batch(
    grader: Grader,
    state: BatchState | str | Path,
    *,
    wait: bool = True,
    poll_interval: float = 30.0,
    progress: Callable[[BatchState], None] | None = None,
) -> BatchState:
    """Poll until every batch has ended, then download its result files; the state, saved.

    ``progress`` sees the state after each poll. With ``wait=False`` a batch still running
    raises :class:`BatchPending` after one poll.
    """
    from ..llm._batch_api import BatchClient, BatchFormat

    current = state if isinstance(state, BatchState) else BatchState.load(state)
    _check(current, grader)
    _, settings = _endpoint(grader)
    client = BatchClient(settings)
    try:
        await _send(client, current, BatchFormat(settings).endpoint)
        while True:
            for part in current.parts:
                if part.id is not None and not part.ended:
                    part.update(await client.retrieve(part.id))
            current.save()
            if progress is not None:
                progress(current)
            if current.ended:
                _refuse_failed(current, settings.host)
                break
            if not wait:
                raise BatchPending(current)
            await asyncio.sleep(poll_interval)
        for part in current.parts:
            for file_id in (part.output_file_id, part.error_file_id):
                if file_id and not current.sibling(f"{file_id}.jsonl").exists():
                    await client.download(file_id, current.sibling(f"{file_id}.jsonl"))
    finally:
        await client.aclose()
    return current


def _refuse_failed(state: BatchState, host: str) -> None:
    """Stop when a batch failed as a whole: asking all its requests one by one would cost double."""
    for part in state.parts:
        if part.status == "failed":
            raise LLMGraderError(
                f"batch {part.id} failed at {host}: {part.problem or 'no reason given'}; none of its "
                f"{len(part.custom_ids)} request(s) was answered. Delete {state.path} to submit anew, "
                "or grade without --batch"
            )


def batch_grader(grader: Grader, state: BatchState) -> tuple[Grader, BatchAnswers]:
    """``grader`` answering from the batch's downloaded results, and its batch judge.

    The batch judge stands in front of the grader's own judge and behind its answer cache
    (a cached answer is used as ever; a batch answer is cached). Requests the batch did not
    answer validly go to the grader's judge, paced by the grader's concurrency and
    requests-per-minute; answers from the batch are not paced by the rate.
    """
    from ..llm._batch_api import BatchAnswers, BatchFormat
    from ..llm._batch_results import BatchResults

    judge, settings = _endpoint(grader)
    config = grader.config
    pacer = Pacer(config.concurrency, config.requests_per_minute)
    answers = BatchAnswers(judge, BatchResults(state.downloads()), BatchFormat(settings), pacer=pacer)
    front: Judge = CachedJudge(answers, grader.cache) if grader.cache is not None else answers
    return grader.with_judge(front, config=replace(config, requests_per_minute=None)), answers


def finish_batch(state: BatchState) -> None:
    """Remove the state file, the downloads and any input file left (the batch is collected)."""
    inputs = [state.sibling(f"part-{n}.jsonl") for n in range(1, len(state.parts) + 1)]
    for path in [*state.downloads(), *inputs]:
        path.unlink(missing_ok=True)
    state.path.unlink(missing_ok=True)


async def acollect_batch(
    grader: Grader,
    conversations: Iterable[Conversation],
    *,
    state: BatchState | str | Path,
    output: str | Path | None = None,
    wait: bool = True,
    poll_interval: float = 30.0,
    progress: Callable[[BatchState], None] | None = None,
    **options: Any,
) -> list[Scorecard]:
    """Wait for the batch, grade ``conversations`` from its results, then remove the state.

    ``options`` go to :meth:`~llm_grader._grader.Grader.agrade_many` (``resume``,
    ``overwrite``, ``on_scorecard``, ``on_error``, ``collect``; ``grading_progress`` is its
    ``progress``). The state is kept when grading is interrupted, so a re-run resumes.
    """
    current = await await_batch(grader, state, wait=wait, poll_interval=poll_interval, progress=progress)
    answering, _ = batch_grader(grader, current)
    if "grading_progress" in options:
        options["progress"] = options.pop("grading_progress")
    try:
        cards = await answering.agrade_many(conversations, output=output, **options)
    finally:
        await answering.aclose()
    finish_batch(current)
    return cards


def submit_batch(
    grader: Grader,
    conversations: Iterable[Conversation],
    *,
    state: str | Path,
    exclude: Collection[str] = (),
    max_lines: int | None = None,
    max_bytes: int | None = None,
) -> BatchState:
    """Send the model requests of ``conversations`` as Batch API jobs, or pick up ``state`` (sync).

    See :func:`asubmit_batch`.
    """
    return run_sync(
        asubmit_batch(
            grader, conversations, state=state, exclude=exclude, max_lines=max_lines, max_bytes=max_bytes
        )
    )


def collect_batch(
    grader: Grader,
    conversations: Iterable[Conversation],
    *,
    state: BatchState | str | Path,
    output: str | Path | None = None,
    wait: bool = True,
    poll_interval: float = 30.0,
    progress: Callable[[BatchState], None] | None = None,
    **options: Any,
) -> list[Scorecard]:
    """Wait for the batch, then grade from its results, failures asked again (sync).

    See :func:`acollect_batch`; the grader's connections are closed at the end.
    """

    async def collecting() -> list[Scorecard]:
        try:
            return await acollect_batch(
                grader, conversations, state=state, output=output, wait=wait,
                poll_interval=poll_interval, progress=progress, **options,
            )  # fmt: skip
        finally:
            await grader.aclose()

    return run_sync(collecting())
