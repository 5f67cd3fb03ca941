"""The answer cache: validated answers on disk (SQLite), keyed by the canonical request.

:class:`CachedJudge` wraps any :class:`~llm_grader.llm.base.Judge`: a request whose key is
stored is answered from disk (and validated again, so a stricter verifier asks anew); only
answers that passed validation are stored, never failures and never the API key. The
default location is the per-user cache directory (``platformdirs``), or
``$LLM_GRADER_CACHE_DIR`` — never the caller's working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .._confidence import TokenLogprob
from .._sqlite import BUSY_TIMEOUT, is_corrupt
from ..types import Usage
from ._judge import Judge, JudgeRequest, JudgeWrapper, ModelResult, canonical_json, canonical_object

try:  # POSIX; elsewhere a damaged cache is moved aside without asking who has it open
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def default_cache_path() -> Path:
    """``$LLM_GRADER_CACHE_DIR/answers.sqlite``, else the per-user cache directory's."""
    override = os.environ.get("LLM_GRADER_CACHE_DIR")
    if override:
        return Path(override) / "answers.sqlite"
    import platformdirs

    return Path(platformdirs.user_cache_dir("llm-grader", appauthor=False)) / "answers.sqlite"


class CacheWarning(UserWarning):
    """The answer cache was damaged (set aside) or could not be used for a while; grading goes on."""


