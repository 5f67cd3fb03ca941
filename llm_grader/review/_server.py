"""Serving the review app: a threaded ``wsgiref`` server, on loopback unless told otherwise.

:func:`start_review_server` binds (port 0: any free port) and returns a
:class:`ReviewServer` with the URL to open; ``serve_forever()`` runs it, ``shutdown()`` (from
another thread) stops it. Bound to anything but loopback, the server makes a random token
that every request must carry; the URL it gives includes the token.

The server queues up to :data:`LISTEN_BACKLOG` connections not yet accepted (a burst of posts
from a team is not reset), and a request that does not arrive whole within
``request_timeout`` seconds (headers, then a body of its ``Content-Length``) is answered
``408`` and closed, so a client that stalls holds one thread for that long at most.
"""

from __future__ import annotations

import io
import ipaddress
import secrets
import socket
import time
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from ._review_batch import ReviewBatch
from ._store import VerdictStore
from ._web import ReviewApp

LISTEN_BACKLOG = 1024
"""Connections the kernel queues before the server accepts them (the socketserver default is 5)."""
REQUEST_TIMEOUT = 10.0
"""Seconds a request may take to arrive, headers and body; then it is answered 408 and closed."""
_PREREAD = 1024 * 1024
"""Bodies up to this size are read (against the deadline) before the app sees the request;
a larger one is refused by the app (413) without being read."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG
    request_timeout = REQUEST_TIMEOUT


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """Requests with a deadline; no access log on the terminal (it would repeat conversation ids)."""

    def setup(self) -> None:
        super().setup()
        limit: float = getattr(self.server, "request_timeout", REQUEST_TIMEOUT)
        self.deadline = time.monotonic() + limit
        self.connection.settimeout(limit)

    def handle(self) -> None:
        """``WSGIRequestHandler.handle``, the body read against the deadline first."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except TimeoutError:  # connected and sent nothing: close
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        try:
            if not self.parse_request():  # an error was sent
                return
            body = self._body()
        except TimeoutError:
            self.close_connection = True
            self.send_error(408, "the request did not arrive in time")
            return
        stdin, stdout = cast("IO[bytes]", body), cast("IO[bytes]", self.wfile)
        handler = ServerHandler(stdin, stdout, self.get_stderr(), self.get_environ(), multithread=False)
        handler.request_handler = self  # type: ignore[attr-defined]  # as wsgiref does, for logging
        handler.run(self.server.get_app())  # type: ignore[attr-defined]

    def _body(self) -> io.BufferedIOBase:
        """The body, read whole before the deadline (TimeoutError when it does not arrive)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self.rfile  # the app answers 400
        if length <= 0 or length > _PREREAD:
            return self.rfile
        chunks, remaining = [], length
        while remaining:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.connection.settimeout(left)
            chunk = self.rfile.read1(remaining)
            if not chunk:  # the client closed early: the app sees what came
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return io.BytesIO(b"".join(chunks))

    def log_message(self, format: str, *args: Any) -> None:
        return


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ReviewServer:
    """A bound review server: ``url`` to open (with the token when there is one)."""

    server: WSGIServer
    app: ReviewApp
    url: str

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` is called from another thread."""
        self.server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()


def start_review_server(
    batch: ReviewBatch,
    store: VerdictStore,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    reviewer: str = "",
    low_agreement: float = 0.8,
    request_timeout: float = REQUEST_TIMEOUT,
    blind: bool = False,
) -> ReviewServer:
    """Bind a review server for ``batch`` recording into ``store`` (not serving yet).

    ``request_timeout``: seconds a request may take to arrive (then 408 and closed).
    ``blind``: each item's AI grade is hidden from a reviewer until they have labelled it.
    """
    if not request_timeout > 0:
        raise ValueError(f"request_timeout must be above 0 (got {request_timeout!r})")
    bare = host.strip("[]")
    server_class = _Server6 if ":" in bare else _Server
    server = server_class((bare, port), _QuietHandler)
    server.request_timeout = request_timeout
    bound = server.server_address[1]
    shown = f"[{bare}]" if ":" in bare else bare
    if bare in ("0.0.0.0", "::"):  # every interface: name the machine in the URL
        shown = socket.gethostname()
    if is_loopback(bare):
        names = {shown, "127.0.0.1", "localhost", "[::1]"}
        app = ReviewApp(
            batch,
            store,
            reviewer=reviewer,
            allowed_hosts={f"{n}:{bound}" for n in names},
            low_agreement=low_agreement,
            blind=blind,
        )
        url = f"http://{shown}:{bound}/"
    else:
        token = secrets.token_urlsafe(24)
        app = ReviewApp(
            batch, store, reviewer=reviewer, token=token, low_agreement=low_agreement, blind=blind
        )
        url = f"http://{shown}:{bound}/?token={token}"
    server.set_app(app)
    return ReviewServer(server=server, app=app, url=url)
