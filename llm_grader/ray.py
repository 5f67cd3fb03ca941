"""Scale out on Ray Data: grade a dataset of conversation rows with a pool of actors.

    import ray
    from llm_grader.ray import grade_dataset

    ds = ray.data.read_text("s3://bucket/conversations/")   # one JSONL conversation per row
    graded = grade_dataset(ds, "internet_cs_qa", "gpt-4o-mini", output="s3://bucket/scorecards/",
                           concurrency=8, requests_per_minute=3000)

Install with ``pip install "llm-grader[ray]"``; ``import llm_grader`` never imports Ray.

- Rows have the JSONL conversation format in columns (``id``, ``channel``, ``turns``,
  ``metadata``, ``notes``...; Arrow cannot tell a missing field from a null one, so nulls are
  read as missing), or hold one JSONL line in a ``text`` column, as ``ray.data.read_text``
  gives. Prefer ``read_text`` for JSONL files: Arrow's JSON reader refuses a column whose
  type changes between rows (chat datetimes and call offsets in ``turns[].start``), and a bad
  line is then one failed row, not a failed read. Each row is built with
  :func:`~llm_grader.conversation.conversation_from_record`; a row that is not a valid
  conversation becomes a failed row (``failed``, ``error``), never a crashed job.
- ``ds.map_batches`` runs a fixed pool of ``concurrency`` actors (``ActorPoolStrategy``), each
  holding one :class:`~llm_grader._grader.Grader` (and its HTTP connections) for its life;
  each actor grades a batch with up to ``in_flight`` requests at once.
- The requests-per-minute budget is global and split evenly: each of the ``concurrency``
  actors paces itself to ``requests_per_minute / concurrency``. The pool has a fixed size, so
  the sum never exceeds the budget; an actor that idles leaves its share unused.
- Scorecards come back as rows (:data:`COLUMNS`), the full scorecard as JSON in
  ``scorecard_json``. With ``output`` they are written by Ray's writers (``write_json`` or
  ``write_parquet``: a directory of files, new files added on each run) and, with ``resume``,
  rows whose id already appears in ``output`` are skipped, failed ones included.

Ray schedules, retries and moves the data; nothing here is a scheduler of its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from ._grader import Grader
from .conversation import Conversation, conversation_from_record, table_records
from .conversation._limits import parse_json
from .errors import ConversationError, LLMGraderError
from .llm import ModelSettings
from .rubric import Rubric, load_rubric
from .scoring import Scorecard

if TYPE_CHECKING:
    import ray.data

__all__ = ["COLUMNS", "grade_dataset", "scorecard_rows"]

COLUMNS = (
    "conversation_id",
    "rubric_id",
    "total_score",
    "max_score",
    "complete",
    "fatal",
    "zero_score",
    "failed",
    "error",
    "scorecard_json",
)
"""The columns of a scorecard row, as in the scorecard: ``total_score`` counts the items
graded (read it with ``complete``, False while items are unscored); ``fatal`` and
``zero_score`` are None while undetermined; ``failed`` when the row was not a valid
conversation or an item could not be graded (``error`` says why); ``scorecard_json`` is
:meth:`Scorecard.model_dump_json` (None for a row that was not a conversation)."""

INSTALL_HINT = 'grading on Ray Data needs Ray: pip install "llm-grader[ray]"'


def _ray() -> Any:
    """The ``ray`` module, or an error saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise LLMGraderError(f"{INSTALL_HINT} ({exc})") from None
    return ray


def _pyarrow(module: str = "pyarrow") -> Any:
    """A ``pyarrow`` module (a dependency of ray[data]), untyped."""
    return importlib.import_module(module)


def _schema() -> Any:
    pa = _pyarrow()

    types = {
        "total_score": pa.float64(),
        "max_score": pa.float64(),
        "complete": pa.bool_(),
        "fatal": pa.bool_(),
        "zero_score": pa.bool_(),
        "failed": pa.bool_(),
    }
    return pa.schema([(name, types.get(name, pa.string())) for name in COLUMNS])


