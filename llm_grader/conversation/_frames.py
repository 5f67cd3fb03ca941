"""Conversations from in-memory tables: pandas DataFrames, ``datasets.Dataset`` and lists of dicts.

Two shapes are read, told apart by their columns:

- **one row per turn**, like the CSV format: ``conversation_id, speaker, text`` and optional
  ``start, end``, plus conversation-level ``channel, notes, started_at``, a ``metadata`` column
  of dicts and ``metadata.<key>`` columns (repeated on every row of a conversation, or given
  on one). As in CSV files, other columns are ignored.
- **one row per conversation**, like the JSONL format: ``id`` (or ``conversation_id``) and
  ``turns`` (a list of dicts; the dict-of-lists form a ``datasets.Sequence`` gives is accepted
  too), plus ``channel, notes, started_at, metadata`` and ``metadata.<key>``. As in JSONL
  files, an unknown column is an error.

Each conversation is built by :func:`~.build.conversation_from_record`, so speakers, times and
error messages are those of the files. Rows are counted from 0, as ``df.iloc[n]``,
``dataset[n]`` and ``records[n]`` take them, and problems read ``<DataFrame>:row 12: field:
message``. Missing cells (None, NaN, ``pd.NA``, ``NaT``) are missing values; pandas and
datasets are never imported here: they are recognised by duck typing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ..errors import ConversationError, InputError, Problem
from ._build import conversation_from_record
from ._columns import column_name, loose_value, resolve_header
from ._turns import Conversation, Conversations


@dataclass(frozen=True, kw_only=True)
class RowProblem(Problem):
    """A problem located by row of an in-memory table; ``line`` holds the 0-based row."""

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:row {self.line}"
        field = f" {self.field}:" if self.field else ""
        tag = "warning: " if self.severity == "warning" else ""
        return f"{where}:{field} {tag}{self.message}"

    @classmethod
    def of(cls, problem: Problem) -> RowProblem:
        """The same problem, its line read as a row."""
        if isinstance(problem, RowProblem):
            return problem
        return cls(
            file=problem.file,
            line=problem.line,
            field=problem.field,
            message=problem.message,
            severity=problem.severity,
        )


# --------------------------------------------------------------------------- cells and rows

_MISSING_TYPES = frozenset({"NAType", "NaTType"})


def _missing(value: object) -> bool:
    """None, NaN, ``pd.NA`` or ``NaT``."""
    if value is None or type(value).__name__ in _MISSING_TYPES:
        return True
    return isinstance(value, float) and math.isnan(value)


def _clean(value: Any) -> Any:
    """A cell as plain Python: numpy values unboxed, datetimes as ISO text, durations as seconds.

    Missing values inside dicts are dropped; inside lists they become None.
    """
    if _missing(value):
        return None
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars and arrays
        value = value.tolist()
        if _missing(value):
            return None
    if isinstance(value, Mapping):
        return {str(k).strip(): _clean(v) for k, v in value.items() if not _missing(v)}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, date):  # datetime and pandas.Timestamp too
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def _is_dataframe(obj: object) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "columns") and hasattr(obj, "to_dict")


def _source_rows(obj: object) -> list[Any]:
    """The rows of a DataFrame, a Dataset or an iterable of dicts, dicts cleaned, others as given."""
    table: Any = obj
    module = type(obj).__module__.split(".")[0]
    if _is_dataframe(obj):
        rows: list[Any] = list(table.to_dict(orient="records"))
    elif module == "datasets" and isinstance(getattr(obj, "column_names", None), dict):
        raise TypeError(
            f"a {type(obj).__name__} holds several splits ({', '.join(table.column_names)}); "
            "pass one of them, e.g. dataset['train']"
        )
    elif module == "datasets" and hasattr(obj, "to_list"):
        rows = list(table.to_list())
    elif isinstance(obj, Iterable) and not isinstance(obj, (str, bytes, Path, Mapping)):
        rows = list(obj)
    else:
        hint = (
            "; read files with load_conversations or load_human_scores"
            if isinstance(obj, (str, Path))
            else ""
        )
        expected = "expected a pandas DataFrame, a datasets.Dataset or a list of dicts"
        raise TypeError(f"{expected}, not {type(obj).__name__}{hint}")
    return [_clean(row) if isinstance(row, Mapping) else row for row in rows]


def _label(obj: object, name: str | None) -> str:
    return name if name is not None else f"<{type(obj).__name__}>"


def _not_a_row(row: object, file: str, index: int) -> RowProblem:
    return RowProblem(
        file=file, line=index, field="", message=f"expected a dict per row, got {type(row).__name__}"
    )


def table_records(obj: object, *, name: str | None = None) -> list[dict[str, Any]]:
    """The rows of a DataFrame, a ``datasets.Dataset`` or an iterable of dicts, as plain dicts.

    Missing cells are left out, numpy values unboxed, datetimes given as ISO-8601 text and
    durations as seconds. Raises ``TypeError`` for anything else, and
    :class:`~llm_grader.errors.InputError` naming every row that is not a dict.
    """
    rows = _source_rows(obj)
    file = _label(obj, name)
    problems: list[Problem] = [_not_a_row(r, file, i) for i, r in enumerate(rows) if not isinstance(r, dict)]
    if problems:
        raise InputError(problems)
    return rows


# --------------------------------------------------------------------------- building

_TURN_FIELDS = ("speaker", "text", "start", "end")
_CONVERSATION_FIELDS = ("channel", "notes", "knowledge", "started_at")
_PER_TURN = ("conversation_id", "speaker", "text")
_EXPECTED = (
    "expected one row per turn (conversation_id, speaker, text[, start, end, channel, notes, "
    "knowledge, metadata.*]) or one row per conversation (id, turns[, channel, notes, knowledge, metadata])"
)

_Item = Conversation | ConversationError


def _id_text(value: object) -> object:
    """An id cell as text when it is text or a whole number (integer ids are common in tables)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else value


