"""Reviewers' verdicts, stored durably in SQLite: every verdict kept, the latest one counts.

One :class:`VerdictStore` is one database file in WAL mode with ``synchronous=FULL``: each
verdict is committed (and synced) before :meth:`VerdictStore.record` returns, so a verdict
the reviewer saw acknowledged survives the process being killed. One connection, guarded
by a lock, is the single writer; a threaded web server may share the store.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from .._sqlite import BUSY_TIMEOUT, is_corrupt
from ..errors import LLMGraderError
from ..types import ReviewVerdict

__all__ = ["StoredVerdict", "VerdictStore"]

_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'override')),
    tier TEXT,
    original_tier TEXT,
    reason TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL CHECK (kind IN ('review', 'appeal')),
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_by_item ON verdicts (conversation_id, item_id, id);
"""

_COLUMNS = "id, conversation_id, item_id, reviewer, decision, tier, original_tier, reason, kind, at"


@dataclass(frozen=True, kw_only=True)
class StoredVerdict:
    """A verdict as stored: which conversation and item it is about, and its place in order."""

    id: int
    """Insertion order: the highest id of an item is its latest verdict."""
    conversation_id: str
    item_id: str
    verdict: ReviewVerdict


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _row(row: tuple[object, ...]) -> StoredVerdict:
    number, conversation_id, item_id, reviewer, decision, tier, original, reason, kind, at = row
    verdict = ReviewVerdict.model_validate(
        {
            "reviewer": reviewer,
            "decision": decision,
            "tier": tier,
            "original_tier": original,
            "reason": reason,
            "kind": kind,
            "at": at,
        }
    )
    return StoredVerdict(
        id=int(str(number)), conversation_id=str(conversation_id), item_id=str(item_id), verdict=verdict
    )


class VerdictStore:
    """Verdicts in a SQLite file (created when missing); use as a context manager or ``close()``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, check_same_thread=False, isolation_level=None
            )
            self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")  # before anything waits
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise LLMGraderError(
                    f"{self.path}: verdict database version {version} is newer than this llm-grader "
                    f"understands ({_SCHEMA_VERSION}); upgrade llm-grader"
                )
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            if is_corrupt(exc):
                raise LLMGraderError(f"{self.path}: not a verdict database: {exc}") from None
            raise LLMGraderError(
                f"{self.path}: cannot open the verdict database: {exc} (another process may be writing "
                "it: try again when it has finished)"
            ) from None

    def __enter__(self) -> VerdictStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database (what was recorded is already on disk)."""
        with self._lock:
            self._db.close()

    def record(self, conversation_id: str, item_id: str, verdict: ReviewVerdict) -> StoredVerdict:
        """Store one verdict, committed before returning; ``at`` is set to now when empty."""
        if not verdict.at:
            verdict = verdict.model_copy(update={"at": _now()})
        v = verdict
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO verdicts (conversation_id, item_id, reviewer, decision, tier, original_tier,"
                " reason, kind, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    item_id,
                    v.reviewer,
                    v.decision,
                    v.tier,
                    v.original_tier,
                    v.reason,
                    v.kind,
                    v.at,
                ),
            )
            number = cursor.lastrowid
        assert number is not None
        return StoredVerdict(id=number, conversation_id=conversation_id, item_id=item_id, verdict=verdict)

    def record_many(self, entries: list[tuple[str, str, ReviewVerdict]]) -> int:
        """Store several verdicts in one transaction (all or none); returns how many."""
        at = _now()
        rows = [
            (c, i, v.reviewer, v.decision, v.tier, v.original_tier, v.reason, v.kind, v.at or at)
            for c, i, v in entries
        ]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO verdicts (conversation_id, item_id, reviewer, decision, tier,"
                    " original_tier, reason, kind, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(rows)

    def _select(self, where: str = "", params: tuple[str, ...] = ()) -> Iterator[StoredVerdict]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM verdicts {where} ORDER BY id", params).fetchall()
        return (_row(r) for r in rows)

    def history(self, conversation_id: str | None = None, item_id: str | None = None) -> list[StoredVerdict]:
        """Every verdict, oldest first; of one conversation, or of one of its items."""
        if conversation_id is None:
            return list(self._select())
        if item_id is None:
            return list(self._select("WHERE conversation_id = ?", (conversation_id,)))
        return list(self._select("WHERE conversation_id = ? AND item_id = ?", (conversation_id, item_id)))

    def latest(self, conversation_id: str | None = None) -> dict[tuple[str, str], StoredVerdict]:
        """The latest verdict per (conversation, item); of one conversation when given."""
        return {(s.conversation_id, s.item_id): s for s in self.history(conversation_id)}

    def count(self) -> int:
        """How many verdicts are stored (history included)."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM verdicts").fetchone()[0])
