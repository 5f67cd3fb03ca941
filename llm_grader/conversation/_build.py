"""Building a Conversation from one raw record: times, speakers and located problems.

Every reader (JSONL, CSV, plain text) turns its input into records — dicts shaped like a
:class:`~.model.Conversation`, with speaker names that may be aliases (``客服``, ``user``...)
and times that may be seconds, ``mm:ss``, ``hh:mm:ss`` or ISO-8601 datetimes — and hands each
to :func:`conversation_from_record`. It normalises times to seconds from the start (keeping
the first datetime as ``started_at``), resolves speaker aliases, enforces
:data:`~.limits.LIMITS` and reports every problem as ``file:line: field: message``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ..errors import ConversationError, Problem
from ._limits import LIMITS, field_path, shown, structure_problem, too_long
from ._turns import SPEAKER_ALIASES, Conversation, Speaker

# --------------------------------------------------------------------------- times

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")

_Time = float | datetime | None
_TimeProblem = tuple[int, str, str]
"""``(turn_index, "start"|"end", message)``."""


def parse_time(value: object) -> float | datetime:
    """Parse seconds, ``mm:ss``, ``hh:mm:ss`` (optionally with fractions) or an ISO datetime.

    Returns seconds as a float, or a ``datetime`` for wall-clock times. Raises ``ValueError``
    with a message naming the accepted forms, or the limit (``LIMITS.max_time_seconds``,
    ``LIMITS.max_time_chars``) the value is past.
    """
    if isinstance(value, bool):
        raise ValueError(f"time {value!r} is a boolean")
    if isinstance(value, (int, float)):
        return _checked_seconds(value, shown(value))
    if isinstance(value, str):
        text = value.strip()
        if len(text) > LIMITS.max_time_chars:
            raise ValueError(
                f"time {shown(text)} is {len(text):,} characters long; the limit is {LIMITS.max_time_chars}"
            )
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return parse_time(number)
        match = _CLOCK.match(text)
        if match:
            hours, minutes, seconds = match.groups()
            return _checked_seconds(int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), shown(text))
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise ValueError(f"time {shown(value)} is not seconds, mm:ss, hh:mm:ss or an ISO-8601 datetime")


def _checked_seconds(value: float, quoted: str) -> float:
    """``value`` as float seconds, or ``ValueError`` when it is not finite, negative or too big."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"time {quoted} is not a finite number")
    if value < 0:
        raise ValueError(f"time {quoted} is negative")
    if value > LIMITS.max_time_seconds:
        raise ValueError(
            f"time {quoted} is over {LIMITS.max_time_seconds:,.0f} seconds (about 31 years, the limit); "
            "give seconds from the start of the conversation or an ISO-8601 datetime"
        )
    return float(value)


def _parse_times(raw: list[tuple[object, object]]) -> tuple[list[list[_Time]], list[_TimeProblem]]:
    """Parse every (start, end) pair; an empty or unparsable time becomes None."""
    problems: list[_TimeProblem] = []
    parsed: list[list[_Time]] = []
    for i, pair in enumerate(raw):
        row: list[_Time] = []
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
    return parsed, problems


def _started_at(parsed: list[list[_Time]]) -> tuple[datetime | None, str | None]:
    """The earliest datetime, or a message when the times mix kinds that cannot be compared."""
    datetimes = [v for row in parsed for v in row if isinstance(v, datetime)]
    seconds = [v for row in parsed for v in row if isinstance(v, float)]
    if datetimes and seconds:
        return None, "mixes datetimes and second offsets; use one kind"
    if not datetimes:
        return None, None
    if len({d.tzinfo is not None for d in datetimes}) > 1:
        return None, "mixes datetimes with and without a time zone"
    return min(datetimes), None


def _seconds(value: _Time, started_at: datetime | None) -> float | None:
    """A parsed time as seconds from ``started_at``."""
    if isinstance(value, datetime) and started_at is not None:
        return (value - started_at).total_seconds()
    return value if isinstance(value, float) else None


def _normalise_times(
    raw: list[tuple[object, object]],
) -> tuple[list[tuple[float | None, float | None]], datetime | None, list[_TimeProblem]]:
    """Turn raw (start, end) pairs into seconds; return them, started_at, and problems."""
    parsed, problems = _parse_times(raw)
    started_at, mixed = _started_at(parsed)
    if mixed is not None:
        return [(None, None)] * len(raw), None, [*problems, (0, "start", mixed)]
    out = [(_seconds(start, started_at), _seconds(end, started_at)) for start, end in parsed]
    return out, started_at, problems + _offset_problems(out)


