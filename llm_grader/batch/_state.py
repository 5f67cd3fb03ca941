"""The state of a batch run, saved beside its output so that a killed run picks its batch up.

A :class:`BatchState` holds one :class:`BatchPart` per provider batch (one input file of at
most 50,000 requests each): batch and file ids, status and request counts, the custom ids
sent; and for the whole run the rubric id and version, the judge's identity (never the key),
the options that change the requests, and the conversation ids submitted. It is written
atomically (a temporary file, then a rename) after every step.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._textfiles import read_utf8, shown_key
from ..errors import InputError, LLMGraderError

if TYPE_CHECKING:
    from ..llm._batch_api import BatchInfo

STATE_VERSION = 1
"""The state file's format version."""
_TERMINAL = ("completed", "failed", "expired", "cancelled")
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
"""A provider's file or batch id: letters, digits, ``-`` and ``_`` (it names files on disk)."""


def plain_id(value: str | None, what: str) -> str | None:
    """``value`` if it is None or a plain id, else a clear error (an id names a file beside the state)."""
    if value is not None and not _PLAIN_ID.fullmatch(value):
        raise LLMGraderError(f"{what} {value!r} is not a plain id (letters, digits, '-', '_'): refused")
    return value


def state_path(output: str | Path) -> Path:
    """The state file of a batch run writing ``output``: ``<output>.batch.json`` beside it."""
    output = Path(output)
    return output.with_name(output.name + ".batch.json")


@dataclass(kw_only=True)
class BatchPart:
    """One provider batch: one input file of at most 50,000 requests."""

    custom_ids: list[str]
    input_file_id: str | None = None
    id: str | None = None
    """The provider's batch id (None until the batch is created)."""
    status: str = "prepared"
    """``prepared``, ``uploaded``, then the provider's status (``validating``, ``in_progress``, …)."""
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    problem: str | None = None

    @property
    def ended(self) -> bool:
        """Whether the batch will answer nothing more."""
        return self.status in _TERMINAL

    def update(self, info: BatchInfo) -> None:
        """Take the provider's status and counts (refusing ids that are not plain ids)."""
        for what, value in (("batch id", info.id), ("output file id", info.output_file_id),
                            ("error file id", info.error_file_id)):  # fmt: skip
            plain_id(value, f"the provider's {what}")
        self.id = info.id
        self.status = info.status
        self.total = info.total or len(self.custom_ids)
        self.completed, self.failed = info.completed, info.failed
        self.output_file_id, self.error_file_id = info.output_file_id, info.error_file_id
        self.problem = info.problem


