"""The review web app: a small WSGI application on the standard library.

Routes: ``GET /`` the queue, ``GET /c/<id>`` a conversation, ``POST /verdict`` a verdict
(then 303 back to the conversation), ``GET /export/human.csv`` and ``/export/review.csv``.

Protection, since transcripts are untrusted and verdicts are records: every page is
autoescaped and sent with a strict Content-Security-Policy (a nonce for the page's own style
and script, nothing else); a POST must carry the page's CSRF token and, when the browser says
where it comes from (``Origin``, ``Sec-Fetch-Site``), come from this origin; input is checked
(known conversation, item and tier, a reason where due) and refused with 400 and a message.
Bound to loopback, only the loopback ``Host`` names are answered (no DNS rebinding); bound
elsewhere, every request needs the server's random token (in the URL once, then a cookie).
"""

from __future__ import annotations

import hmac
import secrets
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from .._spreadsheet import csv_text
from ..types import ReviewVerdict
from ._blind import labelled
from ._pages import PageContext, conversation_page, error_page, href, list_page
from ._queue import Filters, summarise
from ._review_batch import MAX_REVIEWER, ReviewBatch, ReviewError
from ._sheet import HUMAN_COLUMNS, SHEET_COLUMNS, human_score_rows, sheet_rows
from ._store import VerdictStore

TOKEN_COOKIE = "llm_grader_review_token"
REVIEWER_COOKIE = "llm_grader_reviewer"
_MAX_BODY = 64 * 1024

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_REASONS = {200: "OK", 303: "See Other", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}
_REASONS |= {405: "Method Not Allowed", 413: "Content Too Large", 500: "Internal Server Error"}


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


class _Refused(Exception):
    """A request answered with an error page."""

    def __init__(self, status: int, title_key: str, message: str, back: str = "/") -> None:
        self.status, self.title_key, self.message, self.back = status, title_key, message, back
        super().__init__(message)