def _offset_problems(times: list[tuple[float | None, float | None]]) -> list[_TimeProblem]:
    """Ends before their starts, and datetimes too far after the earliest one."""
    problems: list[_TimeProblem] = []
    limit = LIMITS.max_time_seconds
    for i, (start, end) in enumerate(times):
        for name, value in (("start", start), ("end", end)):
            if value is not None and value > limit:
                problems.append(
                    (i, name, f"is {value:,.0f} seconds after the earliest time; the limit is {limit:,.0f}")
                )
        if start is not None and end is not None and end < start:
            problems.append((i, "end", f"end {end:g}s is before start {start:g}s"))
    return problems


# --------------------------------------------------------------------------- speakers


def resolve_speaker(value: object) -> Speaker:
    """The speaker a name in a file stands for (``客服`` → ``agent``), case-insensitively.

    Raises ``ValueError`` naming the accepted speakers and some aliases.
    """
    if isinstance(value, str) and value.strip().lower() in SPEAKER_ALIASES:
        return SPEAKER_ALIASES[value.strip().lower()]
    raise ValueError(
        f"unknown speaker {shown(value)}; use agent/customer/system or an alias such as "
        "客服, 坐席, 客服代表, 工作人员, staff, 客户, 用户, 顾客, user"
    )


# --------------------------------------------------------------------------- limits

_TurnProblem = tuple[int | None, str, str]
"""``(turn_index or None for the record, field, message)``."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_PROBLEMS = 20
"""Problems listed per conversation; the rest are counted."""


def _fatal_problem(record: Mapping[str, Any]) -> _TurnProblem | None:
    """A problem that stops the record being looked at further: too deep, not text, too many turns."""
    turns = record.get("turns")
    if isinstance(turns, list) and len(turns) > LIMITS.max_turns:
        return None, "turns", f"has {len(turns):,} turns; the limit is {LIMITS.max_turns:,}"
    return structure_problem(record)


def _record_problems(record: Mapping[str, Any]) -> list[_TurnProblem]:
    """The id and the notes past their limits."""
    problems: list[_TurnProblem] = []
    conv_id, notes = record.get("id"), record.get("notes")
    if isinstance(conv_id, str) and len(conv_id) > LIMITS.max_id_chars:
        problems.append((None, "id", too_long(len(conv_id), LIMITS.max_id_chars)))
    elif isinstance(conv_id, str) and _CONTROL.search(conv_id):
        problems.append((None, "id", f"{shown(conv_id)} holds a line break or control character"))
    if isinstance(notes, str) and len(notes) > LIMITS.max_text_chars:
        problems.append((None, "notes", too_long(len(notes), LIMITS.max_text_chars)))
    return problems


def _conversation_id(record: Mapping[str, Any]) -> str | None:
    """The record's id when it is one a message can name."""
    conv_id = record.get("id")
    ok = isinstance(conv_id, str) and len(conv_id) <= LIMITS.max_id_chars and not _CONTROL.search(conv_id)
    return conv_id if ok else None


def problems_capped(problems: list[Problem]) -> list[Problem]:
    """The problems by line, the first :data:`_MAX_PROBLEMS` of them and a count of the rest."""
    ordered = sorted(problems, key=lambda p: p.line or 0)
    if len(ordered) <= _MAX_PROBLEMS:
        return ordered
    rest = len(ordered) - _MAX_PROBLEMS
    first = ordered[0]
    more = Problem(file=first.file, line=first.line, field="", message=f"and {rest:,} more problems")
    return [*ordered[:_MAX_PROBLEMS], more]


# --------------------------------------------------------------------------- OpenAI-style messages


def _content_text(content: object) -> object:
    """An OpenAI message's ``content``: text, or the text parts of a list of parts joined."""
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "\n".join(str(p.get("text", "")) for p in content)
    return content


def openai_turn(turn: Mapping[str, Any]) -> dict[str, Any]:
    """A turn written as an OpenAI chat message (``role``/``content``) in the turn's own fields.

    ``role`` becomes ``speaker`` (``user`` is the customer, ``assistant`` the agent, ``system``
    the system) and ``content`` becomes ``text`` (a list of text parts joined with line
    breaks); each only when the turn does not give the field itself. Other turns are copied.
    """
    copy = dict(turn)
    if "role" in copy and "speaker" not in copy:
        copy["speaker"] = copy.pop("role")
    if "content" in copy and "text" not in copy:
        copy["text"] = _content_text(copy.pop("content"))
    return copy


