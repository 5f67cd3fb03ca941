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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, LLMGraderError
from ..textfiles import read_utf8

if TYPE_CHECKING:
    from ..model.batch import BatchInfo

__all__ = ["BatchPart", "BatchPending", "BatchState", "state_path"]

STATE_VERSION = 1
"""The state file's format version."""
_TERMINAL = ("completed", "failed", "expired", "cancelled")


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
        """Take the provider's status and counts."""
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
        """The state saved at ``path``; one ``file:line: message`` error when it cannot be used."""
        path = Path(path)
        data = _decoded(path)
        try:
            if data.pop("version", None) != STATE_VERSION:
                raise ValueError(f"version is not {STATE_VERSION}")
            parts = [BatchPart(**part) for part in data.pop("parts")]
            return cls(path=path, parts=parts, **data)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            raise _refused(path, None, _one_line(exc)) from None


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


class BatchPending(LLMGraderError):
    """The batch has not ended yet (``collect_batch(wait=False)``); ``state`` says where it stands."""

    def __init__(self, state: BatchState) -> None:
        super().__init__(
            f"batch {', '.join(state.batch_ids)} is {state.status} ({state.completed} of {state.total} "
            f"requests answered, {state.failed} failed): collect again later"
        )
        self.state = state
