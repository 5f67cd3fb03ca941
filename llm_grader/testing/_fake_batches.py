"""The Batch API of the fake server: ``/v1/files`` and ``/v1/batches``, with scripted outcomes.

Mounted by :class:`~llm_grader.testing.FakeOpenAIServer` (``batches=False`` leaves it out,
for an endpoint without a Batch API: those paths then answer 404). A batch answers each
line of its input file through the same responder as ``/v1/chat/completions`` (or the
script's own), a share of them per poll, and ends as its :class:`BatchScript` says:

- ``completed`` after ``polls`` retrieves (progress counts grow in between);
- ``expired`` with only ``expire_after`` lines done (the rest in the error file, code
  ``batch_expired``);
- per-line failures (``fail``): the line goes to the error file instead of being answered;
- ``failed`` at validation (``status="failed"``): nothing answered;
- a line whose reply is an HTTP error goes to the error file with that response;
- malformed results lines (``mangle``: the line as the file holds it), and a batch list that
  cannot be read (``list_error``); the list is paged (``limit``, ``after``) as OpenAI's is.

Invalid answers (a quote not in the transcript, an unknown tier) are the responder's to
give, so the client's fallback re-ask path can be exercised. Requests answered for a batch
are kept in :attr:`FakeBatches.lines`, never in the server's ``requests`` (which holds the
ordinary chat-completion calls only).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, urlparse


class _Reply(Protocol):
    """What a responder's reply gives a batch line (:class:`~llm_grader.testing.Reply` has it)."""

    @property
    def status(self) -> int: ...

    @property
    def body(self) -> dict[str, Any] | None: ...


Responder = Callable[[dict[str, Any]], _Reply]
"""Answers one request body (the server's :data:`~llm_grader.testing.Responder` is one)."""

Response = tuple[int, bytes, str]
"""An HTTP status, a body and its content type."""

_JSON = "application/json"


@dataclass
class BatchScript:
    """How the fake server's batches run (read at each poll, so a test may change it mid-way)."""

    polls: int = 1
    """Retrieves until the batch ends; it reports growing progress before that."""
    expire_after: int | None = None
    """End ``expired`` with only this many lines done; the rest are not answered."""
    fail: Callable[[dict[str, Any]], str | None] | None = None
    """Given an input line, an error message puts it in the error file instead of answering it."""
    responder: Responder | None = None
    """Answers the lines (default: the server's responder)."""
    status: Literal["failed"] | None = None
    """``failed``: the whole batch fails validation and nothing is answered."""
    list_error: int | None = None
    """Listing the batches (``GET /v1/batches``) answers this HTTP status instead."""
    mangle: Callable[[dict[str, Any]], Any] | None = None
    """Given a results line (output or error file), what the file holds instead (any JSON value)."""


def _json(status: int, obj: Any) -> Response:
    return status, json.dumps(obj, ensure_ascii=False).encode(), _JSON


def _not_found(what: str) -> Response:
    return _json(
        404, {"error": {"message": f"{what} not found", "type": "invalid_request_error", "code": None}}
    )


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    window: str
    metadata: dict[str, Any] | None
    lines: list[dict[str, Any]]
    created_at: int = field(default_factory=lambda: int(time.time()))
    status: str = "validating"
    polls: int = 0
    done: int = 0
    output: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    problem: str | None = None

    def body(self) -> dict[str, Any]:
        counts = {"total": len(self.lines), "completed": len(self.output), "failed": len(self.errors)}
        errors = None
        if self.problem:
            errors = {"object": "list", "data": [{"code": "invalid_request", "message": self.problem}]}
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": errors,
            "input_file_id": self.input_file_id,
            "completion_window": self.window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "request_counts": counts,
            "metadata": self.metadata,
        }