def _metadata(row: Mapping[str, Any]) -> Any:
    """The ``metadata`` cell merged with the ``metadata.<key>`` columns; None when neither.

    A ``metadata`` cell that is not a dict is returned as it is, for validation to report.
    """
    columns = {k.removeprefix("metadata."): v for k, v in row.items() if k.startswith("metadata.")}
    base = row.get("metadata")
    if not columns or not (base is None or isinstance(base, dict)):
        return base
    return {**(base or {}), **columns}


def _located(exc: ConversationError) -> ConversationError:
    """The error with its lines read as rows."""
    problems: list[Problem] = [RowProblem.of(p) for p in exc.problems]
    return ConversationError(problems, conversation_id=exc.conversation_id)


def _build(record: Mapping[str, Any], file: str, row: int, turn_rows: list[int] | None = None) -> _Item:
    try:
        return conversation_from_record(record, file=file, line=row, turn_lines=turn_rows)
    except ConversationError as exc:
        return _located(exc)


def _turns(value: Any) -> Any:
    """Turns as a list of dicts: the dict-of-lists form of ``datasets.Sequence`` transposed."""
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        lengths = {len(v) for v in value.values()}
        if len(lengths) == 1:
            keys = list(value)
            return [
                {k: v for k, v in zip(keys, values, strict=True) if v is not None}
                for values in zip(*value.values(), strict=True)
            ]
    if isinstance(value, list):
        return [{k: v for k, v in t.items() if v is not None} if isinstance(t, dict) else t for t in value]
    return value


