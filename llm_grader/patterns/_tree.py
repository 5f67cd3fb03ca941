"""Python's parse trees of regular expressions: rewritten as RE2, and checked for nested repeats.

Python's own parser (``re._parser``; ``sre_parse`` before 3.11) is the only exact reader of the
syntax and meaning of :mod:`re`. Its opcodes are compared by name, and one this module does not
know makes :func:`translate` raise :class:`Untranslatable`, which sends the pattern to the
backtracking engine (that reads the pattern itself): a new Python can only make fewer patterns
run on RE2, never change what one matches.
"""

from __future__ import annotations

import bisect
import functools
import importlib
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

_parser: Any = importlib.import_module("re._parser" if sys.version_info >= (3, 11) else "sre_parse")
_MAXREPEAT: int = _parser.MAXREPEAT
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_SURROGATES = (0xD800, 0xDFFF)
_RE2_MAX_REPEAT = 1000


def parse(source: str) -> Any:
    """Python's parse tree of ``source`` as a case-insensitive pattern (raises ``re.error``)."""
    return _parser.parse(source, re.IGNORECASE)


def can_match_empty(tree: Any) -> bool:
    """Whether the pattern matches the empty text somewhere."""
    return bool(tree.getwidth()[0] == 0)


def translate(tree: Any) -> tuple[str, bool]:
    """RE2 syntax with the same matches as ``tree``, and whether it wrote ``$`` as the end.

    Python's ``$`` also matches before a final newline, which RE2 cannot say: a text ending
    with a newline needs the backtracking engine. Raises :class:`Untranslatable`.
    """
    translator = _Translator()
    return translator.run(tree), translator.python_dollar


# --------------------------------------------------------------------------- Python → RE2
#
# Every character class, and every letter matched regardless of case, is written out as the
# exact code points Python's re matches (which Python itself decides), so RE2 never applies
# its own notions of \w, \d, \s or of letter case.

_Ranges = tuple[tuple[int, int], ...]

_CATEGORY_ESCAPES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}


class Untranslatable(Exception):
    """A construct RE2 cannot express with Python's meaning; the message names it."""


def _char(code: int) -> str:
    return f"\\x{{{code:x}}}"


@functools.lru_cache(maxsize=1)
def _every_character() -> str:
    """Every code point but the surrogates, in order (position → code: :func:`_code_at`)."""
    return "".join(map(chr, _all_codes()))


def _code_at(position: int) -> int:
    return position if position < _SURROGATES[0] else position + _SURROGATES[1] - _SURROGATES[0] + 1


def _all_codes() -> Iterator[int]:
    low, high = _SURROGATES
    return (c for c in range(sys.maxunicode + 1) if not low <= c <= high)


@functools.lru_cache(maxsize=8)
def _category(name: str) -> _Ranges:
    r"""The code points Python's ``\d \D \s \S \w \W`` match in a str pattern."""
    if name not in _CATEGORY_ESCAPES:
        raise Untranslatable(f"the class {name}")
    runs = re.finditer(_CATEGORY_ESCAPES[name] + "+", _every_character())
    return _merge((_code_at(m.start()), _code_at(m.end() - 1)) for m in runs)


@functools.lru_cache(maxsize=1)
def _case_candidates() -> tuple[int, ...]:
    """Code points a case-insensitive match may treat differently: cased ones and their images."""
    codes: set[int] = set()
    for position, ch in enumerate(_every_character()):
        if ch.lower() != ch or ch.upper() != ch:
            codes.add(_code_at(position))
            codes.update(ord(c) for c in ch.lower() + ch.upper())
    return tuple(sorted(codes))


def _python_case(ranges: _Ranges, python_class: str, negate: bool) -> _Ranges:
    """``ranges`` with each case candidate in or out as Python's re, ignoring case, decides."""
    program = re.compile(python_class, re.IGNORECASE)
    candidates = _case_candidates()
    chosen = [(c, c) for c in candidates if bool(program.fullmatch(chr(c))) != negate]
    return _merge([*_without(ranges, candidates), *chosen])


@functools.lru_cache(maxsize=4096)
def _literal(code: int, ignore_case: bool) -> _Ranges:
    ch = chr(code)
    if not ignore_case or ch.lower() == ch == ch.upper():
        return ((code, code),)
    return _python_case(((code, code),), re.escape(ch), negate=False)


def _merge(ranges: Iterable[tuple[int, int]]) -> _Ranges:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return tuple(merged)


def _without(ranges: _Ranges, points: tuple[int, ...]) -> Iterator[tuple[int, int]]:
    """``ranges`` less the sorted ``points``."""
    for low, high in ranges:
        start = low
        for point in points[bisect.bisect_left(points, low) : bisect.bisect_right(points, high)]:
            if point > start:
                yield start, point - 1
            start = point + 1
        if start <= high:
            yield start, high


