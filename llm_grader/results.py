"""Results files: append-only JSONL of scorecards, written durably and read back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import LLMGraderError
from .scoring import Scorecard

__all__ = ["ResultsWriter", "read_results"]


class ResultsWriter:
    """Append-only JSONL of scorecards: one complete line per conversation, flushed at once.

    On open with ``resume``, a torn last line (from a killed run) is cut off and the ids
    already written are in ``done``; without ``resume`` the file is replaced.
    """

    def __init__(self, path: str | Path, *, resume: bool = False) -> None:
        self.path = Path(path)
        self.done: set[str] = set()
        if resume and self.path.exists():
            self._repair()
            self.done = {card.conversation_id for card in read_results(self.path)}
        elif self.path.exists():
            self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def _repair(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def write(self, card: Scorecard) -> None:
        """Append one scorecard as one line with a single write, and make it durable."""
        self._file.write(card.model_dump_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_results(path: str | Path) -> Iterator[Scorecard]:
    """Read scorecards from a results JSONL file; a torn last line is ignored."""
    with Path(path).open(encoding="utf-8") as f:
        lines = f.read().split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield Scorecard.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValueError) as exc:
            if number == len(lines):  # no newline yet: a line being written when a run died
                return
            raise LLMGraderError(f"{path}:{number}: not a scorecard: {exc}") from None