def _conversation_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of the per-conversation shape as a JSONL-style record."""
    record = {
        k: v
        for k, v in row.items()
        if not k.startswith(("metadata.", "__index_level_")) and k != "metadata" and v is not None
    }
    if "id" not in record and "conversation_id" in record:
        record["id"] = record.pop("conversation_id")
    if "turns" not in record and "messages" in record:  # OpenAI-style chat messages
        record["turns"] = record.pop("messages")
    if "id" in record:
        record["id"] = _id_text(record["id"])
    if "turns" in record:
        record["turns"] = _turns(record["turns"])
    metadata = _metadata(row)
    if metadata is not None:
        record["metadata"] = metadata
    return record


def _per_conversation(rows: list[Any], file: str) -> Iterator[tuple[_Item, int]]:
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            yield ConversationError([_not_a_row(row, file, index)]), index
            continue
        yield _build(_conversation_record(row), file, index), index


@dataclass
class _Group:
    """The rows of one conversation in the per-turn shape."""

    id: str
    first: int
    fields: dict[str, Any] = field(default_factory=dict)
    """Conversation-level values, and the row each was first seen in."""
    seen_at: dict[str, int] = field(default_factory=dict)
    turns: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    loose: dict[str, dict[int, Any]] = field(default_factory=dict)
    """Cells of the columns kept as metadata that may change from turn to turn, by turn."""

    def add(self, row: Mapping[str, Any], index: int, file: str, loose: Mapping[str, Any]) -> None:
        for key, value in loose.items():
            self.loose.setdefault(key, {})[len(self.turns)] = value
        self.turns.append({k: row[k] for k in _TURN_FIELDS if row.get(k) is not None})
        self.rows.append(index)
        values = {k: row[k] for k in _CONVERSATION_FIELDS if row.get(k) is not None}
        metadata = _metadata(row)
        if isinstance(metadata, dict):
            values |= {f"metadata.{k}": v for k, v in metadata.items()}
        elif metadata is not None:
            message = f"must be a dict of values, not {type(metadata).__name__}"
            self.problems.append(RowProblem(file=file, line=index, field="metadata", message=message))
        for key, value in values.items():
            if key not in self.fields:
                self.fields[key], self.seen_at[key] = value, index
            elif self.fields[key] != value:
                message = (
                    f"rows {self.seen_at[key]} and {index} of conversation {self.id!r} disagree "
                    f"({self.fields[key]!r} vs {value!r}); give one value per conversation"
                )
                self.problems.append(RowProblem(file=file, line=index, field=key, message=message))

    def build(self, file: str) -> _Item:
        record: dict[str, Any] = {"id": self.id, "turns": self.turns}
        record |= {k: v for k, v in self.fields.items() if not k.startswith("metadata.")}
        metadata = {
            k.removeprefix("metadata."): v for k, v in self.fields.items() if k.startswith("metadata.")
        }
        for key, cells in self.loose.items():
            value = loose_value(cells.get(i) for i in range(len(self.turns)))
            if value is not None:
                metadata[key.removeprefix("metadata.")] = value
        if metadata:
            record["metadata"] = metadata
        built = _build(record, file, self.first, self.rows)
        if not self.problems:
            return built
        found = built.problems if isinstance(built, ConversationError) else []
        problems = sorted([*self.problems, *found], key=lambda p: p.line or 0)
        return ConversationError(problems, conversation_id=self.id)


def _per_turn(
    rows: list[Any], file: str, loose: list[dict[str, Any]], numbers: list[int]
) -> Iterator[tuple[_Item, int]]:
    groups: dict[str, _Group] = {}
    for row, index, extra in zip(rows, numbers, loose, strict=True):
        if not isinstance(row, dict):
            yield ConversationError([_not_a_row(row, file, index)]), index
            continue
        conv_id = _id_text(row.get("conversation_id"))
        if not isinstance(conv_id, str) or not conv_id:
            message = "is empty" if conv_id in (None, "") else f"must be text, not {conv_id!r}"
            problem = RowProblem(file=file, line=index, field="conversation_id", message=message)
            yield ConversationError([problem]), index
            continue
        groups.setdefault(conv_id, _Group(id=conv_id, first=index)).add(row, index, file, extra)
    for group in groups.values():
        yield group.build(file), group.first


def turn_rows(rows: list[Any], headers: list[str]) -> tuple[list[Any], list[dict[str, Any]], list[str]]:
    """Rows of the per-turn shape keyed by the columns their headers stand for.

    Returns the rows (``角色`` read as ``speaker``...), the cells of the columns kept loosely as
    metadata apart, and the header's problems.
    """
    columns, problems = resolve_header(headers)
    named = dict(zip(headers, columns, strict=True))
    known: list[Any] = []
    loose: list[dict[str, Any]] = []
    for row in rows:
        if not isinstance(row, dict):
            known.append(row)
            loose.append({})
            continue
        cells = [(named.get(k) or column_name(k), v) for k, v in row.items()]
        known.append({c.name: v for c, v in cells if c.name and not c.loose})
        loose.append({c.name: v for c, v in cells if c.name and c.loose})
    return known, loose, problems


def per_turn_items(
    rows: list[Any], file: str, numbers: list[int] | None = None, *, headers: list[str] | None = None
) -> Iterator[tuple[_Item, int]]:
    """Each conversation of rows holding one turn each, or its error, with its first row.

    ``numbers`` gives each row's number in errors (default: its index); ``headers`` the
    columns in order (default: every key of the rows), checked even when there are no rows.
    """
    given = headers is not None
    if headers is None:
        headers = list(dict.fromkeys(str(k).strip() for row in rows if isinstance(row, dict) for k in row))
    rows, loose, problems = turn_rows(rows, headers)
    columns = {column_name(h).name for h in headers}
    missing = [c for c in _PER_TURN if c not in columns]
    if (rows or given) and missing:
        problems.append(f"columns lack {', '.join(map(repr, missing))}; {_EXPECTED}")
    if problems:
        yield ConversationError([RowProblem(file=file, line=None, field="", message=m) for m in problems]), 0
        return
    yield from _per_turn(rows, file, loose, list(range(len(rows))) if numbers is None else numbers)


def _items(rows: list[Any], file: str) -> Iterator[tuple[_Item, int]]:
    """Each conversation of the table, or its error, with its first row."""
    columns = {k for row in rows if isinstance(row, dict) for k in row}
    if "turns" in columns or "messages" in columns:
        yield from _per_conversation(rows, file)
        return
    yield from per_turn_items(rows, file)


def _duplicate(item: Conversation, file: str, row: int, first: int) -> ConversationError:
    message = f"duplicate conversation id {item.id!r} (first at row {first})"
    problem = RowProblem(file=file, line=row, field="id", message=message)
    return ConversationError([problem], conversation_id=item.id)


def conversations_from_table(obj: object, *, name: str | None = None, strict: bool = False) -> Conversations:
    """Load conversations from a pandas DataFrame, a ``datasets.Dataset`` or a list of dicts.

    The table holds one row per turn (``conversation_id, speaker, text[, start, end]``) or
    one row per conversation (``id, turns``); see the module's documentation for the
    columns. ``name`` names the table in errors (default ``<DataFrame>``, ``<Dataset>``,
    ``<list>``...). As with files, a malformed conversation is skipped and its error kept
    in ``result.errors`` (rows counted from 0), and the rest load; with ``strict=True`` the
    first error is raised instead. Duplicate ids are errors. ``obj`` is not modified.
    """
    rows = _source_rows(obj)
    file = _label(obj, name)
    loaded = Conversations()
    seen: dict[str, int] = {}
    for item, row in _items(rows, file):
        if isinstance(item, Conversation) and item.id in seen:
            item = _duplicate(item, file, row, seen[item.id])
        if isinstance(item, ConversationError):
            if strict:
                raise item
            loaded.errors.append(item)
            continue
        seen[item.id] = row
        loaded.append(item)
    return loaded
