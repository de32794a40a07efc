"""Logs: JSON or text lines, and one line per request with its request id.

Every request gets an id: the client's ``X-Request-ID`` when it is sane (1-128 characters of
``[A-Za-z0-9._-]``), else a new one; it is returned in the ``X-Request-ID`` header and added to
every line logged while the request runs. The request line holds the method, the path with its
query, the status, the duration and the worker's pid, never a header (so never the admin
token) nor a body.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.orjson import OrjsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# A path and query longer than this are cut in the log line (a client chooses their length).
MAX_LOGGED_PATH = 1024
# Text lines: the request id in brackets ("-" outside requests).
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# The fields of every JSON line, renamed for operators; extra fields of a record follow.
JSON_FIELDS = ("levelname", "name", "message", "process")
JSON_RENAMES = {"levelname": "level", "name": "logger", "process": "pid"}
LOG_FORMATS = ("json", "text")

log = logging.getLogger("service.requests")


def json_formatter() -> logging.Formatter:
    """One JSON object per line: time, level, logger, message, pid, then the record's extras."""
    return OrjsonFormatter(list(JSON_FIELDS), rename_fields=JSON_RENAMES, timestamp="time")


def text_formatter() -> logging.Formatter:
    return logging.Formatter(TEXT_FORMAT, defaults={"request_id": "-"})


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to every record logged while a request runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") and has_request_context():
            request_id = g.get("request_id")
            if request_id is not None:
                record.request_id = request_id
        return True


def configure_logging(app: Flask) -> None:
    """Log INFO and above to stderr in ``LOG_FORMAT``, unless logging is already set up.

    Something that configured the root logger first (a test runner, a host application,
    ``flask --debug``) keeps its own setup; the request lines still reach it.
    """
    log_format = str(app.config["LOG_FORMAT"]).lower()
    if log_format not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    root = logging.getLogger()
    if app.debug or root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter() if log_format == "json" else text_formatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def request_id_from(value: str | None) -> str:
    """The client's request id when it is sane, else a new one."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return os.urandom(16).hex()  # as random as a uuid4, without building a UUID object


def _started() -> None:
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()


def _answered(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is not None:  # None: a request that did not pass through _started
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def _logged(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:
        return response
    response.headers[REQUEST_ID_HEADER] = request_id
    if log.isEnabledFor(logging.INFO):
        current = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup
        duration_ms = round((time.perf_counter() - g.request_started) * 1000, 3)
        path = (current.full_path if current.query_string else current.path)[:MAX_LOGGED_PATH]
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": current.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": duration_ms,
        }
        log.info("%s %s %d %.1f ms", current.method, path, response.status_code, duration_ms, extra=fields)
    return response


def init_app(app: Flask) -> None:
    """Set up logging (see :func:`configure_logging`) and, with ``LOG_REQUESTS``, the request lines.

    The request id header is always answered. Call it before the extensions that change
    responses, so that the logged duration includes their work.
    """
    configure_logging(app)
    app.before_request(_started)
    app.after_request(_logged if app.config["LOG_REQUESTS"] else _answered)