def _openai_record(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record with an OpenAI-style ``messages`` list read as its ``turns``."""
    if "messages" in record and "turns" not in record:
        return {("turns" if k == "messages" else k): v for k, v in record.items()}
    return record


# --------------------------------------------------------------------------- building


def _prepare_turns(turns: list[Any]) -> tuple[list[Any], list[tuple[object, object]], list[_TurnProblem]]:
    """Copies of the turns with speakers resolved and times taken out, the times, and problems."""
    fixed: list[Any] = []
    raw_times: list[tuple[object, object]] = []
    problems: list[_TurnProblem] = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            problems.append((i, f"turns[{i}]", f"must be an object with speaker and text, not {shown(turn)}"))
            fixed.append(turn)
            raw_times.append((None, None))
            continue
        copy = openai_turn(turn)
        if "speaker" in copy:
            try:
                copy["speaker"] = resolve_speaker(copy["speaker"])
            except ValueError as exc:
                problems.append((i, f"turns[{i}].speaker", str(exc)))
        text = copy.get("text")
        if isinstance(text, str) and len(text) > LIMITS.max_text_chars:
            problems.append((i, f"turns[{i}].text", too_long(len(text), LIMITS.max_text_chars)))
        raw_times.append((copy.pop("start", None), copy.pop("end", None)))
        fixed.append(copy)
    return fixed, raw_times, problems


def _resolve_turns(record: dict[str, Any]) -> tuple[dict[str, Any], list[_TurnProblem]]:
    """The record with speakers resolved and times in seconds, and the turns' problems."""
    turns = record.get("turns")
    if not isinstance(turns, list):
        return record, []
    fixed, raw_times, problems = _prepare_turns(turns)
    times, started_at, time_problems = _normalise_times(raw_times)
    problems += [(i, f"turns[{i}].{name}", message) for i, name, message in time_problems]
    timed = [
        {**turn, "start": start, "end": end} if isinstance(turn, dict) else turn
        for turn, (start, end) in zip(fixed, times, strict=True)
    ]
    data = {**record, "turns": timed}
    if started_at is not None and "started_at" not in data:
        data["started_at"] = started_at
    return data, problems


def _turn_line(turn: int | None, turn_lines: Sequence[int], line: int | None) -> int | None:
    """The line of a turn, falling back to the conversation's line."""
    at = turn_lines[turn] if turn is not None and turn < len(turn_lines) else None
    return at or line


_ERROR_MESSAGES = {"missing": "is required", "extra_forbidden": "is not a known field"}


def _error_message(error: ErrorDetails) -> str:
    """A validation error's message in the words of the other problems."""
    if error["type"] in _ERROR_MESSAGES:
        return _ERROR_MESSAGES[error["type"]]
    if error["type"] == "literal_error":
        return f"{error['msg']} (got {shown(error.get('input'))})"
    return error["msg"]


def _validation_problems(
    exc: ValidationError, known: list[Problem], *, file: str, line: int | None, turn_lines: Sequence[int]
) -> list[Problem]:
    """``known`` plus a problem for each validation error on a field not reported yet."""
    problems = list(known)
    reported = {p.field for p in problems}
    for error in exc.errors():
        loc = error["loc"]
        field = field_path(loc)
        if field in reported:
            continue
        reported.add(field)
        turn = loc[1] if len(loc) >= 2 and loc[0] == "turns" and isinstance(loc[1], int) else None
        at = _turn_line(turn, turn_lines, line)
        problems.append(Problem(file=file, line=at, field=field, message=_error_message(error)))
    return problems


def conversation_from_record(
    record: Mapping[str, Any],
    *,
    file: str = "<record>",
    line: int | None = None,
    turn_lines: Sequence[int] | None = None,
) -> Conversation:
    """Validate one conversation given as a mapping shaped like :class:`Conversation`.

    Speaker names may be any of :data:`SPEAKER_ALIASES`, and turns may be OpenAI chat messages
    (``role``/``content``, in ``turns`` or ``messages``); ``start``/``end`` may be anything
    :func:`parse_time` accepts and are normalised to seconds from the start of the
    conversation (the first datetime becomes ``started_at`` unless the record has one).
    ``file`` and ``line`` locate the record in error messages, and ``turn_lines`` the line of
    each turn (by default every turn is at ``line``). ``record`` is not modified.

    Raises :class:`~llm_grader.errors.ConversationError` listing the problems found (the
    first 20, then a count), sorted by line, each as ``file:line: field: message``, also for a
    record past one of :data:`~.limits.LIMITS`.
    """
    lines = tuple(turn_lines or ())

    def located(problems: list[_TurnProblem]) -> list[Problem]:
        return [
            Problem(file=file, line=_turn_line(i, lines, line), field=field, message=message)
            for i, field, message in problems
        ]

    if not isinstance(record, Mapping):
        raise ConversationError.at(file, line, "", f"must be an object, not {type(record).__name__}")
    record = _openai_record(record)
    fatal = _fatal_problem(record)
    if fatal is not None:
        raise ConversationError(located([fatal]), conversation_id=_conversation_id(record))
    data, turn_problems = _resolve_turns(dict(record))
    problems = located(_record_problems(record) + turn_problems)
    try:
        conversation = Conversation.model_validate(data)
    except ValidationError as exc:
        problems = _validation_problems(exc, problems, file=file, line=line, turn_lines=lines)
    else:
        if not problems:
            conversation._source = None if line is None else (file, line)
            return conversation
    raise ConversationError(problems_capped(problems), conversation_id=_conversation_id(record))
