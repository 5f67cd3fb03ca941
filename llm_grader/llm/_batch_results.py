"""The downloaded results of a batch: its lines by custom id, read from disk when asked.

A line is an answer's completion body or an error. A line of the wrong shape — a
``response`` or ``error`` that is not an object, a ``usage`` that is not token counts, a
line that is not JSON — is an error line, so its request is asked again by an ordinary
call: one bad line never costs a conversation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, kw_only=True)
class BatchLine:
    """One downloaded result: the completion's body, or why there is none."""

    custom_id: str
    completion: dict[str, Any] | None = None
    error: str | None = None


_USAGE_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _usage_problem(usage: Any) -> str | None:
    """Why a completion's ``usage`` is not token counts, or None (absent is fine)."""
    if usage is None:
        return None
    if not isinstance(usage, dict):
        return "usage is not an object"
    bad = [k for k in _USAGE_COUNTS if k in usage and usage[k] is not None and not _count(usage[k])]
    details = usage.get("prompt_tokens_details")
    if details is not None and not (isinstance(details, dict) and _count(details.get("cached_tokens") or 0)):
        bad.append("prompt_tokens_details")
    return f"usage {', '.join(bad)} is not a token count" if bad else None


def _line(data: Any) -> BatchLine:
    """One results line as an answer's body or an error; a malformed line is an error line."""
    if not isinstance(data, dict):
        return BatchLine(custom_id="", error="malformed results line: not an object")
    cid = str(data.get("custom_id"))
    response, error = data.get("response"), data.get("error")
    for name, value in (("response", response), ("error", error)):
        if value is not None and not isinstance(value, dict):
            return BatchLine(custom_id=cid, error=f"malformed results line: {name} is not an object")
    response, error = response or {}, error or {}
    status, body = response.get("status_code"), response.get("body")
    if status == 200 and isinstance(body, dict) and not error:
        problem = _usage_problem(body.get("usage"))
        if problem is not None:
            return BatchLine(custom_id=cid, error=f"malformed results line: {problem}")
        return BatchLine(custom_id=cid, completion=body)
    detail = body.get("error") if isinstance(body, dict) else None
    detail = detail if isinstance(detail, dict) else {}
    message = error.get("message") or detail.get("message") or "no answer"
    code = error.get("code") or (f"HTTP {status}" if status else "error")
    return BatchLine(custom_id=cid, error=f"{code}: {message}")


class BatchResults:
    """The lines of downloaded output and error files, by custom id, read from disk when asked.

    An answer in an output file wins over an error line for the same id. An id on two lines
    of one file is not resolved silently: its line is a failed one naming both lines (the
    request is then asked again by an ordinary call).
    """

    def __init__(self, paths: Iterable[Path]) -> None:
        self._index: dict[str, tuple[Path, int, int]] = {}
        self._duplicates: dict[str, str] = {}
        for path in paths:
            offset = 0
            with path.open("rb") as f:
                for number, raw in enumerate(f, start=1):
                    try:
                        data = json.loads(raw) if raw.strip() else None
                    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
                        data = None
                    cid = data.get("custom_id") if isinstance(data, dict) else None
                    if isinstance(cid, str) and cid not in self._index:
                        self._index[cid] = (path, offset, number)
                    elif isinstance(cid, str) and self._index[cid][0] == path:
                        first = self._index[cid][2]
                        self._duplicates.setdefault(
                            cid, f"duplicate custom_id {cid!r} in {path.name} (lines {first} and {number})"
                        )
                    offset += len(raw)

    def __len__(self) -> int:
        return len(self._index)

    def get(self, cid: str) -> BatchLine | None:
        """The line of ``cid``, or None when the batch holds none."""
        found = self._index.get(cid)
        if found is None:
            return None
        if cid in self._duplicates:
            return BatchLine(custom_id=cid, error=self._duplicates[cid])
        path, offset, _ = found
        with path.open("rb") as f:
            f.seek(offset)
            return _line(json.loads(f.readline()))