def _class_text(ranges: _Ranges, *, negate: bool = False) -> str:
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1] and not negate:
        return _char(ranges[0][0])
    if not ranges:  # RE2 has no empty class
        return "(?s:.)" if negate else "[^\\x{0}-\\x{10ffff}]"
    body = "".join(_char(a) if a == b else f"{_char(a)}-{_char(b)}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


class _Translator:
    """Writes a parse tree of Python's re as RE2 syntax with the same matches."""

    def __init__(self) -> None:
        self.python_dollar = False

    def run(self, tree: Any) -> str:
        flags = int(tree.state.flags)
        if flags & (re.ASCII | re.LOCALE):
            raise Untranslatable("the ASCII or LOCALE flag")
        return self.sequence(tree, flags)

    def sequence(self, items: Iterable[tuple[Any, Any]], flags: int) -> str:
        return "".join(self.node(str(op), value, flags) for op, value in items)

    def node(self, op: str, value: Any, flags: int) -> str:
        ignore_case = bool(flags & re.IGNORECASE)
        if op in ("LITERAL", "NOT_LITERAL"):
            return _class_text(_literal(value, ignore_case), negate=op == "NOT_LITERAL")
        if op == "ANY":
            return "(?s:.)" if flags & re.DOTALL else "[^\\n]"
        if op == "IN":
            return self.charset(value, ignore_case)
        if op == "BRANCH":
            return "(?:" + "|".join(self.sequence(alt, flags) for alt in value[1]) + ")"
        if op == "SUBPATTERN":
            return self.group(value, flags)
        if op in ("MAX_REPEAT", "MIN_REPEAT"):
            return self.repeat(value, flags, lazy=op == "MIN_REPEAT")
        if op == "AT":
            return self.at(str(value), flags)
        if op == "CATEGORY":
            return _class_text(_category(str(value)))
        raise Untranslatable(_CONSTRUCTS.get(op, f"the construct {op}"))

    def charset(self, items: list[tuple[Any, Any]], ignore_case: bool) -> str:
        negate = bool(items) and str(items[0][0]) == "NEGATE"
        members = [(str(op), value) for op, value in items[negate:]]
        ranges: list[tuple[int, int]] = []
        python: list[str] = []  # the class again in Python's syntax, to ask re about letter case
        for op, value in members:
            if op == "LITERAL":
                ranges.append((value, value))
                python.append(f"\\U{value:08x}")
            elif op == "RANGE":
                ranges.append((value[0], value[1]))
                python.append(f"\\U{value[0]:08x}-\\U{value[1]:08x}")
            elif op == "CATEGORY":
                ranges.extend(_category(str(value)))
                python.append(_CATEGORY_ESCAPES[str(value)])
            else:
                raise Untranslatable(f"the class member {op}")
        merged = _merge(ranges)
        if ignore_case and any(op != "CATEGORY" for op, _ in members):
            merged = _python_case(merged, "[" + "^" * negate + "".join(python) + "]", negate)
        return _class_text(merged, negate=negate)

    def group(self, value: tuple[Any, int, int, Any], flags: int) -> str:
        _, add, remove, body = value
        if (add | remove) & (re.ASCII | re.LOCALE):
            raise Untranslatable("the ASCII or LOCALE flag")
        return "(?:" + self.sequence(body, (flags | add) & ~remove) + ")"

    def repeat(self, value: tuple[int, int, Any], flags: int, *, lazy: bool) -> str:
        low, high, body = value
        if low > _RE2_MAX_REPEAT or (high != _MAXREPEAT and high > _RE2_MAX_REPEAT):
            raise Untranslatable("a repeat count above 1000")
        count = f"{{{low},}}" if high == _MAXREPEAT else f"{{{low},{high}}}"
        return "(?:" + self.sequence(body, flags) + ")" + count + ("?" if lazy else "")

    def at(self, where: str, flags: int) -> str:
        if where == "AT_END" and not flags & re.MULTILINE:
            self.python_dollar = True  # differs from Python's $ only before a final newline
            return "\\z"
        forms = {
            "AT_BEGINNING": "(?m:^)" if flags & re.MULTILINE else "\\A",
            "AT_BEGINNING_STRING": "\\A",
            "AT_END": "(?m:$)",
            "AT_END_STRING": "\\z",
        }
        if where not in forms:
            raise Untranslatable(_CONSTRUCTS.get(where, f"the anchor {where}"))
        return forms[where]


_CONSTRUCTS = {
    "ASSERT": "lookaround ((?=…) or (?<=…))",
    "ASSERT_NOT": "negative lookaround ((?!…) or (?<!…))",
    "GROUPREF": "a backreference",
    "GROUPREF_EXISTS": "a conditional group",
    "ATOMIC_GROUP": "an atomic group",
    "POSSESSIVE_REPEAT": "a possessive repeat",
    "AT_BOUNDARY": "a word boundary (\\b)",
    "AT_NON_BOUNDARY": "a non-boundary (\\B)",
}


# --------------------------------------------------------------------------- backtracking risk


def _children(op: str, value: Any) -> list[Any]:
    """The sub-patterns of one node of the parse tree."""
    if op in _REPEATS:
        return [value[2]]
    if op == "SUBPATTERN":
        return [value[3]]
    if op == "BRANCH":
        return list(value[1])
    if op in ("ASSERT", "ASSERT_NOT"):
        return [value[1]]
    if op == "ATOMIC_GROUP":
        return [value]
    if op == "GROUPREF_EXISTS":
        return [part for part in value[1:] if part is not None]
    return []


def _repeats_without_limit(items: Iterable[tuple[Any, Any]]) -> bool:
    return any(
        (str(op) in _REPEATS and value[1] == _MAXREPEAT)
        or any(_repeats_without_limit(child) for child in _children(str(op), value))
        for op, value in items
    )


def nested_repeat(items: Iterable[tuple[Any, Any]]) -> bool:
    """Whether a backtracking repeat (more than once) holds a repeat without upper limit."""
    for op, value in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT") and value[1] > 1 and _repeats_without_limit(value[2]):
            return True
        if any(nested_repeat(child) for child in _children(name, value)):
            return True
    return False