def _text(value: str) -> str:
    """A WSGI string (bytes as latin-1) as the UTF-8 text it carries."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: dict[str, str]
    cookies: dict[str, str]
    headers: dict[str, str]
    environ: Mapping[str, Any]

    @classmethod
    def of(cls, environ: Mapping[str, Any]) -> _Request:
        cookies = SimpleCookie()
        try:
            cookies.load(str(environ.get("HTTP_COOKIE", "")))
        except Exception:  # a malformed cookie header is ignored, as browsers do
            cookies = SimpleCookie()
        names = ("HTTP_HOST", "HTTP_ORIGIN", "HTTP_SEC_FETCH_SITE", "CONTENT_LENGTH", "CONTENT_TYPE")
        return cls(
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path=_text(str(environ.get("PATH_INFO", "/"))) or "/",
            query=dict(parse_qsl(_text(str(environ.get("QUERY_STRING", ""))), keep_blank_values=True)),
            cookies={k: m.value for k, m in cookies.items()},
            headers={n: str(environ.get(n, "")) for n in names},
            environ=environ,
        )

    def form(self) -> dict[str, str]:
        """The url-encoded body of a POST (413 when too large)."""
        try:
            length = int(self.headers["CONTENT_LENGTH"] or 0)
        except ValueError:
            raise _Refused(400, "review.error.title", "bad Content-Length") from None
        if length > _MAX_BODY:
            raise _Refused(413, "review.error.title", f"the form is larger than {_MAX_BODY} bytes")
        body = self.environ["wsgi.input"].read(length) if length > 0 else b""
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Refused(400, "review.error.title", f"unreadable form: {exc}") from None


def _headers(nonce: str, content_type: str = "text/html; charset=utf-8") -> list[tuple[str, str]]:
    policy = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return [
        ("Content-Type", content_type),
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-store"),
    ]


def _redirect(location: str, cookie: str) -> _Response:
    return _Response(
        303, b"", [("Location", location), ("Set-Cookie", cookie), ("Cache-Control", "no-store")]
    )


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class ReviewApp:
    """The WSGI application serving one batch and one verdict store.

    ``allowed_hosts``: the ``Host`` values answered (loopback); ``token``: when set, every
    request needs it (servers bound beyond loopback). ``reviewer`` prefills the name field.
    ``blind``: blind mode (:mod:`.blind`) — an item's AI grade is left out of the page until
    the reviewer (the name they last submitted with, else ``reviewer``) has labelled it; the
    exports, which carry grades and other reviewers' labels, are refused.
    """

    def __init__(
        self,
        batch: ReviewBatch,
        store: VerdictStore,
        *,
        reviewer: str = "",
        token: str | None = None,
        allowed_hosts: Iterable[str] | None = None,
        low_agreement: float = 0.8,
        blind: bool = False,
    ) -> None:
        self.batch = batch
        self.blind = blind
        self.store = store
        self.reviewer = reviewer
        self.token = token
        self.allowed_hosts = frozenset(allowed_hosts) if allowed_hosts is not None else None
        self.low_agreement = low_agreement
        self.csrf = secrets.token_urlsafe(24)

    def __call__(self, environ: Mapping[str, Any], start_response: StartResponse) -> list[bytes]:
        """Answer one request (WSGI)."""
        request = _Request.of(environ)
        nonce = secrets.token_urlsafe(16)
        try:
            response = self._guarded(request, nonce)
        except _Refused as refused:
            context = self._context(nonce, latest=False)
            page = error_page(context, refused.title_key, refused.message, refused.back)
            response = _Response(refused.status, page.encode(), _headers(nonce))
        except Exception:  # the page says so; the server keeps serving
            traceback.print_exc(file=sys.stderr)
            response = _Response(500, b"internal error", _headers(nonce, "text/plain; charset=utf-8"))
        start_response(f"{response.status} {_REASONS.get(response.status, '')}", response.headers)
        return [response.body] if request.method != "HEAD" else []

    # ------------------------------------------------------------------ access

    def _guarded(self, request: _Request, nonce: str) -> _Response:
        if self.token is not None:
            if not _same(request.cookies.get(TOKEN_COOKIE), self.token):
                return self._token_login(request)
        elif self.allowed_hosts is not None and request.headers["HTTP_HOST"] not in self.allowed_hosts:
            raise _Refused(
                403, "review.error.forbidden", "unexpected Host header: open the URL the server printed"
            )
        return self._route(request, nonce)

    def _token_login(self, request: _Request) -> _Response:
        """With the token in the URL: set the cookie and drop the token from the address."""
        assert self.token is not None
        if not _same(request.query.get("token"), self.token):
            message = "this review server needs its token: open the URL it printed"
            raise _Refused(403, "review.error.forbidden", message)
        rest = urlencode({k: v for k, v in request.query.items() if k != "token"})
        cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        location = quote(request.path) + (f"?{rest}" if rest else "")
        return _redirect(location, cookie)

    def _check_post(self, request: _Request, form: Mapping[str, str]) -> None:
        """CSRF: the page's token, and no cross-site origin."""
        origin = request.headers["HTTP_ORIGIN"]
        site = request.headers["HTTP_SEC_FETCH_SITE"]
        if origin and origin != f"http://{request.headers['HTTP_HOST']}":
            raise _Refused(403, "review.error.forbidden", f"cross-origin form from {origin!r} refused")
        if site and site not in ("same-origin", "none"):
            raise _Refused(403, "review.error.forbidden", "cross-site form refused")
        if not _same(form.get("csrf"), self.csrf):
            message = "the form is stale or forged: reload the page and try again"
            raise _Refused(403, "review.error.forbidden", message)

    # ------------------------------------------------------------------ routes

    def _context(self, nonce: str, request: _Request | None = None, *, latest: bool = True) -> PageContext:
        """What a page needs; ``latest=False`` (error pages) reads no verdicts."""
        name = unquote(request.cookies.get(REVIEWER_COOKIE, "")) if request else ""
        reviewer = (name or self.reviewer)[:MAX_REVIEWER]
        rows = summarise(self.batch, self.store.latest(), low_agreement=self.low_agreement) if latest else []
        mine = labelled(self.store.history(), reviewer) if latest and self.blind else {}
        return PageContext(
            batch=self.batch,
            rows=rows,
            verdict_count=self.store.count() if latest else 0,
            low_agreement=self.low_agreement,
            nonce=nonce,
            csrf=self.csrf,
            reviewer=reviewer,
            blind=self.blind,
            mine=mine,
        )

    def _route(self, request: _Request, nonce: str) -> _Response:
        path, method = request.path, request.method
        if path == "/verdict":
            if method != "POST":
                raise _Refused(405, "review.error.title", "POST a verdict from the conversation page")
            return self._post_verdict(request)
        if method not in ("GET", "HEAD"):
            raise _Refused(405, "review.error.title", f"{method} is not allowed here")
        if path == "/":
            page = list_page(self._context(nonce, request), request.query)
            return _Response(200, page.encode(), _headers(nonce))
        if path.startswith("/c/"):
            return self._conversation(request, nonce, path[3:])
        if path in ("/export/human.csv", "/export/review.csv"):
            if self.blind:
                message = "blind mode: the exports carry the AI grades; use `llm-grader review export`"
                raise _Refused(403, "review.error.forbidden", message)
            return self._export(path, nonce)
        raise _Refused(404, "review.error.not_found", f"no page {path!r}")

    def _conversation(self, request: _Request, nonce: str, conversation_id: str) -> _Response:
        try:
            self.batch.card(conversation_id)
        except ReviewError as exc:
            raise _Refused(404, "review.error.not_found", str(exc)) from None
        history = self.store.history(conversation_id)
        page = conversation_page(self._context(nonce, request), conversation_id, request.query, history)
        return _Response(200, page.encode(), _headers(nonce))

    def _export(self, path: str, nonce: str) -> _Response:
        if path == "/export/human.csv":
            body, name = csv_text(HUMAN_COLUMNS, human_score_rows(self.store.labels())), "human_scores.csv"
        else:
            rows = sheet_rows(self.batch, self.store.latest(), low_agreement=self.low_agreement)
            body, name = csv_text(SHEET_COLUMNS, rows), "review_sheet.csv"
        headers = _headers(nonce, "text/csv; charset=utf-8")
        headers.append(("Content-Disposition", f'attachment; filename="{name}"'))
        return _Response(200, ("\ufeff" + body).encode(), headers)

    def _check_blind(self, verdict: ReviewVerdict, blind_form: bool, cid: str, item_id: str) -> None:
        """A blind label only on a blind server, and only while the grade is hidden from its reviewer.

        A blind form from a reviewer who has labelled the item already (a stale page: the
        grade has been shown since) is refused, as is a blind form on a server not blind.
        """
        if not blind_form:
            return
        if not self.blind:
            raise ReviewError("this review server is not in blind mode: reload the page", field="blind")
        done = labelled(self.store.history(cid, item_id), verdict.reviewer)
        if done:
            raise ReviewError(
                f"{verdict.reviewer} has labelled item {item_id!r} already and its grade has been shown: "
                "reload the page to change the verdict",
                field="blind",
            )

    def _post_verdict(self, request: _Request) -> _Response:
        form = request.form()
        self._check_post(request, form)
        back = Filters.from_query(dict(parse_qsl(form.get("back", "")))).query()
        conversation_id, item_id = form.get("conversation", ""), form.get("item", "")
        blind = form.get("blind") == "1"
        try:
            verdict = self.batch.verdict(
                conversation_id,
                item_id,
                reviewer=form.get("reviewer", ""),
                decision=form.get("decision", ""),
                tier=form.get("tier") or None,
                reason=form.get("reason", ""),
                kind=form.get("kind", "review"),
                blind=blind,
            )
            self._check_blind(verdict, blind, conversation_id, item_id)
        except ReviewError as exc:
            known = any(c.conversation_id == conversation_id for c in self.batch.cards)
            where = href(conversation_id, back) if known else "/"
            where += f"#item-{quote(item_id)}" if known and item_id else ""
            raise _Refused(400, "review.error.title", str(exc), where) from None
        self.store.record(conversation_id, item_id, verdict)
        query = "&".join(q for q in (back, urlencode({"saved": item_id})) if q)
        location = href(conversation_id, query) + f"#item-{quote(item_id)}"
        cookie = f"{REVIEWER_COOKIE}={quote(verdict.reviewer)}; Path=/; SameSite=Strict; Max-Age=31536000"
        return _redirect(location, cookie)
