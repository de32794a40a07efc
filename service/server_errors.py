"""gunicorn's own error answers in the contract's JSON shape instead of its HTML page.

A request gunicorn cannot parse (a request line over ``limit_request_line``, raw non-ASCII bytes
in the path, a control character in a header, Content-Length with Transfer-Encoding, …) never
reaches the application: gunicorn answers it itself, with an HTML page. :class:`JsonErrors`
lets gunicorn decide and log as it always does (status, warning, access log line) and only
replaces the page it writes with ``{"error": {"code", "message", "details"?}}``.
"""

from __future__ import annotations

import contextlib
import os
from http import HTTPStatus
from typing import Any

import orjson
from gunicorn import util
from gunicorn.workers.base import Worker

# gunicorn's statuses for what it refuses (gunicorn/workers/base.py, handle_error).
_ERRORS = {
    400: ("bad_request", "The request is malformed."),
    403: ("forbidden", "The request is forbidden."),
    414: ("uri_too_long", "The request line is too long."),
    417: ("expectation_failed", "The expectation in the Expect header cannot be met."),
    431: ("request_header_fields_too_large", "The request's header fields are too large."),
    500: ("internal_error", "An unexpected error occurred."),
    501: ("not_implemented", "The request's Transfer-Encoding is not supported."),
}
_MAX_REASON = 200  # characters of gunicorn's description kept in ``details``


class _Page:
    """Stands in for the client's socket while gunicorn writes its error page: keeps the bytes."""

    def __init__(self) -> None:
        self.written = b""

    def gettimeout(self) -> float | None:
        return None

    def setblocking(self, flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.written += data


def json_error_answer(status_line: bytes, exc: BaseException) -> bytes:
    """The whole HTTP answer, as JSON, for gunicorn's ``status_line`` (``HTTP/1.1 414 URI Too
    Long``) answering ``exc``. A server fault tells nothing of itself."""
    _, status_text, reason = status_line.decode("latin-1").split(" ", 2)
    status = int(status_text)
    with contextlib.suppress(ValueError):  # gunicorn says "501 Bad Request"
        reason = HTTPStatus(status).phrase
    code, message = _ERRORS.get(status, ("bad_request" if status < 500 else "internal_error", reason))
    error: dict[str, Any] = {"code": code, "message": message}
    if status < 500 and str(exc):
        error["details"] = {"reason": str(exc)[:_MAX_REASON]}
    body = orjson.dumps({"error": error}) + b"\n"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Request-ID: {os.urandom(16).hex()}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrors(Worker):
    """A gunicorn worker mixin whose own error answers are JSON (see the module's docstring)."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        page = _Page()
        super().handle_error(req, page, addr, exc)
        if not page.written:  # gunicorn could not answer either
            return
        try:
            util.write_nonblock(client, json_error_answer(page.written.split(b"\r\n", 1)[0], exc))
        except Exception:  # the client is gone (gunicorn's own page would have failed too)
            self.log.debug("Failed to send error message.")
