"""Conversations: the data model and the JSONL, CSV and plain-text readers.

A conversation is a list of turns by ``agent``, ``customer`` or ``system``. Times are
optional; when given they are normalised to seconds from the start of the conversation,
whether the file had seconds, ``mm:ss``, ``hh:mm:ss`` or ISO-8601 datetimes (chat logs),
and the first datetime is kept as ``started_at``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from .errors import ConversationError, NotFoundError, Problem

__all__ = [
    "SPEAKER_ALIASES",
    "Conversation",
    "Conversations",
    "Turn",
    "load_conversations",
    "mask_personal_data",
    "parse_time",
]

Speaker = Literal["agent", "customer", "system"]
Channel = Literal["chat", "call"]

_ALIASES: dict[Speaker, tuple[str, ...]] = {
    "agent": (
        "agent",
        "staff",
        "客服",
        "坐席",
        "客服代表",
        "工作人员",
        "客服员",
        "服务代表",
        "operator",
        "representative",
        "rep",
        "assistant",
    ),
    "customer": ("customer", "user", "client", "caller", "客户", "用户", "顾客", "来电人", "业主"),
    "system": ("system", "系统", "bot_system"),
}

SPEAKER_ALIASES: dict[str, Speaker] = {
    alias.lower(): speaker for speaker, aliases in _ALIASES.items() for alias in aliases
}
"""Lower-cased speaker names accepted in files, mapped to the three speakers."""


class Turn(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speaker: Speaker
    """Who spoke: ``agent``, ``customer`` or ``system``."""
    text: str = Field(min_length=1)
    """What was said or typed, exactly as in the source."""
    start: float | None = None
    """Seconds from the start of the conversation, when known."""
    end: float | None = None
    """Seconds from the start of the conversation when the turn ended (calls), when known."""


class Conversation(BaseModel):
    """A call transcript or chat log to grade."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    """Unique id of the conversation within a batch."""
    channel: Channel = "chat"
    """``chat`` or ``call``."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form data carried through to the scorecard's source (business line, agent id...)."""
    notes: str | None = None
    """The agent's written record (work order / notes) attached to the conversation, if any."""
    started_at: datetime | None = None
    """Wall-clock time of ``start == 0`` when the source had datetimes."""
    turns: list[Turn] = Field(min_length=1)
    """The turns in order."""

    _source: tuple[str, int] | None = PrivateAttr(default=None)

    @property
    def has_timestamps(self) -> bool:
        """Whether every turn has a start time."""
        return all(t.start is not None for t in self.turns)

    @property
    def has_end_times(self) -> bool:
        """Whether every turn has both a start and an end time (needed for overlaps, rates)."""
        return all(t.start is not None and t.end is not None for t in self.turns)

    @property
    def has_notes(self) -> bool:
        """Whether an agent record is attached."""
        return bool(self.notes and self.notes.strip())


class Conversations(list[Conversation]):
    """The conversations that loaded, plus ``errors`` for those that did not."""

    def __init__(self, items: Iterable[Conversation] = (), errors: Iterable[ConversationError] = ()):
        super().__init__(items)
        self.errors: list[ConversationError] = list(errors)


