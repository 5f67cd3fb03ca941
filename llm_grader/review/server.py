"""Serving the review app: a threaded ``wsgiref`` server, on loopback unless told otherwise.

:func:`start_review_server` binds (port 0: any free port) and returns a
:class:`ReviewServer` with the URL to open; ``serve_forever()`` runs it, ``shutdown()`` (from
another thread) stops it. Bound to anything but loopback, the server makes a random token
that every request must carry; the URL it gives includes the token.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .batch import ReviewBatch
from .store import VerdictStore
from .web import ReviewApp

__all__ = ["ReviewServer", "is_loopback", "start_review_server"]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No access log on the terminal (it would repeat conversation ids all day)."""

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
    blind: bool = False,
) -> ReviewServer:
    """Bind a review server for ``batch`` recording into ``store`` (not serving yet).

    ``blind``: each item's AI grade is hidden from a reviewer until they have labelled it.
    """
    bare = host.strip("[]")
    server_class = _Server6 if ":" in bare else _Server
    server = server_class((bare, port), _QuietHandler)
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