def _id_text(value: object) -> str | None:
    """A row's id as text (whole numbers too, as tables give them), or None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() or None if isinstance(value, str) else None


def card_row(card: Scorecard) -> dict[str, Any]:
    """One scorecard as a row of :data:`COLUMNS`."""
    failures = [
        f"{i.item_id}: {i.audit.failure} {i.error or ''}".strip() for i in card.items if i.audit.failure
    ]
    problems = [*card.errors, *failures]
    return {
        "conversation_id": card.conversation_id,
        "rubric_id": card.rubric_id,
        "total_score": card.total_score,
        "max_score": card.max_score,
        "complete": card.complete,
        "fatal": card.fatal,
        "zero_score": card.zero_score,
        "failed": bool(problems),
        "error": "; ".join(problems) or None,
        "scorecard_json": card.model_dump_json(),
    }


def _bad_row(conversation_id: str | None, rubric: Rubric, error: str) -> dict[str, Any]:
    return {
        **dict.fromkeys(COLUMNS),
        "conversation_id": conversation_id,
        "rubric_id": rubric.id,
        "complete": False,
        "failed": True,
        "error": error,
    }


def _conversation(row: Mapping[str, Any]) -> tuple[str | None, Conversation | str]:
    """The row's id and its conversation, or the error that stopped it."""
    if "turns" not in row and isinstance(row.get("text"), str):  # a JSONL line (ray.data.read_text)
        try:
            record = parse_json(row["text"])
        except ValueError as exc:
            return None, f"<Dataset>: {exc}"
        if not isinstance(record, dict):
            return None, f"<Dataset>: expected a JSON object per line, got {type(record).__name__}"
    else:  # columns: nulls are missing values, numpy values unboxed, whole-number ids as text
        (record,) = table_records([row], name="<Dataset>")
        if _id_text(record.get("id")) is not None:
            record["id"] = _id_text(record["id"])
    try:
        conversation = conversation_from_record(record, file="<Dataset>")
    except ConversationError as exc:
        return _id_text(record.get("id")), str(exc)
    return conversation.id, conversation


