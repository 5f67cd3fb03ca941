"""CSV for spreadsheets: cells that stay data, written with a byte-order mark for Excel.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one) as a formula, and every text llm-grader writes may come from an untrusted
transcript, model answer or file (OWASP "CSV injection"). :func:`neutralise` prefixes such a
cell with ``'``, which makes it text; a numeric value we wrote (``-5.0`` points) is left a
number. :func:`restore` undoes it, so ids and names read back from our own sheets are the
ones written — a value that itself starts with quotes before a formula character gets one
more quote, so the round trip is exact. :func:`write_csv` and :func:`csv_text` apply it to
every cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import InputError
from .types import Evidence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP's list)."""


def _quoted(text: str) -> bool:
    """Whether ``text``, after any leading quotes, starts a formula."""
    return text.lstrip("'")[:1] in FORMULA_STARTS


def neutralise(text: str) -> str:
    """``text`` as a cell a spreadsheet shows as text, never runs: ``'`` before a formula start."""
    return "'" + text if _quoted(text) else text


def restore(text: str) -> str:
    """The text :func:`neutralise` was given (any other text unchanged)."""
    return text[1:] if text.startswith("'") and _quoted(text) else text


def _cell(value: Any) -> Any:
    """A value as a CSV cell: None empty, a number as it is, anything else neutralised text."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return neutralise(str(value))


def _rows(columns: list[str], rows: Iterable[Mapping[str, Any]]) -> Iterable[list[Any]]:
    return ([_cell(row.get(column)) for column in columns] for row in rows)


def csv_text(columns: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as CSV text with a header, every cell neutralised (CRLF line ends, as spreadsheets write)."""
    names = list(columns)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(name) for name in names])
    writer.writerows(_rows(names, rows))
    return buffer.getvalue()


def write_csv(path: str | Path, columns: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Write :func:`csv_text` to ``path`` as UTF-8 with a byte-order mark (Excel then reads Chinese).

    pandas and Python's ``utf-8-sig`` read it as plain UTF-8. Missing folders are made.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(csv_text(columns, rows), encoding="utf-8-sig", newline="")


def evidence_cell(evidence: Iterable[Evidence]) -> str:
    """Quotes as one cell: ``turn 3: 您好 / turn 5: 好的``."""
    return " / ".join(f"turn {e.turn}: {e.quote}" for e in evidence)


def read_csv(text: str, file: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The header (restored) and the rows of CSV ``text``, each with the line it ends on.

    Cells are as written: pass each through :func:`restore` after any stripping (so that a
    cell of a quote, a tab and ``=x`` gives the tab and ``=x``). A row longer than the header
    keeps the rest under the key None, as :class:`csv.DictReader` does. Text that is not CSV
    (a field past the size limit) is an :class:`~llm_grader.errors.InputError` at its line.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        header = [restore(name) for name in reader.fieldnames or []]
        reader.fieldnames = header
        rows.extend((reader.line_num, row) for row in reader)
    except csv.Error as exc:
        raise InputError.at(file, reader.line_num + 1, "", f"not valid CSV: {exc}") from None
    return header, rows
