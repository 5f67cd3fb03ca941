"""Compiling phrases and regular expressions into :class:`Pattern` objects, and searching.

See the package's docstring for which engine runs what.
"""

from __future__ import annotations

import functools
import importlib
import re
import time
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

from ..errors import LLMGraderError
from ._tree import Untranslatable, can_match_empty, nested_repeat, parse, translate

TIME_LIMIT = 0.5
"""Seconds the backtracking engine may spend on one rule for one conversation."""

Engine = Literal["literal", "re2", "backtracking"]
"""What matches a pattern: Python's re (an escaped phrase), RE2, or ``regex`` under a time limit."""

_Span = tuple[int, int]


class PatternError(ValueError):
    """A pattern cannot be used; the message names it and says why."""


class PatternTimeout(LLMGraderError):
    """A backtracking search ran past its deadline; ``source`` is the regular expression."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__(f"regex {source!r} ran past its time limit; simplify it")


@dataclass(frozen=True)
class Pattern:
    """A compiled phrase or regular expression; :meth:`spans` finds it in a turn's text."""

    source: str
    """The phrase or regular expression as the rubric gives it."""
    engine: Engine
    """What matches it (see :data:`Engine`)."""
    warnings: tuple[str, ...] = ()
    """What Python's parser warned about (a possible nested set ``[[``…)."""
    _program: Any = field(default=None, repr=False, compare=False)
    _python_dollar: bool = field(default=False, repr=False, compare=False)
    """RE2 form written ``$`` as the text's end; Python's ``$`` also matches before a final newline."""

    def spans(self, text: str, *, deadline: float | None = None) -> list[_Span]:
        """Character spans of the non-empty matches in ``text`` (tried in NFKC form when none).

        ``deadline`` (a :func:`time.monotonic` value) bounds backtracking searches; without one
        each search may take :data:`TIME_LIMIT` seconds. Raises :class:`PatternTimeout`.
        """
        found = self._find(text, deadline)
        if found:
            return found
        folded = unicodedata.normalize("NFKC", text)
        if folded != text and len(folded) == len(text):  # offsets still line up with the original
            return self._find(folded, deadline)
        return []

    def _find(self, text: str, deadline: float | None) -> list[_Span]:
        if self.engine == "literal":
            return _nonempty(self._program.finditer(text))
        if self.engine == "re2" and not (self._python_dollar and text.endswith("\n")):
            try:
                return _nonempty(self._program.finditer(text))
            except UnicodeEncodeError:  # a lone surrogate, which UTF-8 (and so RE2) cannot hold
                pass
        return self._backtrack(text, deadline)

    def _backtrack(self, text: str, deadline: float | None) -> list[_Span]:
        program = self._program if self.engine == "backtracking" else _backtracking(self.source)
        remaining = TIME_LIMIT if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            raise PatternTimeout(self.source)
        try:
            return _nonempty(program.finditer(text, timeout=remaining))
        except TimeoutError:
            raise PatternTimeout(self.source) from None


def _nonempty(matches: Iterable[Any]) -> list[_Span]:
    return [(m.start(), m.end()) for m in matches if m.end() > m.start()]


@functools.lru_cache(maxsize=2048)
def compile_pattern(source: str, *, regex: bool) -> Pattern:
    """The pattern of a phrase (``regex=False``) or of a regular expression; cached.

    Raises :class:`PatternError` when the expression does not compile, can match empty text,
    or needs the backtracking engine and repeats a group that itself repeats without limit.
    """
    if not regex:
        return Pattern(source, "literal", _program=re.compile(re.escape(source), re.IGNORECASE))
    tree, notes = _parse(source)
    if _can_match_empty(source, tree):  # and Python and RE2 step past empty matches differently
        raise PatternError(
            f"regex {source!r} can match empty text, and an empty match never counts: make it "
            "need at least one character (e.g. '+' instead of '*')"
        )
    compiled = _re2_program(tree)
    if not isinstance(compiled, str):
        return Pattern(source, "re2", notes, _program=compiled[0], _python_dollar=compiled[1])
    reason = compiled
    try:
        nested = nested_repeat(tree)
    except RecursionError:
        raise PatternError(f"regex {source!r} does not compile: it is nested too deeply") from None
    if nested:
        raise PatternError(
            f"regex {source!r} repeats a group that itself repeats without limit (like '(a+)+'); "
            f"it needs the backtracking engine because {reason}, and there this shape can take "
            "exponential time: rewrite it without the nested repeat (e.g. '(a+)+' as 'a+')"
        )
    return Pattern(source, "backtracking", notes, _program=_backtracking(source))


def _can_match_empty(source: str, tree: Any) -> bool:
    try:
        return can_match_empty(tree)
    except RecursionError:
        raise PatternError(f"regex {source!r} does not compile: it is nested too deeply") from None


def _re2_program(tree: Any) -> tuple[Any, bool] | str:
    """RE2's program for a parse tree and whether it wrote ``$`` as the end; else why not."""
    re2 = _re2()
    if re2 is None:
        return "google-re2 is not installed"
    try:
        translated, python_dollar = translate(tree)
        return re2.compile(translated, _re2_options(re2)), python_dollar
    except Untranslatable as exc:
        return f"it uses {exc}"
    except RecursionError:
        return "it is nested too deeply for RE2"
    except re2.error as exc:
        return f"RE2 refuses it ({_text(exc)})"


def _parse(source: str) -> tuple[Any, tuple[str, ...]]:
    """Python's parse tree of ``source`` and the parser's warnings; PatternError if invalid."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tree = parse(source)
            re.compile(source, re.IGNORECASE)  # errors of the compile step (look-behind width…)
    except re.error as exc:
        raise PatternError(f"regex {source!r} does not compile: {exc}") from None
    except (RecursionError, OverflowError, MemoryError) as exc:
        problem = "it is nested too deeply" if isinstance(exc, RecursionError) else "it is too large"
        raise PatternError(f"regex {source!r} does not compile: {problem}") from None
    return tree, tuple(dict.fromkeys(f"regex {source!r}: {w.message}" for w in caught))


@functools.lru_cache(maxsize=1)
def _re2() -> ModuleType | None:
    try:
        return importlib.import_module("re2")
    except ImportError:
        return None


@functools.lru_cache(maxsize=1)
def _re2_options(re2: ModuleType) -> Any:
    options = re2.Options()
    options.log_errors = False
    return options


@functools.lru_cache(maxsize=2048)
def _backtracking(source: str) -> Any:
    regex = importlib.import_module("regex")
    try:
        return regex.compile(source, regex.V0 | regex.IGNORECASE)
    except regex.error as exc:
        raise PatternError(f"regex {source!r} does not compile: {exc}") from None


def _text(exc: BaseException) -> str:
    message = exc.args[0] if exc.args else exc
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
