"""Excel workbooks (``.xlsx``): one turn per row, the columns of a CSV file.

The first sheet is read unless one is named. The header is the first row that is not blank;
headers are read as in CSV files and tables (``会话ID, 角色, 内容, 开始时间``... are aliases, any
other column is kept as metadata, see :mod:`.columns`). Cells keep their types: a datetime
cell is a wall-clock time, a time or duration cell (``00:01:05``) seconds from the start, a
whole number an id. Every problem names the file, the sheet, the row and the column, as
``export.xlsx: sheet '会话' row 5, column C (角色): unknown speaker '老板'``.

Reading needs openpyxl (``pip install 'llm-grader[xlsx]'``); it is imported only here.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from ..errors import ConversationError, Problem
from ._columns import column_name
from ._frames import per_turn_items
from ._limits import LIMITS
from ._turns import Conversation

_MISSING = "reading .xlsx workbooks needs openpyxl: pip install 'llm-grader[xlsx]' (or save the sheet as CSV)"


@dataclass(frozen=True, kw_only=True)
class SheetProblem(Problem):
    """A problem in a workbook, located by sheet, row (``line``, as Excel numbers it) and column."""

    sheet: str
    column: str = ""
    """The column's letter and header, as ``C (角色)``; empty for the row or the sheet."""

    def __str__(self) -> str:
        where = [f"sheet {self.sheet!r}"]
        if self.line is not None:
            where.append(f"row {self.line}")
        place = " ".join(where) + (f", column {self.column}" if self.column else "")
        field = f" {self.field}:" if self.field and not self.column else ""
        tag = "warning: " if self.severity == "warning" else ""
        return f"{self.file}: {place}:{field} {tag}{self.message}"


def _letter(index: int) -> str:
    """The Excel letter of a 0-based column index (0 → A, 26 → AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _cell(value: Any) -> Any:
    """A cell as a table cell: datetimes as ISO text, times and durations as seconds."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, time):
        return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


_FIELD = re.compile(r"^(?:turns\[\d+\]\.)?(?P<name>[^.\[]+)")


def _located(item: ConversationError, sheet: str, columns: dict[str, str]) -> ConversationError:
    """The error with each problem placed in the sheet, and in its column where one is named."""
    problems: list[Problem] = []
    for p in item.problems:
        match = _FIELD.match(p.field)
        column = columns.get(match["name"], "") if match else ""
        problems.append(
            SheetProblem(
                file=p.file,
                line=p.line,
                field=p.field,
                message=p.message,
                severity=p.severity,
                sheet=sheet,
                column=column,
            )
        )
    return ConversationError(problems, conversation_id=item.conversation_id)


def _workbook(path: Path) -> Any:
    """The workbook at ``path``, or the ConversationError that says why it cannot be opened."""
    try:
        import openpyxl
    except ImportError:
        raise ConversationError.at(str(path), None, "", _MISSING) from None
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        message = f"cannot be read as an .xlsx workbook ({type(exc).__name__}: {exc})"
        raise ConversationError.at(str(path), None, "", message) from None


def _sheet_rows(path: Path, sheet: str | None) -> tuple[str, list[tuple[int, tuple[Any, ...]]]]:
    """The name of the sheet read and its rows that are not blank, with their Excel numbers."""
    book = _workbook(path)
    try:
        if sheet is not None and sheet not in book.sheetnames:
            names = ", ".join(map(repr, book.sheetnames))
            raise ConversationError.at(str(path), None, "", f"has no sheet {sheet!r}; its sheets: {names}")
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
        rows: list[tuple[int, tuple[Any, ...]]] = []
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            if any(v is not None and v != "" for v in values):
                rows.append((number, tuple(values)))
            if len(rows) > LIMITS.max_turns * 100:
                raise ConversationError.at(str(path), number, "", "the sheet has too many rows to read")
        return str(worksheet.title), rows
    finally:
        book.close()


def read_xlsx(path: str | Path, *, sheet: str | None = None) -> Iterator[Conversation | ConversationError]:
    """Each conversation of a workbook's sheet (the first unless ``sheet`` names one), or its error.

    The sheet holds one turn per row with the columns of a CSV file; see the module's
    documentation. A workbook that cannot be read, or openpyxl missing, is one error.
    """
    path = Path(path)
    try:
        name, rows = _sheet_rows(path, sheet)
    except ConversationError as exc:
        yield exc
        return
    if not rows:
        yield ConversationError(
            [SheetProblem(file=str(path), line=None, field="", message="is empty", sheet=name)]
        )
        return
    header_line, header_cells = rows[0]
    headers = ["" if h is None else str(h).strip() for h in header_cells]
    columns = {
        column_name(h).name.removeprefix("metadata."): f"{_letter(i)} ({h})"
        for i, h in enumerate(headers)
        if column_name(h).name
    }
    records = [
        {h: _cell(values[i]) if i < len(values) else None for i, h in enumerate(headers)}
        for _, values in rows[1:]
    ]
    numbers = [number for number, _ in rows[1:]]
    for item, _ in per_turn_items(records, str(path), numbers, headers=headers):
        if isinstance(item, ConversationError):
            item = _located(item, name, columns)
            if all(p.line is None for p in item.problems):  # a header problem: the header's row
                problems: list[Problem] = [replace(p, line=header_line) for p in item.problems]
                item = ConversationError(problems, conversation_id=item.conversation_id)
        yield item
