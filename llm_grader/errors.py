"""The exceptions llm-grader raises.

::

    LLMGraderError                  every error the library raises on purpose
    ├── InputError                  a file the user gave is wrong; carries its Problems
    │   ├── ConversationError       a conversation file (JSONL, CSV, text)
    │   └── RubricError             a rubric file
    ├── NotFoundError               a built-in rubric name, file or item that does not exist
    ├── RescoreError                stored answers cannot serve a changed rubric
    ├── ModelConfigurationError     the model endpoint refuses every call (key, model, URL):
    │                               the run stops at the first one
    ├── OutputLockedError           another run is writing the same results file
    └── OutputWriteError            the results file cannot be written (disk full, I/O error):
                                    the run stops; what the file holds is whole lines

Every message names the file, the line and the field where it can, quotes names with
``!r``, lists the valid choices where there are any, and says how to fix the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

__all__ = [
    "ConversationError",
    "InputError",
    "LLMGraderError",
    "ModelConfigurationError",
    "NotFoundError",
    "OutputLockedError",
    "OutputWriteError",
    "Problem",
    "RescoreError",
    "RubricError",
]


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with an input file, located as precisely as the format allows."""

    file: str
    """The file the problem is in, as the user named it."""
    line: int | None
    """1-based line number, or None when no line can be named."""
    field: str
    """Dotted path of the field (``categories[0].items[2].tiers``), or ``""`` for the file."""
    message: str
    """What is wrong and, where possible, how to fix it."""
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        field = f" {self.field}:" if self.field else ""
        tag = "warning: " if self.severity == "warning" else ""
        return f"{where}:{field} {tag}{self.message}"


_E = TypeVar("_E", bound="InputError")


class LLMGraderError(Exception):
    """Base class of every error llm-grader raises on purpose."""


class InputError(LLMGraderError):
    """A file given by the user cannot be used; ``problems`` says every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @classmethod
    def at(cls: type[_E], file: str, line: int | None, field: str, message: str) -> _E:
        """An error with a single problem."""
        return cls([Problem(file=file, line=line, field=field, message=message)])


class ConversationError(InputError):
    """A conversation (JSONL line, CSV rows or text file) is malformed."""

    def __init__(self, problems: list[Problem], *, conversation_id: str | None = None) -> None:
        self.conversation_id = conversation_id
        super().__init__(problems)


class RubricError(InputError):
    """A rubric file does not load or does not pass its checks."""


class NotFoundError(LLMGraderError):
    """A named thing (built-in rubric, item, file) does not exist; ``choices`` lists what does."""

    def __init__(self, message: str, *, name: str, choices: list[str] | None = None) -> None:
        self.name = name
        self.choices = choices or []
        super().__init__(message)


class RescoreError(LLMGraderError):
    """A rubric changed in a way stored answers cannot serve; ``items`` names the items."""

    def __init__(self, message: str, *, items: list[str]) -> None:
        self.items = items
        super().__init__(message)


class ModelConfigurationError(LLMGraderError):
    """The endpoint rejects the configuration itself (bad key, unknown model, unreachable URL).

    Retrying or going on to the next conversation cannot help, so a run stops at the first
    one; ``host`` names the endpoint (never the key).
    """

    def __init__(self, message: str, *, host: str) -> None:
        self.host = host
        super().__init__(message)


class OutputLockedError(LLMGraderError):
    """Another process holds the lock on a results file."""


class OutputWriteError(LLMGraderError):
    """A results file could not be written (``ENOSPC``, ``EIO``, quota): the run stops at once.

    The writer has cut the file back to its last whole line, so it holds every scorecard
    written before and ``--resume`` / ``report`` accept it. ``path`` and ``errno`` say what
    and where; ``unwritten`` holds the scorecards graded but not written (their model calls
    were paid for), filled in by the batch that stopped.
    """

    def __init__(self, message: str, *, path: str, errno: int | None) -> None:
        self.path = path
        self.errno = errno
        self.unwritten: list[Any] = []
        super().__init__(message)
