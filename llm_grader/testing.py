"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, for tests and offline demos.

It speaks just enough of ``POST /v1/chat/completions`` for the real ``openai`` SDK and
``instructor`` to run unchanged: a *responder* function sees each request body and says
what to answer — a structured answer (sent as a tool call, JSON content or a fenced JSON
block, whichever the request's mode expects), an HTTP error with headers, a delay past
the client's timeout, a dropped connection, or raw content (malformed JSON). Every
request is recorded.

    with FakeOpenAIServer(responder) as server:
        grader = Grader(rubric, model="fake", base_url=server.base_url, api_key="sk-test")
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeOpenAIServer",
    "Reply",
    "answer",
    "confusion_probabilities",
    "error",
    "item_of",
    "raw",
    "refusal",
    "simulated_responder",
    "top_tier_responder",
]


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
    message: dict[str, Any], *, finish_reason: str, usage: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}
        ],
        "usage": usage or _USAGE,
    }


def answer(
    request: dict[str, Any], obj: Any, *, finish_reason: str = "stop", usage: dict[str, Any] | None = None
) -> Reply:
    """Answer with ``obj`` in the form the request's structured-output mode expects."""
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
    return Reply(body=_completion({"content": text}, finish_reason=finish_reason, usage=usage))


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

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def handle(self) -> None:
                # The client may give up on a connection (timeout and drop tests).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().handle()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
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

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
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


_ITEM = re.compile(r"(?:编号|\(id) ([A-Za-z_][A-Za-z0-9_]*)")


def item_of(request: dict[str, Any]) -> str:
    """The rubric item a request asks about (read from its item block)."""
    text = "".join(str(m.get("content") or "") for m in request["messages"] if m.get("role") == "user")
    found = _ITEM.findall(text)
    if not found:
        raise ValueError("no item id in the request")
    return str(found[-1])


def top_tier_responder(rubric: Any, *, delay: float = 0.0) -> Responder:
    """Answer every item of ``rubric`` with its top tier, no evidence, no flag raised."""

    def respond(request: dict[str, Any]) -> Reply:
        item = rubric.item(item_of(request))
        if item.deduction is not None:
            obj: dict[str, Any] = {"occurrences": [], "rationale": "未发现"}
        else:
            obj = {"evidence": [], "rationale": "符合标准", "tier": max(item.tiers, key=item.tier_points).id}
            if item.flags:
                obj["flags"] = {f.id: False for f in item.flags}
        reply = answer(request, obj)
        reply.delay = delay
        return reply

    return respond


def confusion_probabilities(tiers: list[str], error_rate: float) -> dict[str, dict[str, float]]:
    """The simulated grader's known confusion: P(answer | truth), tiers in order.

    It keeps the true tier with probability ``1 - error_rate`` and otherwise moves one tier
    up or down (each half of the error; all of it at either end of the scale).
    """
    out: dict[str, dict[str, float]] = {}
    for i, tier in enumerate(tiers):
        row = dict.fromkeys(tiers, 0.0)
        row[tier] = 1.0 - error_rate
        neighbours = [tiers[j] for j in (i - 1, i + 1) if 0 <= j < len(tiers)]
        for n in neighbours:
            row[n] += error_rate / len(neighbours)
        out[tier] = row
    return out


def _agent_quote(conversation: Any) -> dict[str, Any]:
    """The start of the agent's first turn, as evidence (a quote that always verifies)."""
    turn = next((n for n, t in enumerate(conversation.turns, 1) if t.speaker == "agent"), 1)
    return {"turn": turn, "quote": conversation.turns[turn - 1].text[:8]}


def simulated_responder(
    grader: Any,
    conversations: list[Any],
    truth: dict[tuple[str, str], dict[str, Any]],
    *,
    error_rates: dict[str, float] | float = 0.2,
    seed: int = 0,
    salt: str = "",
) -> Responder:
    """A simulated grader with a known confusion matrix, answering through the fake server.

    ``truth[(conversation_id, item_id)]`` holds ``tier``, ``flags`` and ``evidence`` (exact
    quotes). For each request the answer is drawn from :func:`confusion_probabilities` of the
    item's tiers (``not_applicable`` included when the item allows it), seeded by
    ``(seed, salt, conversation, item)`` so that the same request always gets the same answer,
    in any order. ``salt`` lets two prompt variants draw independently.
    """
    import hashlib

    rubric = grader.rubric
    first = next(i for _, i in rubric.items() if i.judge == "model")
    by_transcript = {grader.messages(first, c)[1]["content"]: c for c in conversations}

    def respond(request: dict[str, Any]) -> Reply:
        sent = request["messages"][1]["content"]
        conversation = next(c for t, c in by_transcript.items() if sent.startswith(t))
        item = rubric.item(item_of(request))
        expected = truth.get((conversation.id, item.id))
        order = [t.id for t in sorted(item.tiers, key=item.tier_points)]
        if item.not_applicable is not None:
            order.append("not_applicable")
        rate = error_rates if isinstance(error_rates, float) else error_rates.get(item.id, 0.0)
        digest = hashlib.sha256(f"{seed}|{salt}|{conversation.id}|{item.id}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        true_tier = expected["tier"] if expected else order[-1]
        tier = true_tier
        cumulative = 0.0
        for candidate, p in confusion_probabilities(order, rate)[true_tier].items():
            cumulative += p
            if draw < cumulative:
                tier = candidate
                break
        evidence = list(expected.get("evidence") or []) if expected else []
        if not evidence and tier not in (order[-1], "not_applicable"):
            evidence = [_agent_quote(conversation)]
        obj: dict[str, Any] = {"evidence": evidence, "rationale": f"模拟评分:{tier}", "tier": tier}
        if item.flags:
            flags = (expected or {}).get("flags") or {}
            obj["flags"] = {f.id: bool(flags.get(f.id, False)) for f in item.flags}
            if any(obj["flags"].values()) and not evidence:
                obj["evidence"] = [_agent_quote(conversation)]
        return answer(request, obj)

    return respond
