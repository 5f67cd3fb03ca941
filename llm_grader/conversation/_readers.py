r"""The conversation readers: JSONL, CSV and plain text, one file or a directory.

``.jsonl`` holds one conversation per line, ``.csv`` one turn per row and any other file is
plain text with one turn per line. Each reader turns its input into records and builds them
with :func:`~.build.conversation_from_record`, so every error names the file and line.

Lines are counted, and JSONL and plain text split, at ``\n`` only (``\r\n`` too): other line
breaks (U+2028, a lone ``\r``...) are text inside a line. Whatever the bytes, every problem,
including a record past one of :data:`~.limits.LIMITS`, is a :class:`~llm_grader.errors.ConversationError`
for that conversation or file alone; the other conversations load. A JSONL file is read a line
at a time (its encoding checked first, a chunk at a time), so memory stays flat however long it is.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConversationError, NotFoundError, Problem
from ._build import conversation_from_record, problems_capped, resolve_speaker
from ._columns import column_name
from ._frames import per_turn_items
from ._limits import LIMITS, parse_json
from ._text import checked_encoding, read_text, split_lines, stream_lines
from ._turns import Channel, Conversation, Speaker
from ._xlsx import read_xlsx


def _too_big(file: str, line: int | None, what: str, size: int) -> ConversationError:
    return ConversationError.at(
        file, line, "", f"{what} is {size:,} characters long; the limit is {LIMITS.max_record_chars:,}"
    )


# --------------------------------------------------------------------------- JSONL, streamed


def _iter_jsonl(path: Path, encoding: str) -> Iterator[Conversation | ConversationError]:
    file = str(path)
    for number, raw in stream_lines(path, encoding):
        if isinstance(raw, str) and not raw.strip():
            continue
        if isinstance(raw, int) or len(raw) > LIMITS.max_record_chars:
            yield _too_big(file, number, "the line", raw if isinstance(raw, int) else len(raw))
            continue
        try:
            data = parse_json(raw)
        except ValueError as exc:
            bare_cr = "\r" in raw and str(exc).startswith("invalid JSON: Extra data")
            hint = "; lines must end with \\n or \\r\\n, not \\r alone" if bare_cr else ""
            yield ConversationError.at(file, number, "", f"{exc}{hint}")
            continue
        if not isinstance(data, dict):
            yield ConversationError.at(
                file, number, "", f"expected a JSON object per line, got {type(data).__name__}"
            )
            continue
        try:
            yield conversation_from_record(data, file=file, line=number)
        except ConversationError as exc:
            yield exc


def _stream_jsonl(path: Path, encoding: str | None) -> Iterator[Conversation | ConversationError]:
    """The conversations of a JSONL file, read a line at a time; a file that cannot be read, refused."""
    try:
        checked = checked_encoding(path, encoding)
        yield from _iter_jsonl(path, checked)
    except ConversationError as exc:
        yield exc
    except OSError as exc:
        yield ConversationError.at(str(path), None, "", f"cannot be read: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:  # the file changed after it was checked
        yield ConversationError.at(str(path), None, "", f"cannot decode as {encoding or 'utf-8'}: {exc}")


# --------------------------------------------------------------------------- CSV

_CSV_COLUMNS = ("conversation_id", "speaker", "text")

_Record = tuple[int, "list[str] | str"]
"""``(first line, fields)`` of a CSV record, or ``(first line, message)`` when it cannot be read."""


def _csv_records(text: str) -> list[_Record]:
    """Every record of the CSV text, parsed with the field size limit at ``LIMITS.max_record_chars``.

    ``csv``'s limit is process-wide, so it is set only while parsing and then put back.
    """
    reader = csv.reader(io.StringIO(text, newline="\n"))
    records: list[_Record] = []
    previous = csv.field_size_limit(LIMITS.max_record_chars)
    try:
        while True:
            first = reader.line_num + 1
            try:
                records.append((first, next(reader)))
            except StopIteration:
                return records
            except csv.Error as exc:
                records.append((first, _csv_message(exc)))
    finally:
        csv.field_size_limit(previous)


def _csv_message(exc: csv.Error) -> str:
    message = str(exc)
    if "field larger" in message:
        return f"a field is over {LIMITS.max_record_chars:,} characters long (the limit)"
    if "new-line character" in message:
        return "a carriage return (\\r) in an unquoted field; quote the field or end lines with \\n or \\r\\n"
    return f"cannot read the CSV record: {message}"


def _csv_id(line: str, column: int) -> str | None:
    """The conversation id in the first line of a record that cannot be read, if it shows."""
    cut = line[: 4 * LIMITS.max_id_chars]
    try:
        fields = next(csv.reader([cut.split("\r")[0]]))
    except (csv.Error, StopIteration):
        return None
    complete = len(fields) if cut == line else len(fields) - 1
    return fields[column].strip() or None if column < complete else None


def _csv_header(file: str, records: list[_Record]) -> tuple[list[str] | ConversationError, int]:
    """The header (the first record that is not blank) and the number of records up to it."""
    used = next((i + 1 for i, (_, fields) in enumerate(records) if fields), len(records))
    line, fields = records[used - 1] if records else (1, [])
    if isinstance(fields, str):
        return ConversationError.at(file, line, "", f"the header: {fields}"), used
    header = [h.strip() for h in fields]
    names = {column_name(h).name for h in header}
    missing = [c for c in _CSV_COLUMNS if c not in names]
    if missing:
        return ConversationError.at(
            file,
            line,
            "",
            (
                f"CSV header lacks {', '.join(map(repr, missing))}; expected "
                "conversation_id,speaker,text[,start,end][,channel]"
            ),
        ), used
    return header, used


def _csv_cell(value: str | None, header: str) -> str | None:
    """A CSV cell as a table cell: an empty one is missing, but for the text (an empty turn)."""
    if column_name(header).name == "text":
        return value or ""
    return value.strip() or None if value is not None else None


def as_lines(item: Conversation | ConversationError) -> Conversation | ConversationError:
    """A conversation of :func:`~.tables.per_turn_items`, its problems located by line again."""
    if isinstance(item, Conversation):
        return item
    problems = [
        Problem(file=p.file, line=p.line, field=p.field, message=p.message, severity=p.severity)
        for p in item.problems
    ]
    return ConversationError(problems, conversation_id=item.conversation_id)


def _iter_csv(path: Path, text: str) -> Iterator[Conversation | ConversationError]:
    file = str(path)
    records = _csv_records(text)
    header, used = _csv_header(file, records)
    if isinstance(header, ConversationError):
        yield header
        return
    id_column = next(i for i, h in enumerate(header) if column_name(h).name == "conversation_id")
    unreadable: dict[str, list[Problem]] = {}
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    lines = text.split("\n")
    for line, fields in records[used:]:
        if isinstance(fields, str):
            conv_id = _csv_id(lines[line - 1], id_column)
            problem = Problem(file=file, line=line, field="", message=fields)
            if conv_id is None:
                yield ConversationError([problem])
            else:
                unreadable.setdefault(conv_id, []).append(problem)
            continue
        if fields:
            rows.append(
                {h: _csv_cell(fields[i] if i < len(fields) else None, h) for i, h in enumerate(header)}
            )
            numbers.append(line)
    ids: set[str] = set()
    for item, _ in per_turn_items(rows, file, numbers, headers=header):
        conv_id = item.id if isinstance(item, Conversation) else item.conversation_id
        if conv_id in unreadable:
            ids.add(conv_id)
            yield ConversationError(problems_capped(unreadable[conv_id]), conversation_id=conv_id)
        else:
            yield as_lines(item)
    for conv_id in unreadable.keys() - ids:  # every readable row of theirs had no turn
        yield ConversationError(problems_capped(unreadable[conv_id]), conversation_id=conv_id)


# --------------------------------------------------------------------------- plain text

_TEXT_LINE = re.compile(
    r"^\s*(?:\[(?P<bracket>[^\]]+)\]\s*|(?P<stamp>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"
    r"(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+)?(?P<speaker>[^:：\s][^:：]{0,15}?)\s*[:：]\s*(?P<text>.*)$"
)


def _guess_channel(turns: list[dict[str, Any]]) -> Channel:
    """``call`` when the turns carry clock offsets, ``chat`` when datetimes or no times."""
    stamps = [t["start"] for t in turns if t["start"]]
    return "chat" if any("-" in s for s in stamps) or not stamps else "call"


def _unknown_speaker(file: str, number: int, raw: str) -> Problem:
    return Problem(
        file=file,
        line=number,
        field="speaker",
        message=(
            f"line does not start with a known speaker: {raw.strip()[:40]!r}; "
            "write e.g. '客服：您好' or '[00:01:05] 客户：…'"
        ),
    )


def _text_turns(file: str, text: str) -> tuple[list[dict[str, Any]], list[int], list[Problem]]:
    """The turns of a plain-text conversation (text as lists of lines), their lines, and problems."""
    turns: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: list[Problem] = []
    for number, raw in enumerate(split_lines(text), start=1):
        if not raw.strip():
            continue
        match = _TEXT_LINE.match(raw)
        speaker: Speaker | None = None
        if match:
            try:
                speaker = resolve_speaker(match["speaker"])
            except ValueError:
                speaker = None
        if match is None or speaker is None:
            # A wrapped line continues the turn; a short "name：" prefix is a speaker we do
            # not know, and is reported rather than merged into the previous turn.
            looks_like_speaker = match is not None and len(match["speaker"].strip()) <= 6
            if turns and not looks_like_speaker:
                turns[-1]["text"].append(raw.strip())
            else:
                problems.append(_unknown_speaker(file, number, raw))
            continue
        turns.append(
            {"speaker": speaker, "text": [match["text"].strip()], "start": match["bracket"] or match["stamp"]}
        )
        lines.append(number)
    return [{**turn, "text": "\n".join(turn["text"])} for turn in turns], lines, problems


def _iter_text(path: Path, text: str, channel: Channel | None) -> Iterator[Conversation | ConversationError]:
    file = str(path)
    if len(text) > LIMITS.max_record_chars:
        yield _too_big(file, None, "the file", len(text))
        return
    turns, lines, problems = _text_turns(file, text)
    if problems:
        yield ConversationError(problems_capped(problems), conversation_id=path.stem)
        return
    if not turns:
        yield ConversationError([Problem(file=file, line=None, field="turns", message="no turns found")])
        return
    data: dict[str, Any] = {"id": path.stem, "turns": turns, "channel": channel or _guess_channel(turns)}
    try:
        yield conversation_from_record(data, file=file, turn_lines=lines, line=lines[0])
    except ConversationError as exc:
        yield exc


_SUFFIXES = (".jsonl", ".csv", ".txt", ".xlsx")


def _files(source: Path) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix.lower() in _SUFFIXES and p.is_file())
    if not source.exists():
        raise not_found(source)
    return [source]


def not_found(source: str | Path) -> NotFoundError:
    """The error for a conversation file or folder that does not exist."""
    return NotFoundError(f"conversation file {str(source)!r} does not exist", name=str(source))


def iter_conversations(
    source: str | Path,
    *,
    encoding: str | None = None,
    channel: Channel | None = None,
    sheet: str | None = None,
) -> Iterator[Conversation | ConversationError]:
    """Yield each conversation in a file or directory, or the error that stopped it.

    ``.jsonl`` holds one conversation per line, ``.csv`` and ``.xlsx`` one turn per row (of
    the first sheet, or of ``sheet``), and any other file is plain text with one turn per
    line (the file name is the id). ``channel`` sets the channel of plain-text conversations
    (default: ``call`` when turns carry clock offsets).
    """
    try:
        paths = _files(Path(source))
    except OSError as exc:
        yield ConversationError.at(str(source), None, "", f"cannot be listed: {exc.strerror or exc}")
        return
    for path in paths:
        suffix = path.suffix.lower()
        if suffix == ".jsonl":  # one conversation per line: read as it goes, never held whole
            yield from _stream_jsonl(path, encoding)
            continue
        if suffix == ".xlsx":
            yield from read_xlsx(path, sheet=sheet)
            continue
        if suffix == ".xls":
            message = "is an Excel 97-2003 workbook (.xls); save it as .xlsx or CSV"
            yield ConversationError.at(str(path), None, "", message)
            continue
        try:
            text = read_text(path, encoding)
        except ConversationError as exc:
            yield exc
            continue
        if suffix == ".csv":
            yield from _iter_csv(path, text)
        else:
            yield from _iter_text(path, text, channel)
