"""Scorecards as tables: plain records, pandas DataFrames, ``datasets.Dataset``, CSV and Parquet.

Two levels:

- ``"item"`` — one row per conversation × item: the tier, points, N/A, review and error
  flags, the evidence (count, first quote, and every quote as ``turn 3: … / turn 5: …``),
  the rationale;
- ``"conversation"`` — one row per scorecard: every field of the scorecard but its items
  (the total, maximum, fatal and zero-score flags, completeness, overrides as ``kind:id; …``,
  errors), counts of graded, unscored and to-review items, category subtotals
  (``category.<id>``) and model usage (``usage.<field>``).

Both end with the conversation's metadata flattened as ``metadata.<key>`` (a nested value as
JSON text; a key whose values differ in type across rows as text, so that every column holds
one type). :func:`results_to_records` needs nothing but the standard library; pandas,
datasets and pyarrow are imported only by the functions that need them.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from ._results import read_results
from ._spreadsheet import evidence_cell, write_csv
from .errors import LLMGraderError
from .scoring import ItemResult, Scorecard
from .types import Usage

Level = Literal["item", "conversation"]
"""One row per conversation × item, or one row per conversation."""

_LEVELS: tuple[str, ...] = get_args(Level)

_CARD_COLUMNS = ("conversation_id", "rubric_id", "rubric_version", "model")

_ITEM_COLUMNS = (
    *_CARD_COLUMNS,
    "item_id",
    "name",
    "category_id",
    "judge",
    "tier",
    "tier_label",
    "points",
    "max_points",
    "not_applicable",
    "needs_review",
    "error",
    "measured",
    "occurrences",
    "flags",
    "evidence_count",
    "evidence_quote",
    "evidence",
    "rationale",
    "review",
)
"""The fixed columns of the item level, in order (``metadata.<key>`` follow)."""

_USAGE = tuple(Usage.model_fields)

_NESTED = frozenset({"items", "categories", "usage", "metadata"})
"""Scorecard fields given as columns of their own (counts, ``category.<id>``, ``usage.<field>``...)."""

_CARD_FIELDS = tuple(name for name in Scorecard.model_fields if name not in _NESTED)
"""Every other field of a scorecard is a column: scalars as they are, lists joined with ``; ``."""

_CONVERSATION_COLUMNS = (
    *_CARD_FIELDS,
    "items_graded",
    "items_unscored",
    "items_needs_review",
    *(f"usage.{name}" for name in _USAGE),
)
"""The fixed columns of the conversation level (``category.<id>``, ``metadata.<key>`` follow)."""

Cards = Iterable[Scorecard] | str | Path
"""Scorecards, or the path of a results JSONL file."""


def _cards(cards: Cards) -> list[Scorecard]:
    if isinstance(cards, (str, Path)):
        if not Path(cards).is_file():
            raise LLMGraderError(f"results file {str(cards)!r} does not exist")
        return list(read_results(cards))
    return list(cards)


def _level(level: str) -> Level:
    if level not in _LEVELS:
        raise LLMGraderError(f"level must be {' or '.join(map(repr, _LEVELS))}, not {level!r}")
    return "item" if level == "item" else "conversation"


# --------------------------------------------------------------------------- rows


def _card_values(card: Scorecard) -> dict[str, Any]:
    return {name: getattr(card, name) for name in _CARD_COLUMNS}


def _item_row(card: Scorecard, item: ItemResult) -> dict[str, Any]:
    quotes = item.evidence or item.occurrences or []
    review = item.audit.review
    return {
        **_card_values(card),
        "item_id": item.item_id,
        "name": item.name,
        "category_id": item.category_id,
        "judge": item.judge,
        "tier": item.tier,
        "tier_label": item.tier_label,
        "points": item.points,
        "max_points": item.max_points,
        "not_applicable": item.not_applicable,
        "needs_review": item.needs_review,
        "error": item.error,
        "measured": item.measured,
        "occurrences": None if item.occurrences is None else len(item.occurrences),
        "flags": ",".join(sorted(flag for flag, raised in item.flags.items() if raised)),
        "evidence_count": len(quotes),
        "evidence_quote": quotes[0].quote if quotes else None,
        "evidence": evidence_cell(quotes) or None,
        "rationale": item.rationale,
        "review": review.decision if review else None,
    }


def _joined(value: Any) -> Any:
    """A scorecard field as a cell: a list as ``a; b`` (overrides as ``kind:id``), a dict as ``k:v; …``."""
    if isinstance(value, dict):
        return "; ".join(f"{k}:{v}" for k, v in value.items())
    if not isinstance(value, list):
        return value
    return "; ".join(f"{v.kind}:{v.id}" if hasattr(v, "kind") and hasattr(v, "id") else str(v) for v in value)


def _conversation_row(card: Scorecard) -> dict[str, Any]:
    return {
        **{name: _joined(getattr(card, name)) for name in _CARD_FIELDS},
        "items_graded": sum(1 for i in card.items if not i.unscored),
        "items_unscored": sum(1 for i in card.items if i.unscored),
        "items_needs_review": sum(1 for i in card.items if i.needs_review),
        **{f"usage.{name}": getattr(card.usage, name) for name in _USAGE},
        **{f"category.{c.id}": c.score for c in card.categories},
    }


def _flat(value: Any) -> Any:
    """A metadata value as a cell: a dict or list as JSON text."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return value