# --------------------------------------------------------------------------- times

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def parse_time(value: object) -> float | datetime:
    """Parse seconds, ``mm:ss``, ``hh:mm:ss`` (optionally with fractions) or an ISO datetime.

    Returns seconds as a float, or a ``datetime`` for wall-clock times. Raises ``ValueError``
    with a message naming the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"time {value!r} is a boolean")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"time {value!r} is not a finite number")
        if value < 0:
            raise ValueError(f"time {value!r} is negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return parse_time(number)
        match = _CLOCK.match(text)
        if match:
            hours, minutes, seconds = match.groups()
            return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise ValueError(f"time {value!r} is not seconds, mm:ss, hh:mm:ss or an ISO-8601 datetime")


def _normalise_times(
    raw: list[tuple[object, object]],
) -> tuple[list[tuple[float | None, float | None]], datetime | None, list[tuple[int, str, str]]]:
    """Turn raw (start, end) pairs into seconds; return them, started_at, and problems.

    Problems are ``(turn_index, "start"|"end", message)``.
    """
    problems: list[tuple[int, str, str]] = []
    parsed: list[list[float | datetime | None]] = []
    for i, pair in enumerate(raw):
        row: list[float | datetime | None] = []
        for name, value in zip(("start", "end"), pair, strict=True):
            if value is None or value == "":
                row.append(None)
                continue
            try:
                row.append(parse_time(value))
            except ValueError as exc:
                problems.append((i, name, str(exc)))
                row.append(None)
        parsed.append(row)
    datetimes = [v for row in parsed for v in row if isinstance(v, datetime)]
    seconds = [v for row in parsed for v in row if isinstance(v, float)]
    started_at: datetime | None = None
    if datetimes and seconds:
        problems.append((0, "start", "mixes datetimes and second offsets; use one kind"))
        return [(None, None)] * len(raw), None, problems
    if datetimes:
        aware = {d.tzinfo is not None for d in datetimes}
        if len(aware) > 1:
            problems.append((0, "start", "mixes datetimes with and without a time zone"))
            return [(None, None)] * len(raw), None, problems
        started_at = min(datetimes)
    out: list[tuple[float | None, float | None]] = []
    for row in parsed:
        seconds_row = [
            (v - started_at).total_seconds() if isinstance(v, datetime) and started_at else v for v in row
        ]
        out.append((_as_float(seconds_row[0]), _as_float(seconds_row[1])))
    for i, (start, end) in enumerate(out):
        if start is not None and end is not None and end < start:
            problems.append((i, "end", f"end {end:g}s is before start {start:g}s"))
    return out, started_at, problems


def _as_float(value: float | datetime | None) -> float | None:
    return value if isinstance(value, float) else None


def _speaker(value: object) -> Speaker:
    if isinstance(value, str) and value.strip().lower() in SPEAKER_ALIASES:
        return SPEAKER_ALIASES[value.strip().lower()]
    raise ValueError(
        f"unknown speaker {value!r}; use agent/customer/system or an alias such as "
        "客服, 坐席, 客服代表, 工作人员, staff, 客户, 用户, 顾客, user"
    )


# --------------------------------------------------------------------------- building


def _build(
    data: dict[str, Any],
    *,
    file: str,
    turn_lines: list[int],
    line: int,
) -> Conversation:
    """Validate one conversation given as a dict; raise ConversationError with every problem."""
    problems: list[Problem] = []
    conv_id = data.get("id")
    turns = data.get("turns")

    def add(field: str, message: str, at: int | None = None) -> None:
        problems.append(Problem(file=file, line=at or line, field=field, message=message))

    if isinstance(turns, list):
        raw_times: list[tuple[object, object]] = []
        fixed_turns: list[Any] = []
        for i, turn in enumerate(turns):
            at = turn_lines[i] if i < len(turn_lines) else line
            if not isinstance(turn, dict):
                add(f"turns[{i}]", f"must be an object with speaker and text, not {turn!r}", at)
                fixed_turns.append(turn)
                raw_times.append((None, None))
                continue
            turn = dict(turn)
            if "speaker" in turn:
                try:
                    turn["speaker"] = _speaker(turn["speaker"])
                except ValueError as exc:
                    add(f"turns[{i}].speaker", str(exc), at)
            raw_times.append((turn.pop("start", None), turn.pop("end", None)))
            fixed_turns.append(turn)
        times, started_at, time_problems = _normalise_times(raw_times)
        for i, name, message in time_problems:
            at = turn_lines[i] if i < len(turn_lines) else line
            add(f"turns[{i}].{name}", message, at)
        for turn, (start, end) in zip(fixed_turns, times, strict=True):
            if isinstance(turn, dict):
                turn["start"], turn["end"] = start, end
        data = {**data, "turns": fixed_turns}
        if started_at is not None and "started_at" not in data:
            data["started_at"] = started_at
    try:
        conversation = Conversation.model_validate(data)
        conversation._source = (file, line)
    except ValidationError as exc:
        for err in exc.errors():
            loc = err["loc"]
            field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
            at = line
            if len(loc) >= 2 and loc[0] == "turns" and isinstance(loc[1], int):
                at = turn_lines[loc[1]] if loc[1] < len(turn_lines) else line
            message = err["msg"]
            if err["type"] == "missing":
                message = "is required"
            elif err["type"] == "extra_forbidden":
                message = "is not a known field"
            elif err["type"] == "literal_error":
                message = f"{message} (got {err.get('input')!r})"
            if not any(p.field == field for p in problems):
                add(field, message, at)
    else:
        if not problems:
            return conversation
    problems.sort(key=lambda p: p.line or 0)
    raise ConversationError(problems, conversation_id=conv_id if isinstance(conv_id, str) else None)


# --------------------------------------------------------------------------- readers


def _read_text(path: Path, encoding: str | None) -> str:
    data = path.read_bytes()
    if encoding:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ConversationError(
                [Problem(file=str(path), line=None, field="", message=f"cannot decode as {encoding}: {exc}")]
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        try:
            data.decode("gb18030")
            hint = (
                "it looks like GBK/GB18030; convert it (iconv -f GB18030 -t UTF-8) or pass --encoding gb18030"
            )
        except UnicodeDecodeError:
            hint = "pass --encoding with the file's encoding"
        raise ConversationError.at(
            str(path), line, "", f"is not UTF-8 (byte 0x{data[exc.start]:02x}); {hint}"
        ) from None


def _iter_jsonl(path: Path, text: str) -> Iterator[Conversation | ConversationError]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield ConversationError.at(str(path), number, "", f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield ConversationError.at(
                str(path), number, "", f"expected a JSON object per line, got {type(data).__name__}"
            )
            continue
        turns = data.get("turns")
        lines = [number] * (len(turns) if isinstance(turns, list) else 0)
        try:
            yield _build(data, file=str(path), turn_lines=lines, line=number)
        except ConversationError as exc:
            yield exc


_CSV_COLUMNS = ("conversation_id", "speaker", "text")


def _iter_csv(path: Path, text: str) -> Iterator[Conversation | ConversationError]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in _CSV_COLUMNS if c not in header]
    if missing:
        yield ConversationError.at(
            str(path),
            1,
            "",
            (
                f"CSV header lacks {', '.join(map(repr, missing))}; expected "
                "conversation_id,speaker,text[,start,end][,channel]"
            ),
        )
        return
    reader.fieldnames = header
    groups: dict[str, dict[str, Any]] = {}
    for row in reader:
        line = reader.line_num
        conv_id = (row.get("conversation_id") or "").strip()
        if not conv_id:
            yield ConversationError(
                [Problem(file=str(path), line=line, field="conversation_id", message="is empty")]
            )
            continue
        group = groups.setdefault(conv_id, {"id": conv_id, "turns": [], "lines": [], "first": line})
        if row.get("channel"):
            group["channel"] = row["channel"].strip()
        group["turns"].append(
            {
                "speaker": row.get("speaker"),
                "text": row.get("text") or "",
                "start": row.get("start") or None,
                "end": row.get("end") or None,
            }
        )
        group["lines"].append(line)
    for group in groups.values():
        lines, first = group.pop("lines"), group.pop("first")
        try:
            yield _build(group, file=str(path), turn_lines=lines, line=first)
        except ConversationError as exc:
            yield exc


_TEXT_LINE = re.compile(
    r"^\s*(?:\[(?P<bracket>[^\]]+)\]\s*|(?P<stamp>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"
    r"(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+)?(?P<speaker>[^:：\s][^:：]{0,15}?)\s*[:：]\s*(?P<text>.*)$"
)


def _iter_text(path: Path, text: str, channel: Channel | None) -> Iterator[Conversation | ConversationError]:
    turns: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        match = _TEXT_LINE.match(raw)
        speaker: Speaker | None = None
        if match:
            try:
                speaker = _speaker(match["speaker"])
            except ValueError:
                speaker = None
        if match is None or speaker is None:
            # A wrapped line continues the turn; a short "name：" prefix is a speaker we do
            # not know, and is reported rather than merged into the previous turn.
            looks_like_speaker = match is not None and len(match["speaker"].strip()) <= 6
            if turns and not looks_like_speaker:
                turns[-1]["text"] += "\n" + raw.strip()
                continue
            problems.append(
                Problem(
                    file=str(path),
                    line=number,
                    field="speaker",
                    message=(
                        f"line does not start with a known speaker: {raw.strip()[:40]!r}; "
                        "write e.g. '客服：您好' or '[00:01:05] 客户：…'"
                    ),
                )
            )
            continue
        turns.append(
            {"speaker": speaker, "text": match["text"].strip(), "start": match["bracket"] or match["stamp"]}
        )
        lines.append(number)
    if problems:
        yield ConversationError(problems, conversation_id=path.stem)
        return
    if not turns:
        yield ConversationError([Problem(file=str(path), line=None, field="turns", message="no turns found")])
        return
    data: dict[str, Any] = {"id": path.stem, "turns": turns}
    if channel is None:
        stamps = [t["start"] for t in turns if t["start"]]
        channel = "chat" if any("-" in s for s in stamps) or not stamps else "call"
    data["channel"] = channel
    try:
        yield _build(data, file=str(path), turn_lines=lines, line=lines[0])
    except ConversationError as exc:
        yield exc


_SUFFIXES = (".jsonl", ".csv", ".txt")


def _files(source: Path) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix.lower() in _SUFFIXES)
    if not source.exists():
        raise NotFoundError(f"conversation file {str(source)!r} does not exist", name=str(source))
    return [source]


def iter_conversations(
    source: str | Path, *, encoding: str | None = None, channel: Channel | None = None
) -> Iterator[Conversation | ConversationError]:
    """Yield each conversation in a file or directory, or the error that stopped it.

    ``.jsonl`` holds one conversation per line, ``.csv`` one turn per row, and any other file
    is plain text with one turn per line (the file name is the id). ``channel`` sets the
    channel of plain-text conversations (default: ``call`` when turns carry clock offsets).
    """
    for path in _files(Path(source)):
        try:
            text = _read_text(path, encoding)
        except ConversationError as exc:
            yield exc
            continue
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            yield from _iter_jsonl(path, text)
        elif suffix == ".csv":
            yield from _iter_csv(path, text)
        else:
            yield from _iter_text(path, text, channel)


def load_conversations(
    *sources: str | Path,
    encoding: str | None = None,
    channel: Channel | None = None,
    strict: bool = False,
) -> Conversations:
    """Load conversations from files or directories.

    A malformed conversation is skipped and its error kept in ``result.errors``; the rest
    load. With ``strict=True`` the first error is raised instead. Duplicate ids are errors.
    """
    loaded = Conversations()
    seen: dict[str, tuple[str, int] | None] = {}
    for source in sources:
        for item in iter_conversations(source, encoding=encoding, channel=channel):
            if isinstance(item, Conversation) and item.id in seen:
                file, line = item._source or (str(source), None)
                first = seen[item.id]
                where = f" (first at {first[0]}:{first[1]})" if first else ""
                item = ConversationError(
                    [
                        Problem(
                            file=file,
                            line=line,
                            field="id",
                            message=f"duplicate conversation id {item.id!r}{where}",
                        )
                    ],
                    conversation_id=item.id,
                )
            if isinstance(item, ConversationError):
                if strict:
                    raise item
                loaded.errors.append(item)
                continue
            seen[item.id] = item._source
            loaded.append(item)
    return loaded


_PERSONAL = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15}|\d{16,19}|1[3-9]\d{9})(?![0-9A-Za-z])")


def _mask_number(match: re.Match[str]) -> str:
    digits = match.group(0)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_personal_data(conversation: Conversation) -> Conversation:
    """Mask phone, ID-card and bank-card numbers, keeping the last four digits.

    Masking keeps every text's length, so character offsets found in the masked text are
    valid in the original too.
    """
    turns = [
        turn.model_copy(update={"text": _PERSONAL.sub(_mask_number, turn.text)})
        for turn in conversation.turns
    ]
    notes = _PERSONAL.sub(_mask_number, conversation.notes) if conversation.notes else conversation.notes
    return conversation.model_copy(update={"turns": turns, "notes": notes})
