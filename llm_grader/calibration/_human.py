"""Human scores: one row per rater, conversation and item, read from CSV, JSONL or tables.

The long format is ``conversation_id, rater, item_id, value``, where ``value`` is a tier id
or tier label, ``not_applicable``, a number for ``item_id = total`` and 0/1 (or a boolean)
for ``item_id = fatal``. Besides files, a pandas DataFrame, a ``datasets.Dataset`` or a list
of dicts with those columns is read; problems there name the row, counted from 0. CSV cells
neutralised against spreadsheet formulas (``'=x``, as llm-grader writes them) are read back
as written (``=x``). An optional ``blind`` column (``1``/``0``, ``true``/``false``, ``yes``/``no``,
``是``/``否``; empty: not known) says whether the rater gave the label with the AI grade hidden
(``review export`` writes it); :func:`prefer_blind` keeps the blind labels where there are any.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from .._spreadsheet import read_csv, restore
from .._textfiles import read_utf8
from ..conversation import RowProblem, table_records
from ..errors import InputError, LLMGraderError, Problem

_COLUMNS = ("conversation_id", "rater", "item_id", "value")
_BLIND = dict.fromkeys(("1", "true", "yes", "是"), True) | dict.fromkeys(("0", "false", "no", "否"), False)

_Row = tuple[Mapping[str, Any], str, int | None]
"""A raw row, the file (or ``<type>``) it came from and its line."""


class HumanScore(BaseModel):
    """One human grade: a rater's value for one item of one conversation."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str
    rater: str
    item_id: str
    value: str
    blind: bool | None = None
    """Whether the label was given blind (the AI grade hidden from the rater); None: not known."""


def _text(value: object) -> str:
    """A cell as text: ``True`` as ``1``, ``2.0`` (a number column of a table) as ``2``."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _csv_text(value: object) -> str:
    """A CSV cell as text, neutralised cells restored (``'=x`` as ``=x``)."""
    return restore(_text(value))


def _row(data: Any, *, file: str, line: int | None, cell: Callable[[object], str] = _text) -> HumanScore:
    if not isinstance(data, Mapping):
        message = f"expected an object with {', '.join(_COLUMNS)}, got {type(data).__name__}"
        raise InputError.at(file, line, "", message)
    missing = [c for c in _COLUMNS if data.get(c) in (None, "")]
    if missing:
        raise InputError.at(file, line, missing[0], f"is missing; each row needs {', '.join(_COLUMNS)}")
    given = data.get("blind")
    blind = None if given in (None, "") else _BLIND.get(cell(given).lower())
    if given not in (None, "") and blind is None:
        raise InputError.at(file, line, "blind", f"{cell(given)!r} is not one of 1, 0 (true/false, yes/no)")
    return HumanScore(**{c: cell(data[c]) for c in _COLUMNS}, blind=blind)


def _jsonl_rows(text: str, file: str) -> tuple[list[_Row], list[Problem]]:
    rows: list[_Row] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((json.loads(line), file, number))
        except json.JSONDecodeError as exc:
            problems.append(Problem(file=file, line=number, field="", message=f"invalid JSON: {exc.msg}"))
        except (ValueError, RecursionError) as exc:  # a number of thousands of digits; deep nesting
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            problems.append(Problem(file=file, line=number, field="", message=f"invalid JSON: {reason}"))
    return rows, problems


def _csv_rows(text: str, file: str) -> list[_Row]:
    header, rows = read_csv(text, file)
    absent = [c for c in _COLUMNS if c not in header]
    if absent:
        raise InputError.at(file, 1, "", f"header lacks {', '.join(absent)}; expected {','.join(_COLUMNS)}")
    return [(row, file, line) for line, row in rows]


def _file_rows(source: str | Path) -> tuple[list[_Row], list[Problem], Callable[[object], str]]:
    """The rows and problems of a file, and how its cells become text."""
    path = Path(source)
    if not path.is_file():
        raise LLMGraderError(f"human scores file {str(path)!r} does not exist")
    text = read_utf8(path, what="human scores file")
    if path.suffix.lower() == ".jsonl":
        return (*_jsonl_rows(text, str(path)), _text)
    return _csv_rows(text, str(path)), [], _csv_text


def _columns(source: object, records: list[dict[str, Any]]) -> set[str]:
    """The columns a table declares (DataFrame, Dataset), else the keys its rows use."""
    for attribute in ("columns", "column_names"):
        declared = getattr(source, attribute, None)
        if declared is not None and not isinstance(declared, dict):
            return {str(c).strip() for c in declared}
    return {key for record in records for key in record}


def _table_rows(source: object) -> list[_Row]:
    """The rows of a DataFrame, Dataset or dicts, missing cells left out, numbered from 0."""
    name = f"<{type(source).__name__}>"
    records = table_records(source, name=name)
    absent = [c for c in _COLUMNS if c not in _columns(source, records)]
    if records and absent:
        message = f"columns lack {', '.join(absent)}; expected {','.join(_COLUMNS)}"
        raise InputError([RowProblem(file=name, line=None, field="", message=message)])
    return [(record, name, i) for i, record in enumerate(records)]


def prefer_blind(scores: Iterable[HumanScore]) -> tuple[list[HumanScore], dict[str, int]]:
    """Per item, only its blind labels when it has any; and item id → blind labels kept.

    Labels given with the AI grade in view anchor on it and inflate agreement, so an item
    with blind labels is measured on those alone (model–human and, where two raters labelled
    a conversation blind, human–human). Items without blind labels, and ``total`` / ``fatal``
    rows, are kept as they are.
    """
    scores = list(scores)
    blind_items = {s.item_id for s in scores if s.blind}
    kept = [s for s in scores if s.item_id not in blind_items or s.blind]
    counts: dict[str, int] = {}
    for s in kept:
        if s.blind:
            counts[s.item_id] = counts.get(s.item_id, 0) + 1
    return kept, counts


def load_human_scores(source: str | Path | Iterable[Mapping[str, Any]] | Any) -> list[HumanScore]:
    """Read human scores from a CSV or JSONL file, a pandas DataFrame, a ``datasets.Dataset`` or dicts.

    Every malformed row is reported at once as ``file:line: field: message`` (for tables,
    ``<DataFrame>:row 3: field: message``, rows counted from 0).
    """
    if isinstance(source, (str, Path)):
        rows, problems, cell = _file_rows(source)
    else:
        rows, problems, cell = _table_rows(source), [], _text
    scores = []
    for data, where, at in rows:
        try:
            scores.append(_row(data, file=where, line=at, cell=cell))
        except InputError as exc:
            located = exc.problems if isinstance(source, (str, Path)) else map(RowProblem.of, exc.problems)
            problems = [*problems, *located]
    if problems:
        raise InputError(problems)
    return scores
