"""Input limits: every size limit on conversation input, and the checks that need no model.

The readers and the record builder enforce :data:`LIMITS`; a record past one is skipped with
a :class:`~llm_grader.errors.ConversationError` that names the limit, and the other
conversations load. The docs (docs/conversations.md, "Input limits") list the same values.

- :func:`parse_json` parses one JSONL record within the limits (depth, number size) and
  refuses what ``json`` would accept but nothing after it could use: ``NaN``, duplicate keys;
- :func:`structure_problem` finds a record nested too deep or holding lone surrogates,
  whichever way it was read;
- :func:`shown` quotes a value in a message without copying all of it.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InputLimits:
    """Every size limit on conversation input, in one place (docs/conversations.md: "Input limits").

    Each value is far above what real calls and chats need, and far below what would crash
    or stall the loader, the grader or the writing of the results.
    """

    max_json_depth: int = 64
    """Deepest nesting of a record, the record itself counting as 1, metadata included. A real
    record is 3 deep (record → turns → turn) plus a few levels of metadata; JSON nested ~1,000
    deep crashes the parser, and ~300 deep the writing of the scorecard that carries it."""
    max_number_chars: int = 40
    """Longest number in a JSON record: any id (a 128-bit integer has 39 digits) or a float at
    full precision fits; Python refuses integers over 4,300 digits, floats overflow at ~309."""
    max_time_chars: int = 64
    """Longest time written as text; the longest ISO-8601 datetime with a zone has 32."""
    max_time_seconds: float = 1e9
    """Largest time in seconds (about 31.7 years), as given or after the earliest datetime. A
    larger one is a unit error, such as epoch seconds or milliseconds given as offsets."""
    max_text_chars: int = 100_000
    """Longest turn text, and longest notes: some 6 hours of speech in one turn, more than a
    model's context holds."""
    max_turns: int = 10_000
    """Most turns in one conversation; long calls and chats have a few hundred."""
    max_id_chars: int = 256
    """Longest conversation id; ids name rows in results and reports."""
    max_record_chars: int = 10_000_000
    """Longest JSONL line, plain-text file (one conversation each) and CSV field: about 30 MB
    of UTF-8 Chinese, and more than the turn limits let through, so a record is refused
    before it is parsed rather than after."""


LIMITS = InputLimits()
"""The limits the readers and :func:`~.build.conversation_from_record` enforce."""

# --------------------------------------------------------------------------- messages

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 3, 4, 4

_FIELD_NAME = re.compile(r"[^\W\d]\w{0,39}")


def shown(value: object) -> str:
    """``repr(value)`` cut short, to quote input in a message without copying all of it."""
    return _REPR.repr(value)


def too_long(length: int, limit: int) -> str:
    """The message for a text ``length`` characters long, over ``limit``."""
    return f"is {length:,} characters long; the limit is {limit:,}"


def field_path(path: Sequence[object]) -> str:
    """``turns[0].text`` for a path; a key that is not a plain name is quoted (``metadata['a b']``)."""
    parts = (
        f"[{p}]"
        if isinstance(p, int)
        else f".{p}"
        if isinstance(p, str) and _FIELD_NAME.fullmatch(p)
        else f"[{shown(p)}]"
        for p in path
    )
    return "".join(parts).lstrip(".")


# --------------------------------------------------------------------------- structure

_SURROGATE = re.compile("[\ud800-\udfff]")


def _children(value: object) -> Iterable[tuple[object, object]] | None:
    if isinstance(value, Mapping):
        return value.items()
    if isinstance(value, (list, tuple)):
        return enumerate(value)
    return None


def _located(head: tuple[object, ...], depth: int, message: str) -> tuple[int | None, str, str]:
    turn = head[1] if len(head) >= 2 and head[0] == "turns" and isinstance(head[1], int) else None
    return turn, field_path(head) + ("…" if depth > len(head) + 1 else ""), message


def structure_problem(record: Mapping[str, Any]) -> tuple[int | None, str, str] | None:
    """Where ``record`` nests deeper than the limit or holds a string that is not valid Unicode.

    Returns ``(turn index or None, field, message)`` for the first such place, or None. Such a
    record could be neither reported, stored nor written, so this is checked first. The field
    is the path's first three steps (``metadata.a.b…``). Cycles end at the depth limit.
    """
    stack: list[tuple[object, int, tuple[object, ...]]] = [(record, 1, ())]
    while stack:
        value, depth, head = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return _located(head, depth, "holds a lone surrogate (U+D800-U+DFFF), which is not text")
            continue
        children = _children(value)
        if children is None:
            continue
        if depth > LIMITS.max_json_depth:
            message = f"is nested more than {LIMITS.max_json_depth} levels deep (the limit)"
            return _located(head, depth, message)
        for key, child in children:
            step = head if len(head) >= 3 else (*head, key)
            if isinstance(key, str) and _SURROGATE.search(key):
                return _located(step, depth + 1, "has a key with a lone surrogate, which is not text")
            stack.append((child, depth + 1, step))
    return None


# --------------------------------------------------------------------------- JSON


class _JSONLimitError(ValueError):
    """A number, constant or key refused while parsing (raised from inside ``json.loads``)."""


def _json_number(text: str) -> None:
    if len(text) > LIMITS.max_number_chars:
        raise _JSONLimitError(
            f"number {text[:12]}… is {len(text):,} characters long; the limit is {LIMITS.max_number_chars}"
        )


def _json_int(text: str) -> int:
    _json_number(text)
    return int(text)


def _json_float(text: str) -> float:
    _json_number(text)
    number = float(text)
    if not math.isfinite(number):
        raise _JSONLimitError(f"number {text} is too large")
    return number


def _json_constant(name: str) -> object:
    raise _JSONLimitError(f"{name} is not a JSON number; write a finite number or null")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _JSONLimitError(f"key {shown(key)} appears twice in one object")
            seen.add(key)
    return obj


_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
"""A JSON string (skipped) or a bracket (counted)."""


def _json_too_deep(raw: str) -> bool:
    """Whether JSON text nests deeper than the limit, found without parsing it.

    Strings are skipped as JSON reads them, so up to the first syntax error (where
    ``json.loads`` stops) the count is the parser's own depth.
    """
    if raw.count("[") + raw.count("{") <= LIMITS.max_json_depth:
        return False
    depth = 0
    for token in _JSON_TOKEN.finditer(raw):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > LIMITS.max_json_depth:
                return True
        elif bracket in "]}":
            depth -= 1
    return False


def parse_json(raw: str) -> object:
    """One JSON document parsed within :data:`LIMITS`, or ``ValueError`` with a one-line message.

    Beyond ``json.loads``, it refuses nesting deeper than ``max_json_depth`` (before
    parsing, so the parser cannot overflow the stack), numbers longer than
    ``max_number_chars`` or out of range, ``NaN``/``Infinity``, and a key given twice in an
    object (readers disagree on which value wins).
    """
    deep = f"JSON nested more than {LIMITS.max_json_depth} levels deep (the limit)"
    if _json_too_deep(raw):
        raise ValueError(deep)
    try:
        return json.loads(
            raw,
            parse_int=_json_int,
            parse_float=_json_float,
            parse_constant=_json_constant,
            object_pairs_hook=_json_object,
        )
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except _JSONLimitError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(deep) from None
