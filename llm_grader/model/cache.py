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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..types import Usage
from .base import Judge, JudgeRequest, ModelResult

__all__ = ["CachedJudge", "ResultCache", "default_cache_path"]


def default_cache_path() -> Path:
    """``$LLM_GRADER_CACHE_DIR/answers.sqlite``, else the per-user cache directory's."""
    override = os.environ.get("LLM_GRADER_CACHE_DIR")
    if override:
        return Path(override) / "answers.sqlite"
    import platformdirs

    return Path(platformdirs.user_cache_dir("llm-grader", appauthor=False)) / "answers.sqlite"


class ResultCache:
    """Answers on disk (SQLite); the connection opens on first use and again after ``close``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("pragma journal_mode=wal")
            db.execute("create table if not exists answers (key text primary key, value text not null)")
            self._db = db
        return self._db

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
        with self._lock:
            row = self._connection().execute("select value from answers where key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str) -> None:
        """Store an answer JSON."""
        with self._lock:
            self._connection().execute("insert or replace into answers values (?, ?)", (key, value))

    def close(self) -> None:
        """Close the database (it reopens on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class CachedJudge:
    """A judge whose validated answers are kept in a :class:`ResultCache`."""

    def __init__(self, inner: Judge, cache: ResultCache) -> None:
        self.inner = inner
        self.cache = cache

    @property
    def identity(self) -> Mapping[str, Any]:
        """The wrapped judge's identity."""
        return self.inner.identity

    async def judge(self, request: JudgeRequest) -> ModelResult:
        """The stored answer if it still validates, else the wrapped judge's (stored when valid)."""
        key = ResultCache.key(self.inner.identity, request.messages, request.schema, request.sample)
        stored = self.cache.get(key)
        if stored is not None:
            try:
                answer = request.response_model.model_validate_json(stored)
            except ValidationError:
                pass  # e.g. a stricter verifier now: ask again
            else:
                return ModelResult(answer=answer, raw=stored, cached=True, usage=Usage(cached_calls=1))
        result = await self.inner.judge(request)
        if result.answer is not None and result.raw:
            self.cache.put(key, result.raw)
        return result

    async def aclose(self) -> None:
        """Close the wrapped judge and the cache."""
        await self.inner.aclose()
        self.cache.close()