class ResultCache:
    """Answers on disk (SQLite); the connection opens on first use and again after ``close``.

    Several processes may share one cache: a read or write waits up to ``busy_timeout``
    seconds for another process's write lock, and when that is not enough the answer is
    simply not read or stored (one :class:`CacheWarning`) — a busy cache is never taken for a
    damaged one. Only a file SQLite finds damaged (``file is not a database``, ``database
    disk image is malformed``, confirmed by ``PRAGMA quick_check``) is moved aside, to
    ``<name>.corrupt-<time>`` with a one-line warning naming it, and a fresh cache is used —
    and never while another llm-grader process has it open (each holds a shared lock on
    ``<name>.lock``): then this run goes on without the cache. The answers are a saving,
    never a reason for a run to fail.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._holder: int | None = None
        """The descriptor holding the shared lock on ``<name>.lock`` while the cache is open."""
        self._off = False
        """Set when the file is damaged but open elsewhere: this cache reads and stores nothing."""
        self._warned: set[str] = set()
        self._pending: dict[str, str] = {}
        """Answers handed to the writer thread and not written yet, by key."""
        self._pending_lock = threading.Lock()
        self._writes: ThreadPoolExecutor | None = None
        self._behind: ResultCache | None = None
        """The writer thread's cache (a connection of its own), made on the first :meth:`put_later`."""

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._holder is None:
            self._holder = _hold(self.path, exclusive=False)
        db = sqlite3.connect(
            self.path, timeout=self.busy_timeout, check_same_thread=False, isolation_level=None
        )
        try:
            db.execute(f"pragma busy_timeout={int(self.busy_timeout * 1000)}")
            db.execute("pragma journal_mode=wal")
            db.execute("create table if not exists answers (key text primary key, value text not null)")
            db.execute("select key, value from answers limit 1").fetchall()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._db = self._open()
            except sqlite3.DatabaseError as exc:
                if not is_corrupt(exc) or not self._set_aside(exc):
                    raise
                self._db = self._open()
        return self._db

    def _release(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        holder, self._holder = self._holder, None
        if holder is not None:
            os.close(holder)  # closing the descriptor releases the lock

    def _damaged(self) -> bool:
        """``PRAGMA quick_check`` on a connection of its own: whether the file really is damaged."""
        try:
            db = sqlite3.connect(self.path, timeout=self.busy_timeout)
        except sqlite3.DatabaseError as exc:
            return is_corrupt(exc)
        try:
            return str(db.execute("pragma quick_check(1)").fetchone()[0]) != "ok"
        except sqlite3.DatabaseError as exc:
            return is_corrupt(exc)
        finally:
            db.close()

    def _set_aside(self, exc: sqlite3.DatabaseError) -> bool:
        """Move a damaged file (and its -wal, -shm) aside; False when it is not to be moved.

        Not moved when ``quick_check`` finds it sound, nor while another process has it open:
        then this cache is off for the rest of the run.
        """
        self._release()
        if not self._damaged():
            return False
        try:
            holder = _hold(self.path, exclusive=True)
        except BlockingIOError:
            self._off = True
            self._warn(
                "in use",
                f"answer cache {str(self.path)!r} is damaged ({exc}) but another llm-grader process has it "
                "open: not moved; this run goes on without the cache",
            )
            return False
        try:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                part = self.path.with_name(self.path.name + suffix)
                if part.exists():
                    part.replace(aside.with_name(aside.name + suffix))
        finally:
            if holder is not None:
                os.close(holder)
        warnings.warn(
            f"answer cache {str(self.path)!r} is damaged ({exc}); moved to {aside.name!r}, "
            "continuing with a fresh one",
            CacheWarning,
            stacklevel=5,
        )
        return True

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self._warned:  # once per kind and cache: a long run is not flooded
            self._warned.add(kind)
            warnings.warn(message, CacheWarning, stacklevel=5)

    def _run(self, sql: str, args: tuple[str, ...]) -> list[Any]:
        with self._lock:
            if self._off:
                return []
            try:
                try:
                    return self._connection().execute(sql, args).fetchall()
                except sqlite3.DatabaseError as exc:  # damaged while in use: set aside, go on fresh
                    if self._db is None or not is_corrupt(exc) or not self._set_aside(exc):
                        raise
                    return self._connection().execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:  # busy past the timeout, full, read-only: do without
                if self._off:
                    return []
                self._warn(
                    "busy",
                    f"answer cache {str(self.path)!r} could not be used ({exc}; another process may be "
                    f"writing it): an answer was not read or stored, grading goes on",
                )
                return []

    @staticmethod
    def key(identity: Mapping[str, Any], request: JudgeRequest) -> str:
        """sha256 of the canonical request: the judge's identity, messages, schema, sample.

        The same key as ever (``{"v": 1, **identity, "messages", "schema", "sample"}`` as
        canonical JSON), assembled from the request's parts serialised once
        (:attr:`JudgeRequest.canonical`), so caches written before stay valid.
        """
        parts = {"v": "1", **{k: canonical_json(v) for k, v in identity.items()}, **request.canonical}
        return hashlib.sha256(canonical_object(parts).encode()).hexdigest()

    def get(self, key: str) -> str | None:
        """The stored answer JSON (or one :meth:`put_later` is writing), or None."""
        with self._pending_lock:
            pending = self._pending.get(key)
        if pending is not None:
            return pending
        rows = self._run("select value from answers where key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def put(self, key: str, value: str) -> None:
        """Store an answer JSON."""
        self._run("insert or replace into answers values (?, ?)", (key, value))

    def put_later(self, key: str, value: str) -> None:
        """Store an answer JSON on the writer thread; the caller does not wait for the disk."""
        with self._pending_lock:
            self._pending[key] = value
        if self._writes is None or self._behind is None:
            self._behind = ResultCache(self.path, busy_timeout=self.busy_timeout)
            self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-grader-cache")
        self._writes.submit(self._write_behind, self._behind, key, value)

    def _write_behind(self, behind: ResultCache, key: str, value: str) -> None:
        try:
            behind.put(key, value)
        finally:
            with self._pending_lock:
                if self._pending.get(key) is value:
                    del self._pending[key]

    def close(self) -> None:
        """Wait for the writes :meth:`put_later` started, then close the database (it reopens on next use)."""
        writes, self._writes = self._writes, None
        if writes is not None:
            writes.shutdown(wait=True)
        behind, self._behind = self._behind, None
        if behind is not None:
            behind.close()
        with self._lock:
            self._release()

    def __del__(self) -> None:
        # A cache dropped without close() lets go of its lock, so the file is not thought in use.
        holder, self._holder = getattr(self, "_holder", None), None
        if holder is not None:
            os.close(holder)


def _hold(path: Path, *, exclusive: bool) -> int | None:
    """A lock on ``<path>.lock``: shared while a cache is open, exclusive to move the file aside.

    The exclusive one raises :class:`BlockingIOError` when another process has the cache open.
    None where there is no ``fcntl`` or the lock file cannot be made (then nobody is known to
    have the cache open).
    """
    if fcntl is None:
        return None
    try:
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        return None
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX | fcntl.LOCK_NB) if exclusive else fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        if exclusive:
            raise BlockingIOError(f"{path} is open in another process") from None
        return None
    return fd


class CachedJudge(JudgeWrapper):
    """A judge whose validated answers are kept in a :class:`ResultCache`."""

    def __init__(self, inner: Judge, cache: ResultCache) -> None:
        super().__init__(inner)
        self.cache = cache

    async def judge(self, request: JudgeRequest) -> ModelResult:
        """The stored answer if it still validates, else the wrapped judge's (stored when valid)."""
        key = ResultCache.key(self.inner.identity, request)
        stored = self.cache.get(key)
        if stored is not None:
            try:
                context = dict(request.context) if request.context is not None else None
                answer = request.response_model.model_validate_json(stored, context=context)
            except ValidationError:
                pass  # e.g. a stricter verifier now: ask again
            else:
                return ModelResult(
                    answer=answer,
                    raw=stored,
                    cached=True,
                    usage=Usage(cached_calls=1),
                    logprobs=_load_logprobs(self.cache.get(key + _LOGPROBS)),
                )
        result = await self.inner.judge(request)
        if result.answer is not None and result.raw:  # stored on the cache's thread: no fsync on the loop
            if result.logprobs:  # beside the answer (first, so an answer read back has them): its confidence
                self.cache.put_later(key + _LOGPROBS, json.dumps([astuple(t) for t in result.logprobs]))
            self.cache.put_later(key, result.raw)
        return result

    async def aclose(self) -> None:
        """Close the wrapped judge and the cache."""
        await self.inner.aclose()
        self.cache.close()


_LOGPROBS = "#logprobs"
"""Suffix of the key under which an answer's token logprobs are kept."""


def _load_logprobs(stored: str | None) -> tuple[TokenLogprob, ...] | None:
    """Token logprobs as :class:`CachedJudge` stored them (None: none stored, or unreadable)."""
    if not stored:
        return None
    try:
        return tuple(TokenLogprob(t, lp, tuple((a, b) for a, b in top)) for t, lp, top in json.loads(stored))
    except (ValueError, TypeError):
        return None
