"""The answer cache: validated answers on disk (SQLite), keyed by the canonical request.

:class:`CachedJudge` wraps any :class:`~llm_grader.model.base.Judge`: a request whose key is
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
from dataclasses import astuple
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..confidence import TokenLogprob
from ..types import Usage
from .base import Judge, JudgeRequest, JudgeWrapper, ModelResult

__all__ = ["CacheWarning", "CachedJudge", "ResultCache", "default_cache_path"]


def default_cache_path() -> Path:
    """``$LLM_GRADER_CACHE_DIR/answers.sqlite``, else the per-user cache directory's."""
    override = os.environ.get("LLM_GRADER_CACHE_DIR")
    if override:
        return Path(override) / "answers.sqlite"
    import platformdirs

    return Path(platformdirs.user_cache_dir("llm-grader", appauthor=False)) / "answers.sqlite"


class CacheWarning(UserWarning):
    """The answer cache was damaged and has been set aside; grading goes on with a fresh one."""


class ResultCache:
    """Answers on disk (SQLite); the connection opens on first use and again after ``close``.

    A cache file that is not a database, or is damaged (truncated, garbage), is moved aside
    to ``<name>.corrupt-<time>`` with a one-line :class:`CacheWarning` naming it, and a fresh
    cache is used: the answers are a saving, never a reason for a run to fail.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
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
                self._set_aside(exc)
                self._db = self._open()
        return self._db

    def _set_aside(self, exc: sqlite3.DatabaseError) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                part.replace(aside.with_name(aside.name + suffix))
        warnings.warn(
            f"answer cache {str(self.path)!r} is damaged ({exc}); moved to {aside.name!r}, "
            "continuing with a fresh one",
            CacheWarning,
            stacklevel=4,
        )

    def _run(self, sql: str, args: tuple[str, ...]) -> list[Any]:
        with self._lock:
            try:
                return self._connection().execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:  # damaged while in use: set aside, go on fresh
                self._set_aside(exc)
                return self._connection().execute(sql, args).fetchall()

    @staticmethod
    def key(
        identity: Mapping[str, Any], messages: list[dict[str, str]], schema: dict[str, Any], sample: int
    ) -> str:
        """sha256 of the canonical request: the judge's identity, messages, schema, sample."""
        canonical = {"v": 1, **identity, "messages": messages, "schema": schema, "sample": sample}
        text = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        """The stored answer JSON, or None."""
        rows = self._run("select value from answers where key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def put(self, key: str, value: str) -> None:
        """Store an answer JSON."""
        self._run("insert or replace into answers values (?, ?)", (key, value))

    def close(self) -> None:
        """Close the database (it reopens on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class CachedJudge(JudgeWrapper):
    """A judge whose validated answers are kept in a :class:`ResultCache`."""

    def __init__(self, inner: Judge, cache: ResultCache) -> None:
        super().__init__(inner)
        self.cache = cache

    async def judge(self, request: JudgeRequest) -> ModelResult:
        """The stored answer if it still validates, else the wrapped judge's (stored when valid)."""
        key = ResultCache.key(self.inner.identity, request.messages, request.schema, request.sample)
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
        if result.answer is not None and result.raw:
            self.cache.put(key, result.raw)
            if result.logprobs:  # beside the answer: a cached grade keeps its confidence
                self.cache.put(key + _LOGPROBS, json.dumps([astuple(t) for t in result.logprobs]))
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
