"""The scripted model server of ``eval/bench_model.py``, run in a process of its own.

:func:`serve` starts :class:`~llm_grader.testing.FakeOpenAIServer` on 127.0.0.1 with the
:class:`BenchResponder`, sends its base URL back over a pipe, then answers ``stats``,
``bodies`` (the request bodies since the last reset), ``reset`` and ``stop`` commands.
Running it in another process keeps the server's CPU out of the grading process's CPU time.

The responder

* answers every request validly with ``llm_grader.testing.top_tier_responder`` (each item
  asked, one or a group: its top tier, no evidence, no flag raised), as ``eval/demo_offline.py`` does;
* waits ``latency`` seconds per request in the handler thread (one thread per connection,
  so concurrent requests overlap; the largest number seen at once is reported);
* reports realistic usage: ``prompt_tokens`` = characters of the request's tools +
  response_format + messages (compact JSON) / :data:`CHARS_PER_TOKEN`, and ``cached_tokens`` =
  the prefix this request shares with the previous request of the same conversation, counted
  as OpenAI does (nothing below 1,024 tokens, then whole 128-token blocks);
* measures the cached-prefix ratio: the common prefix of all of one conversation's requests
  (same text, API order) over their mean length.

A conversation is recognised by its ``BENCH-<n>`` marker (the bench writes one into a turn),
else by its transcript message.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from llm_grader import load_rubric
from llm_grader.rubric import Rubric
from llm_grader.testing import FakeOpenAIServer, Reply, top_tier_responder

CHARS_PER_TOKEN = 1.5
"""Prompt-token heuristic: characters of tools + response_format + messages (compact JSON) / 1.5."""
CACHE_MIN_TOKENS = 1024
CACHE_BLOCK = 128
MARKER = re.compile(r"BENCH-\d+")


def request_text(body: dict[str, Any]) -> str:
    """What a provider's prefix cache sees, in API order: tools, response_format, messages."""
    parts = [body.get("tools"), body.get("response_format"), body.get("messages")]
    return "".join(json.dumps(p, ensure_ascii=False, separators=(",", ":")) for p in parts if p)


def tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def cached_tokens(shared_chars: int, prompt_tokens: int) -> int:
    """OpenAI's rule: a cache hit needs 1,024 tokens, then counts in whole 128-token blocks."""
    shared = min(shared_chars // CHARS_PER_TOKEN, prompt_tokens)
    return 0 if shared < CACHE_MIN_TOKENS else int(shared // CACHE_BLOCK * CACHE_BLOCK)


def common_prefix(a: str, b: str) -> int:
    """Length of the common prefix (binary search over slices: C-speed compares)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass
class _Conversation:
    last: str
    prefix: str
    requests: int = 1
    chars: int = 0


@dataclass
class Stats:
    """What the server saw since the last reset."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    conversations: dict[str, _Conversation] = field(default_factory=dict)

    def record(self, key: str, text: str) -> int:
        """Record one request; returns the characters it shares with the conversation's previous one."""
        seen = self.conversations.get(key)
        if seen is None:
            self.conversations[key] = _Conversation(last=text, prefix=text, chars=len(text))
            return 0
        shared = common_prefix(seen.last, text)
        seen.prefix = seen.prefix[: common_prefix(seen.prefix, text)]
        seen.last = text
        seen.requests += 1
        seen.chars += len(text)
        return shared

    def summary(self) -> dict[str, Any]:
        several = [c for c in self.conversations.values() if c.requests > 1]
        ratios = [len(c.prefix) / (c.chars / c.requests) for c in several]
        return {
            "requests": self.requests,
            "max_in_flight": self.max_in_flight,
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "conversations": len(self.conversations),
            "prefix_ratio": sum(ratios) / len(ratios) if ratios else None,
            "mean_request_chars": (
                sum(c.chars for c in self.conversations.values())
                / max(1, sum(c.requests for c in self.conversations.values()))
            ),
        }


class BenchResponder:
    """The library's top-tier answers, with realistic usage and a fixed latency; see the module docstring."""

    def __init__(self, rubric: Rubric, latency: float) -> None:
        self.answers = top_tier_responder(rubric)
        self.latency = latency
        self.stats = Stats()
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.stats = Stats()

    def __call__(self, request: dict[str, Any]) -> Reply:
        text = request_text(request)
        found = MARKER.search(text)
        key = found.group() if found else _transcript_key(request)
        prompt = tokens(len(text))
        with self.lock:
            stats = self.stats
            shared = stats.record(key, text)
            cached = cached_tokens(shared, prompt)
            stats.requests += 1
            stats.prompt_tokens += prompt
            stats.cached_tokens += cached
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            reply = self.answers(request)
            time.sleep(self.latency)  # this handler thread only; other connections go on
        finally:
            with self.lock:
                stats.in_flight -= 1
        assert reply.body is not None
        completion = tokens(len(_answer_text(reply.body)))
        reply.body["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        return reply


def _answer_text(body: dict[str, Any]) -> str:
    message = body["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    return str(message.get("content") or "") + "".join(c["function"]["arguments"] for c in calls)


def _transcript_key(request: dict[str, Any]) -> str:
    messages = request.get("messages") or [{}]
    content = str(messages[min(1, len(messages) - 1)].get("content") or "")
    return hashlib.sha1(content.encode()).hexdigest()


def serve(conn: Connection, rubric: str, latency: float) -> None:
    """Run the server until told to stop (the target of the bench's server process)."""
    responder = BenchResponder(load_rubric(rubric), latency)
    server = FakeOpenAIServer(responder)
    # socketserver listens with a backlog of 5; 64 clients connecting at once would see
    # SYNs dropped and retried a second later. Re-listening on Linux raises the backlog.
    server._httpd.socket.listen(1024)
    # The handler writes the headers and the body in two sends; with Nagle's algorithm on,
    # the body waits for the client's delayed ACK (~40 ms per request on Linux).
    server._httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    with server:
        conn.send(server.base_url)
        while True:
            command = conn.recv()
            if command == "bodies":
                # The bodies since the last reset, as sent: what the raw floor posts again.
                conn.send(list(server.requests))
                continue
            if command == "stats":
                with responder.lock:
                    conn.send(responder.stats.summary())
                continue
            # The server keeps every request body; the responder has already counted what it needs.
            server.requests.clear()
            server.headers.clear()
            server.paths.clear()
            if command == "reset":
                responder.reset()
                conn.send(None)
            else:
                conn.send(None)
                return