def _one_type(values: list[Any]) -> list[Any]:
    """The values of a column, as text when they mix types (ints and floats may mix)."""
    kinds = {type(v) for v in values if v is not None}
    if len(kinds - {int, float}) + (1 if kinds & {int, float} else 0) <= 1:
        return values
    return [None if v is None else str(v) for v in values]


def _with_metadata(rows: list[dict[str, Any]], cards: list[Scorecard], per_card: list[int]) -> list[str]:
    """Add ``metadata.<key>`` to every row (``per_card``: how many rows each card has); the keys."""
    keys = list(dict.fromkeys(key for card in cards for key in card.metadata))
    for key in keys:
        values = _one_type([_flat(card.metadata.get(key)) for card in cards])
        start = 0
        for value, count in zip(values, per_card, strict=True):
            for row in rows[start : start + count]:
                row[f"metadata.{key}"] = value
            start += count
    return [f"metadata.{key}" for key in keys]


def _rows(cards: list[Scorecard], level: Level) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and the rows of a level; every row has every column."""
    if level == "item":
        rows = [_item_row(card, item) for card in cards for item in card.items]
        columns = list(_ITEM_COLUMNS)
        per_card = [len(card.items) for card in cards]
    else:
        rows = [_conversation_row(card) for card in cards]
        categories = dict.fromkeys(f"category.{c.id}" for card in cards for c in card.categories)
        columns = [*_CONVERSATION_COLUMNS, *categories]
        per_card = [1] * len(cards)
    columns += _with_metadata(rows, cards, per_card)
    return columns, [{column: row.get(column) for column in columns} for row in rows]


def results_columns(cards: Cards, level: Level = "item") -> list[str]:
    """The columns :func:`results_to_records` gives for these scorecards, in order."""
    return _rows(_cards(cards), _level(level))[0]


def results_to_records(cards: Cards, level: Level = "item") -> list[dict[str, Any]]:
    """Scorecards as plain dicts, one per conversation × item (``"item"``) or per conversation.

    ``cards`` is an iterable of :class:`~llm_grader.scoring.Scorecard` or the path of a
    results JSONL file. Every dict has the same keys in the same order; a missing value is
    None. Needs no third-party package.
    """
    return _rows(_cards(cards), _level(level))[1]


# --------------------------------------------------------------------------- optional packages


def require(module: str, extra: str) -> Any:
    """Import an optional package, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LLMGraderError(f'{module} is not installed: pip install "llm-grader[{extra}]"') from None


def results_to_frame(cards: Cards, level: Level = "item") -> Any:
    """Scorecards as a pandas DataFrame, with the columns of :func:`results_to_records`."""
    pandas = require("pandas", "pandas")
    columns, rows = _rows(_cards(cards), _level(level))
    return pandas.DataFrame(rows, columns=columns)


def results_to_dataset(cards: Cards, level: Level = "item") -> Any:
    """Scorecards as a ``datasets.Dataset``, with the columns of :func:`results_to_records`."""
    datasets = require("datasets", "datasets")
    columns, rows = _rows(_cards(cards), _level(level))
    return datasets.Dataset.from_dict({column: [row[column] for row in rows] for column in columns})


# --------------------------------------------------------------------------- files


def _write_parquet(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    pyarrow = require("pyarrow", "parquet")
    parquet = importlib.import_module("pyarrow.parquet")
    table = pyarrow.Table.from_pydict({column: [row[column] for row in rows] for column in columns})
    parquet.write_table(table, path)


_WRITERS: Mapping[str, Callable[[Path, list[str], list[dict[str, Any]]], None]] = {
    ".csv": write_csv,
    ".parquet": _write_parquet,
}


def export_results(cards: Cards, path: str | Path, level: Level = "item") -> int:
    """Write scorecards as a table to ``path``: ``.csv`` or ``.parquet``; the rows written.

    CSV is UTF-8 with a byte-order mark (so Excel shows Chinese correctly), a missing value
    an empty cell, and every text cell that a spreadsheet would run as a formula (starting
    with ``=``, ``+``, ``-``, ``@``, tab or CR) prefixed with ``'``; numbers stay numbers.
    Parquet needs pyarrow (``pip install "llm-grader[parquet]"``).
    """
    target = Path(path)
    writer = _WRITERS.get(target.suffix.lower())
    if writer is None:
        raise LLMGraderError(f"cannot write {target.name!r}: use a .csv or .parquet file name")
    columns, rows = _rows(_cards(cards), _level(level))
    target.parent.mkdir(parents=True, exist_ok=True)
    writer(target, columns, rows)
    return len(rows)
