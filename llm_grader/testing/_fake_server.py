"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, for tests and offline demos.

It speaks just enough of ``POST /v1/chat/completions`` for the real ``openai`` SDK and
``instructor`` to run unchanged: a *responder* function sees each request body and says
what to answer — a structured answer (sent as a tool call, JSON content or a fenced JSON
block, whichever the request's mode expects), an HTTP error with headers, a delay past
the client's timeout, a dropped connection, or raw content (malformed JSON). Every
request is recorded. ``/v1/files`` and ``/v1/batches`` (the Batch API, answering each
line through the same responder) are served by :mod:`.batches` unless ``batches=False``.

    with FakeOpenAIServer(responder) as server:
        settings = ModelSettings(model="fake", base_url=server.base_url, api_key=SecretStr("sk-test"))
        grader = Grader(rubric, model=settings)
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._fake_batches import FakeBatches
from ._logprobs import TierProbs, openai_logprobs, scripted_logprobs


@dataclass
class Reply:
    """What the server does with one request."""

    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (past the client's timeout: a timeout)."""
    drop: bool = False
    """Close the connection without answering."""


_USAGE = {
    "prompt_tokens": 100,
    "completion_tokens": 20,
    "total_tokens": 120,
    "prompt_tokens_details": {"cached_tokens": 0},
}


def _completion(
    message: dict[str, Any],
    *,
    finish_reason: str,
    usage: dict[str, Any] | None,
    logprobs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": finish_reason,
                "logprobs": logprobs,
            }
        ],
        "usage": usage or _USAGE,
    }


def answer(
    request: dict[str, Any],
    obj: Any,
    *,
    finish_reason: str = "stop",
    usage: dict[str, Any] | None = None,
    tier_probs: TierProbs | None = None,
) -> Reply:
    """Answer with ``obj`` in the form the request's structured-output mode expects.

    ``tier_probs`` scripts the content's token logprobs (one distribution per tier value,
    :func:`~llm_grader.testing._logprobs.scripted_logprobs`), sent as OpenAI does: only when the
    request asks ``logprobs`` (alternatives up to its ``top_logprobs``), and never for a tool
    call, whose arguments carry none.
    """
    text = json.dumps(obj, ensure_ascii=False)
    if request.get("tools"):
        choice = request.get("tool_choice")
        name = (
            choice["function"]["name"]
            if isinstance(choice, dict)
            else request["tools"][0]["function"]["name"]
        )
        message: dict[str, Any] = {
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": name, "arguments": text}}
            ],
        }
        return Reply(body=_completion(message, finish_reason=finish_reason, usage=usage))
    if request.get("response_format") is None:  # MD_JSON: a fenced block in prose
        text = f"评分如下:\n```json\n{text}\n```"
    logprobs = None
    if tier_probs is not None and request.get("logprobs"):
        tokens = scripted_logprobs(text, tier_probs, top=int(request.get("top_logprobs") or 0))
        logprobs = openai_logprobs(tokens)
    return Reply(
        body=_completion({"content": text}, finish_reason=finish_reason, usage=usage, logprobs=logprobs)
    )


def raw(content: str, *, finish_reason: str = "stop") -> Reply:
    """Answer with this exact message content (e.g. malformed JSON)."""
    return Reply(body=_completion({"content": content}, finish_reason=finish_reason, usage=None))


def refusal(text: str) -> Reply:
    """A refusal (``message.refusal`` set, no content)."""
    return Reply(body=_completion({"content": None, "refusal": text}, finish_reason="stop", usage=None))


def error(status: int, message: str = "error", headers: dict[str, str] | None = None) -> Reply:
    """An HTTP error in OpenAI's error shape."""
    return Reply(
        status=status,
        body={"error": {"message": message, "type": "fake", "code": None}},
        headers=headers or {},
    )


Responder = Callable[[dict[str, Any]], Reply]


class FakeOpenAIServer:
    """The server; use as a context manager. ``requests`` holds every request body."""

    def __init__(self, responder: Responder, *, batches: bool = True) -> None:
        self.responder = responder
        self.batches: FakeBatches | None = FakeBatches(responder) if batches else None
        """The Batch API's files, batches and script (None: the endpoint has no Batch API)."""
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm holds the
            # body back for the client's delayed ACK (about 40 ms per request).
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def handle(self) -> None:
                # The client may give up on a connection (timeout and drop tests).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().handle()

            def _send_raw(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if server.batches is None or not server.batches.handles(self.path):
                    self._send_raw(404, b'{"error": {"message": "Not Found"}}', "application/json")
                    return
                self._send_raw(*server.batches.get(self.path))

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                data = self.rfile.read(length)
                if FakeBatches.handles(self.path):
                    if server.batches is None:  # an endpoint without a Batch API
                        self._send_raw(404, b'{"error": {"message": "Not Found"}}', "application/json")
                        return
                    content_type = self.headers.get("content-type", "")
                    self._send_raw(*server.batches.post(self.path, data, content_type))
                    return
                body = json.loads(data or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    server.paths.append(self.path)
                reply = server.responder(body)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                data = json.dumps(reply.body or {}, ensure_ascii=False).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a timeout test)

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # many clients connect at once (the default backlog is 5)
            daemon_threads = True

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The URL to give the client (``http://127.0.0.1:PORT/v1``)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
