"""Reviewers' verdicts, stored durably in SQLite: every verdict kept, the latest one counts.

One :class:`VerdictStore` is one database file in WAL mode with ``synchronous=FULL``: each
verdict is committed (and synced) before :meth:`VerdictStore.record` returns, so a verdict
the reviewer saw acknowledged survives the process being killed. One connection, guarded
by a lock, is the single writer; a threaded web server may share the store.

Each verdict records who gave it (``reviewer``) and whether it was given blind (``blind``:
the AI grade hidden until the label was submitted). A version-1 database (before ``blind``)
is upgraded in place when opened: its verdicts were not blind.
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

_SCHEMA_VERSION = 2

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
    at TEXT NOT NULL,
    blind INTEGER NOT NULL DEFAULT 0 CHECK (blind IN (0, 1))
);
CREATE INDEX IF NOT EXISTS verdicts_by_item ON verdicts (conversation_id, item_id, id);
"""

_COLUMNS = "id, conversation_id, item_id, reviewer, decision, tier, original_tier, reason, kind, at, blind"
_INSERT = (
    "INSERT INTO verdicts (conversation_id, item_id, reviewer, decision, tier, original_tier, reason, kind,"
    " at, blind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ADD_BLIND = "ALTER TABLE verdicts ADD COLUMN blind INTEGER NOT NULL DEFAULT 0 CHECK (blind IN (0, 1))"


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
    number, conversation_id, item_id, reviewer, decision, tier, original, reason, kind, at, blind = row
    verdict = ReviewVerdict.model_validate(
        {
            "reviewer": reviewer,
            "decision": decision,
            "tier": tier,
            "original_tier": original,
            "reason": reason,
            "kind": kind,
            "at": at,
            "blind": bool(blind),
        }
    )
    return StoredVerdict(
        id=int(str(number)), conversation_id=str(conversation_id), item_id=str(item_id), verdict=verdict
    )


def _values(conversation_id: str, item_id: str, v: ReviewVerdict, at: str) -> tuple[object, ...]:
    """A verdict as the row inserted."""
    fields = (v.reviewer, v.decision, v.tier, v.original_tier, v.reason, v.kind, at, int(v.blind))
    return (conversation_id, item_id, *fields)


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
            self._upgrade(version)
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            if is_corrupt(exc):
                raise LLMGraderError(f"{self.path}: not a verdict database: {exc}") from None
            raise LLMGraderError(
                f"{self.path}: cannot open the verdict database: {exc} (another process may be writing "
                "it: try again when it has finished)"
            ) from None

    def _upgrade(self, version: int) -> None:
        """Bring an older database's table to this schema (version 1 had no ``blind``)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(verdicts)")}
        if columns and "blind" not in columns:
            self._db.execute(_ADD_BLIND)

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
            cursor = self._db.execute(_INSERT, _values(conversation_id, item_id, v, v.at))
            number = cursor.lastrowid
        assert number is not None
        return StoredVerdict(id=number, conversation_id=conversation_id, item_id=item_id, verdict=verdict)

    def record_many(self, entries: list[tuple[str, str, ReviewVerdict]]) -> int:
        """Store several verdicts in one transaction (all or none); returns how many."""
        at = _now()
        rows = [_values(c, i, v, v.at or at) for c, i, v in entries]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(_INSERT, rows)
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

    def labels(self) -> list[StoredVerdict]:
        """The verdicts that are human labels, oldest first.

        Per (conversation, item): the latest verdict, and besides it each reviewer's latest
        blind label on the item. A blind label is a measurement of its own (two reviewers
        grading an item blind give the human–human ceiling): no later verdict replaces it.
        """
        latest: dict[tuple[str, str], StoredVerdict] = {}
        blind: dict[tuple[str, str, str], StoredVerdict] = {}
        for s in self.history():
            latest[(s.conversation_id, s.item_id)] = s
            if s.verdict.blind:
                blind[(s.conversation_id, s.item_id, s.verdict.reviewer)] = s
        chosen = {s.id: s for s in [*latest.values(), *blind.values()]}
        return [chosen[n] for n in sorted(chosen)]

    def count(self) -> int:
        """How many verdicts are stored (history included)."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM verdicts").fetchone()[0])
