"""What the SQLite stores share: telling a damaged file from a busy one.

``database is locked`` (another process holds the write lock past the busy timeout), a full
disk or a read-only directory say nothing about the file; only ``SQLITE_CORRUPT`` and
``SQLITE_NOTADB`` (``database disk image is malformed``, ``file is not a database``) do.
"""

from __future__ import annotations

import sqlite3

BUSY_TIMEOUT = 10.0
"""Seconds a connection waits for another process's write lock before giving up."""

_CORRUPT = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)


def is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    """Whether ``exc`` says the file itself is damaged (not busy, locked, full or unreadable)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _CORRUPT
    message = str(exc)
    return "file is not a database" in message or "malformed" in message
