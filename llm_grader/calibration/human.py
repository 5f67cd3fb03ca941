"""Human scores: one row per rater, conversation and item, read from CSV, JSONL or dicts.

The long format is ``conversation_id, rater, item_id, value``, where ``value`` is a tier id
or tier label, ``not_applicable``, a number for ``item_id = total`` and 0/1 for
``item_id = fatal``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import InputError, LLMGraderError, Problem

__all__ = ["HumanScore", "load_human_scores"]

_COLUMNS = ("conversation_id", "rater", "item_id", "value")

_Row = tuple[Mapping[str, Any], str, int | None]
"""A raw row, the file (or ``<type>``) it came from and its line."""


class HumanScore(BaseModel):
    """One human grade: a rater's value for one item of one conversation."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str
    rater: str
    item_id: str
    value: str


def _row(data: Mapping[str, Any], *, file: str, line: int | None) -> HumanScore:
    missing = [c for c in _COLUMNS if data.get(c) in (None, "")]
    if missing:
        raise InputError.at(file, line, missing[0], f"is missing; each row needs {', '.join(_COLUMNS)}")
    value = data["value"]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return HumanScore(
        conversation_id=str(data["conversation_id"]).strip(),
        rater=str(data["rater"]).strip(),
        item_id=str(data["item_id"]).strip(),
        value=str(value).strip(),
    )


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
    return rows, problems


def _csv_rows(text: str, file: str) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    absent = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
    if absent:
        raise InputError.at(file, 1, "", f"header lacks {', '.join(absent)}; expected {','.join(_COLUMNS)}")
    return [(row, file, reader.line_num) for row in reader]


def _file_rows(source: str | Path) -> tuple[list[_Row], list[Problem]]:
    path = Path(source)
    if not path.is_file():
        raise LLMGraderError(f"human scores file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".jsonl":
        return _jsonl_rows(text, str(path))
    return _csv_rows(text, str(path)), []


def load_human_scores(source: str | Path | Iterable[Mapping[str, Any]]) -> list[HumanScore]:
    """Read human scores from a CSV or JSONL file, a ``datasets.Dataset`` or dicts.

    Every malformed row is reported at once as ``file:line: field: message``.
    """
    if isinstance(source, (str, Path)):
        rows, problems = _file_rows(source)
    else:
        name = type(source).__name__
        rows, problems = [(dict(row), f"<{name}>", i) for i, row in enumerate(source, start=1)], []
    scores = []
    for data, where, at in rows:
        try:
            scores.append(_row(data, file=where, line=at))
        except InputError as exc:
            problems = [*problems, *exc.problems]
    if problems:
        raise InputError(problems)
    return scores