class FakeBatches:
    """The files and batches of one fake server, and what was done with them."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.script = BatchScript()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, _Batch] = {}
        self.created: list[dict[str, Any]] = []
        """The body of every ``POST /v1/batches``."""
        self.lines: list[dict[str, Any]] = []
        """The request body of every batch line answered."""
        self.calls: list[tuple[str, str]] = []
        """Every files/batches call: (method, path)."""
        self._meta: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @staticmethod
    def handles(path: str) -> bool:
        """Whether ``path`` is one of the files or batches endpoints."""
        return urlparse(path).path.startswith(("/v1/files", "/v1/batches"))

    # ------------------------------------------------------------------ files

    def _store(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = content
        meta = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        self._meta[file_id] = meta
        return meta

    def _upload(self, data: bytes, content_type: str) -> Response:
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + data)
        fields: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[str(name)] = (
                str(part.get_filename() or ""),
                payload if isinstance(payload, bytes) else b"",
            )
        if "file" not in fields or "purpose" not in fields:
            return _json(
                400, {"error": {"message": "file and purpose are required", "type": "invalid_request_error"}}
            )
        filename, content = fields["file"]
        return _json(200, self._store(content, filename, fields["purpose"][1].decode()))

    # ------------------------------------------------------------------ batches

    def _create(self, body: dict[str, Any]) -> Response:
        self.created.append(body)
        content = self.files.get(str(body.get("input_file_id")))
        if content is None:
            return _not_found(f"file {body.get('input_file_id')!r}")
        lines = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        batch = _Batch(
            id=f"batch_{next(self._ids)}",
            input_file_id=str(body["input_file_id"]),
            endpoint=str(body.get("endpoint")),
            window=str(body.get("completion_window")),
            metadata=body.get("metadata"),
            lines=lines,
        )
        ids = [line.get("custom_id") for line in lines]
        if len(set(ids)) != len(ids):
            batch.problem = "custom_id values must be unique within a batch"
        elif any(line.get("method") != "POST" or line.get("url") != batch.endpoint for line in lines):
            batch.problem = f"every line must be a POST to {batch.endpoint}"
        if batch.problem:
            batch.status = "failed"
        self.batches[batch.id] = batch
        return _json(200, batch.body())

    def _answer(self, batch: _Batch, line: dict[str, Any]) -> None:
        script = self.script
        number = len(batch.output) + len(batch.errors) + 1
        base = {"id": f"batch_req_{batch.id}_{number}", "custom_id": line.get("custom_id")}
        problem = script.fail(line) if script.fail else None
        if problem:
            batch.errors.append(
                {**base, "response": None, "error": {"code": "server_error", "message": problem}}
            )
            return
        self.lines.append(line["body"])
        reply = (script.responder or self.responder)(line["body"])
        response = {"status_code": reply.status, "request_id": f"req_{number}", "body": reply.body}
        (batch.output if reply.status == 200 else batch.errors).append(
            {**base, "response": response, "error": None}
        )

    def _file(self, batch: _Batch, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        mangle = self.script.mangle or (lambda line: line)
        content = "".join(json.dumps(mangle(line), ensure_ascii=False) + "\n" for line in lines).encode()
        return str(self._store(content, f"{batch.id}_output.jsonl", "batch_output")["id"])

    def _finish(self, batch: _Batch, status: str) -> None:
        if status == "expired":
            for line in batch.lines[batch.done :]:
                message = "This request could not be executed before the completion window expired."
                batch.errors.append(
                    {
                        "id": f"batch_req_{batch.id}_x{batch.done}",
                        "custom_id": line.get("custom_id"),
                        "response": None,
                        "error": {"code": "batch_expired", "message": message},
                    }
                )
                batch.done += 1
        batch.status = status
        batch.output_file_id = self._file(batch, batch.output)
        batch.error_file_id = self._file(batch, batch.errors)

    def _poll(self, batch: _Batch) -> None:
        if batch.status in ("completed", "expired", "failed", "cancelled"):
            return
        script = self.script
        batch.polls += 1
        if script.status == "failed":
            batch.problem = "the input file failed validation (scripted)"
            batch.status = "failed"
            return
        total = len(batch.lines)
        target = min(total, math.ceil(total * batch.polls / max(script.polls, 1)))
        if script.expire_after is not None:
            target = min(target, script.expire_after)
        while batch.done < target:
            self._answer(batch, batch.lines[batch.done])
            batch.done += 1
        if batch.polls >= script.polls:
            self._finish(batch, "completed" if batch.done == total else "expired")
        else:
            batch.status = "in_progress"

    def _list(self, path: str) -> Response:
        """One page of the batches, newest first (``limit``, default 20; ``after`` a batch id)."""
        if self.script.list_error is not None:
            status = self.script.list_error
            return _json(status, {"error": {"message": "listing failed (scripted)", "type": "server_error"}})
        query = parse_qs(urlparse(path).query)
        limit = int(query.get("limit", ["20"])[0])
        newest = [b.body() for b in reversed(self.batches.values())]
        after = query.get("after", [None])[0]
        start = next((i + 1 for i, b in enumerate(newest) if b["id"] == after), 0) if after else 0
        page = newest[start : start + limit]
        more = start + limit < len(newest)
        return _json(200, {"object": "list", "data": page, "has_more": more,
                           "first_id": page[0]["id"] if page else None,
                           "last_id": page[-1]["id"] if page else None})  # fmt: skip

    # ------------------------------------------------------------------ dispatch

    def post(self, path: str, data: bytes, content_type: str) -> Response:
        """Answer a POST to a files or batches path."""
        route = urlparse(path).path.rstrip("/").split("/")[2:]  # after /v1
        with self._lock:
            self.calls.append(("POST", path))
            if route == ["files"]:
                return self._upload(data, content_type)
            if route == ["batches"]:
                return self._create(json.loads(data or b"{}"))
            if len(route) == 3 and route[0] == "batches" and route[2] == "cancel":
                batch = self.batches.get(route[1])
                if batch is None:
                    return _not_found(f"batch {route[1]!r}")
                if batch.status not in ("completed", "expired", "failed", "cancelled"):
                    self._finish(batch, "cancelled")
                return _json(200, batch.body())
        return _not_found(path)

    def get(self, path: str) -> Response:
        """Answer a GET of a files or batches path."""
        route = urlparse(path).path.rstrip("/").split("/")[2:]
        with self._lock:
            self.calls.append(("GET", path))
            if route == ["batches"]:
                return self._list(path)
            if len(route) == 2 and route[0] == "batches":
                batch = self.batches.get(route[1])
                if batch is None:
                    return _not_found(f"batch {route[1]!r}")
                self._poll(batch)
                return _json(200, batch.body())
            if len(route) >= 2 and route[0] == "files" and route[1] in self.files:
                if route[2:] == ["content"]:
                    return 200, self.files[route[1]], "application/octet-stream"
                if not route[2:]:
                    return _json(200, self._meta[route[1]])
        return _not_found(path)