def scorecard_rows(
    grader: Grader, rows: Iterable[Mapping[str, Any]], done: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Grade conversation rows with ``grader``: one row of :data:`COLUMNS` each, in input order.

    A row is a conversation in columns (``id``, ``turns``, ...) or one JSONL line in a ``text``
    column (as ``ray.data.read_text`` gives). Rows whose id is in ``done`` are left out; a row
    that is not a valid conversation is a failed row. An id given twice is graded once (the
    first row wins); the later row is a failed row without an id whose ``error`` names it, so
    ids stay unique among the scorecard rows. (One actor's work on one batch — duplicates
    across batches are not seen here; usable without Ray.)
    """
    results: list[dict[str, Any] | Conversation] = []
    first: dict[str, int] = {}
    for index, row in enumerate(rows):
        if "turns" not in row and isinstance(row.get("text"), str) and not row["text"].strip():
            continue  # a blank line
        conversation_id, built = _conversation(row)
        if conversation_id in done:
            continue
        if conversation_id is not None and conversation_id in first:
            where = f"first at row {first[conversation_id]}"
            error = f"<Dataset>:row {index}: duplicate conversation id {conversation_id!r} ({where})"
            results.append(_bad_row(None, grader.rubric, error))
            continue
        if conversation_id is not None:
            first[conversation_id] = index
        results.append(_bad_row(conversation_id, grader.rubric, built) if isinstance(built, str) else built)
    conversations = [r for r in results if isinstance(r, Conversation)]
    cards = iter(grader.grade_many(conversations)) if conversations else iter(())
    return [card_row(next(cards)) if isinstance(r, Conversation) else r for r in results]


class _GradeBatches:
    """The callable class of ``map_batches``: one Grader per actor, for the actor's life."""

    def __init__(
        self, rubric: Rubric, model: str | ModelSettings | None, options: dict[str, Any], done: frozenset[str]
    ) -> None:
        self.grader = Grader(rubric, model, **options)
        self.done = done

    def __call__(self, batch: Any) -> Any:
        """A ``pyarrow.Table`` of conversation rows to one of scorecard rows."""
        rows = scorecard_rows(self.grader, batch.to_pylist(), self.done)
        return _pyarrow().Table.from_pylist(rows, schema=_schema())


def _has_files(output: str) -> bool:
    """Whether ``output`` (a local folder, or any URI pyarrow reads) holds files."""
    pafs = _pyarrow("pyarrow.fs")
    filesystem, path = pafs.FileSystem.from_uri(output if "://" in output else str(Path(output).resolve()))
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return False
    if info.type != pafs.FileType.Directory:
        raise LLMGraderError(f"output {output!r} is a file; Ray writes a folder of files: give a folder")
    return any(i.type == pafs.FileType.File for i in filesystem.get_file_info(pafs.FileSelector(path)))


def _read(output: str, file_format: str) -> ray.data.Dataset:
    data = _ray().data
    read = data.read_parquet(output) if file_format == "parquet" else data.read_json(output)
    return cast("ray.data.Dataset", read)


def written_ids(output: str, file_format: Literal["json", "parquet"] = "json") -> frozenset[str]:
    """The conversation ids already in ``output`` (empty when it holds no files)."""
    if not _has_files(output):
        return frozenset()
    ids = _read(output, file_format).select_columns(["conversation_id"])
    batches: Iterable[Any] = ids.iter_batches(batch_format="pyarrow")
    return frozenset(i for batch in batches for i in batch.column(0).to_pylist() if i)


def grade_dataset(
    ds: ray.data.Dataset,
    rubric: Rubric | str | Path,
    model: str | ModelSettings | None = None,
    *,
    output: str | Path | None = None,
    format: Literal["json", "parquet"] = "json",
    concurrency: int = 2,
    requests_per_minute: float | None = None,
    batch_size: int = 32,
    in_flight: int = 8,
    resume: bool = True,
    num_cpus: float | None = None,
    **grader_options: Any,
) -> ray.data.Dataset:
    """Grade every conversation row of ``ds`` on a pool of ``concurrency`` Ray actors.

    ``model`` is a model name or :class:`~llm_grader.llm.ModelSettings` (None: rule items
    only). Each actor holds one Grader with ``in_flight`` requests at once and paces itself to
    ``requests_per_minute / concurrency`` (the budget is global). ``batch_size`` rows go to an
    actor at a time. ``grader_options`` are :class:`~llm_grader._grader.GraderConfig` fields
    (``samples``, ``strategy``, ``cache``, ``mask_pii``...). ``num_cpus`` per actor (Ray's
    default: 1; grading waits on the model, so a fraction often does).

    Without ``output``, the scorecard rows (:data:`COLUMNS`), graded lazily as Ray consumes them.
    With ``output`` (a folder or URI), they are written with ``write_json``/``write_parquet``
    (``format``) and the dataset returned reads ``output`` back: every scorecard in it,
    earlier runs' included. With ``resume`` (default), ids already in ``output`` are skipped;
    without it, an ``output`` that holds files is refused.
    """
    ray = _ray()
    if format not in ("json", "parquet"):
        raise LLMGraderError(f"format must be json or parquet (got {format!r})")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise LLMGraderError(
            f"concurrency (actors) must be a whole number of at least 1 (got {concurrency!r})"
        )
    for clash in ("concurrency", "requests_per_minute", "config"):
        if clash in grader_options:
            raise TypeError(f"{clash} is not a grader option here: see grade_dataset's own parameters")
    loaded = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
    rpm = None if requests_per_minute is None else requests_per_minute / concurrency
    options = {**grader_options, "concurrency": in_flight, "requests_per_minute": rpm}
    Grader(loaded, None, **options)  # refuse bad options here, not in every actor
    target = None if output is None else str(output)
    done: frozenset[str] = frozenset()
    if target is not None and _has_files(target):
        if not resume:
            raise LLMGraderError(
                f"{target!r} already holds files: pass resume=True to grade only the conversations "
                "not in it, or choose another output"
            )
        done = written_ids(target, format)
    graded = ds.map_batches(
        _GradeBatches,
        fn_constructor_kwargs={"rubric": loaded, "model": model, "options": options, "done": done},
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
    )
    if target is None:
        return graded
    if format == "parquet":
        graded.write_parquet(target)
    else:
        graded.write_json(target)
    return _read(target, format)