@dataclass(kw_only=True)
class BatchState:
    """What was submitted, and where it stands; saved as JSON at ``path``."""

    path: Path
    rubric: dict[str, str]
    """The rubric's id and version."""
    judge: dict[str, Any]
    """The judge's identity: model, endpoint, mode, parameters (never the key)."""
    options: dict[str, Any]
    """Grading options that change the requests: strategy and samples."""
    conversations: list[str]
    """The ids of the conversations submitted."""
    parts: list[BatchPart] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    @property
    def batch_ids(self) -> list[str]:
        """The provider's batch ids."""
        return [p.id for p in self.parts if p.id]

    @property
    def total(self) -> int:
        """Requests submitted."""
        return sum(len(p.custom_ids) for p in self.parts)

    @property
    def completed(self) -> int:
        """Requests the provider answered."""
        return sum(p.completed for p in self.parts)

    @property
    def failed(self) -> int:
        """Requests that failed or expired at the provider."""
        return sum(p.failed for p in self.parts)

    @property
    def ended(self) -> bool:
        """Whether every batch has ended (nothing more will be answered)."""
        return all(p.ended for p in self.parts)

    @property
    def status(self) -> str:
        """One status for all the batches: theirs when they agree, else the ones still running."""
        statuses = sorted({p.status for p in self.parts})
        running = [s for s in statuses if s not in _TERMINAL]
        return "+".join(running or statuses) or "empty"

    def sibling(self, suffix: str) -> Path:
        """A file beside the state file: ``<output>.batch.<suffix>``."""
        stem = self.path.name.removesuffix(".json")
        return self.path.with_name(f"{stem}.{suffix}")

    def downloads(self) -> list[Path]:
        """The downloaded result files: output files first, then error files."""
        ids = [p.output_file_id for p in self.parts] + [p.error_file_id for p in self.parts]
        return [self.sibling(f"{i}.jsonl") for i in ids if i]

    def save(self) -> None:
        """Write the state atomically (a temporary file, then a rename)."""
        data = {"version": STATE_VERSION, **asdict(self)}
        data.pop("path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(self.path)

    @classmethod
    def load(cls, path: str | Path) -> BatchState:
        """The state saved at ``path``; every field's type is checked, and ids must be plain ids.

        One ``file:line: field: message`` error when it cannot be used.
        """
        path = Path(path)
        data = _decoded(path)
        try:
            return _state(path, data)
        except _Bad as bad:
            raise InputError.at(str(path), None, shown_key(bad.field), f"{_one_line(bad)}; {_FIX}") from None


def _one_line(exc: BaseException) -> str:
    """An exception's message on one short line (a tampered file may put line breaks in its keys)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


_FIX = "delete it to submit anew"


def _refused(path: Path, line: int | None, why: str) -> InputError:
    message = f"not a batch state file of this version ({why}); {_FIX}"
    return InputError.at(str(path), line, "", message)


def _decoded(path: Path) -> Any:
    """The JSON value of the state file at ``path``."""
    text = read_utf8(path, what="batch state file", fix=_FIX)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _refused(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise _refused(path, None, "nested too deeply") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise _refused(path, None, _one_line(exc)) from None


class _Bad(ValueError):
    """A field of a state file of the wrong type or value."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.field = name


def _object(value: Any, name: str, expected: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(name or "(top level)", f"an object expected, got {type(value).__name__}")
    unknown, missing = sorted(set(value) - expected), sorted(required - set(value))
    if unknown or missing:
        key = (unknown or missing)[0]
        raise _Bad(f"{name}.{key}" if name else key, "unknown field" if unknown else "missing")
    return value


def _typed(value: Any, name: str, check: Callable[[Any], bool], expected: str) -> Any:
    if not check(value):
        shown = json.dumps(value, ensure_ascii=False, default=str)[:60]
        raise _Bad(name, f"{expected} expected, got {shown}")
    return value


def _text(value: Any, name: str, *, optional: bool = False) -> Any:
    return _typed(value, name, lambda v: isinstance(v, str) or (optional and v is None), "a string")


def _count(value: Any, name: str) -> int:
    return int(_typed(value, name, lambda v: type(v) is int and v >= 0, "a whole number of at least 0"))


def _texts(value: Any, name: str) -> list[str]:
    _typed(value, name, lambda v: isinstance(v, list), "a list")
    return [_text(v, f"{name}[{i}]") for i, v in enumerate(value)]


def _an_id(value: Any, name: str) -> str | None:
    _text(value, name, optional=True)
    if value is not None and not _PLAIN_ID.fullmatch(value):
        raise _Bad(name, f"{value!r} is not a plain id (letters, digits, '-', '_')")
    return value  # type: ignore[no-any-return]


_IDS = ("input_file_id", "id", "output_file_id", "error_file_id")


def _part(value: Any, name: str) -> BatchPart:
    names = {f.name for f in fields(BatchPart)}
    data = _object(value, name, names, {"custom_ids"})
    part = BatchPart(custom_ids=_texts(data["custom_ids"], f"{name}.custom_ids"))
    for key in _IDS:
        setattr(part, key, _an_id(data.get(key), f"{name}.{key}"))
    part.status = _text(data.get("status", part.status), f"{name}.status")
    for key in ("total", "completed", "failed"):
        setattr(part, key, _count(data.get(key, 0), f"{name}.{key}"))
    part.problem = _text(data.get("problem"), f"{name}.problem", optional=True)
    return part


def _state(path: Path, value: Any) -> BatchState:
    names = {f.name for f in fields(BatchState)} - {"path"}
    data = _object(value, "", names | {"version"}, names - {"parts", "created_at"} | {"version"})
    if data["version"] != STATE_VERSION:
        raise _Bad("version", f"{STATE_VERSION} expected (a state file of another version)")
    rubric = _object(data["rubric"], "rubric", {"id", "version"}, {"id", "version"})
    for key in ("judge", "options"):
        _typed(data[key], key, lambda v: isinstance(v, dict), "an object")
    parts = data.get("parts", [])
    _typed(parts, "parts", lambda v: isinstance(v, list), "a list")
    return BatchState(
        path=path,
        rubric={key: _text(rubric[key], f"rubric.{key}") for key in ("id", "version")},
        judge=dict(data["judge"]),
        options=dict(data["options"]),
        conversations=_texts(data["conversations"], "conversations"),
        parts=[_part(p, f"parts[{i}]") for i, p in enumerate(parts)],
        created_at=_text(data.get("created_at", ""), "created_at"),
    )


class BatchPending(LLMGraderError):
    """The batch has not ended yet (``collect_batch(wait=False)``); ``state`` says where it stands."""

    def __init__(self, state: BatchState) -> None:
        super().__init__(
            f"batch {', '.join(state.batch_ids)} is {state.status} ({state.completed} of {state.total} "
            f"requests answered, {state.failed} failed): collect again later"
        )
        self.state = state
