"""Logs: one JSON line per request with its request id, and no secret in any line."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service import request_log
from service.store.engine import make_engine
from tests.conftest import ADMIN_TOKEN
from tests.factories import article
from tests.server import gunicorn, worker_pids

REQUEST_FIELDS = {
    "time",
    "level",
    "logger",
    "message",
    "pid",
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
}
BAD_TOKEN = "wrong-token-9f8e7d6c5b4a"
SECRET_BODY = "Top secret draft paragraph 31337 that must never reach a log line."


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Logging does not depend on the store: SQLite only (the SQL parameters test does both)."""
    return sqlite_url


@pytest.fixture
def requests_logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything logged at DEBUG and above, by any logger."""
    with caplog.at_level(logging.DEBUG):
        yield caplog


def json_lines(records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    """The records as the JSON formatter writes them, parsed back."""
    formatter = request_log.json_formatter()
    return [json.loads(formatter.format(record)) for record in records]


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return json_lines([record for record in caplog.records if record.name == "service.requests"])


def test_one_json_line_per_request_with_its_fields(
    client: FlaskClient, requests_logged: pytest.LogCaptureFixture
) -> None:
    response = client.get("/api/v1/articles?limit=3&offset=0")
    assert response.status_code == 200
    (line,) = request_lines(requests_logged)
    assert set(line) >= REQUEST_FIELDS
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/articles?limit=3&offset=0", 200)
    assert line["level"] == "INFO" and line["logger"] == "service.requests"
    assert isinstance(line["duration_ms"], float) and 0 <= line["duration_ms"] < 10_000
    assert isinstance(line["pid"], int)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123", True),
        ("Req_1.2-x", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("has space", False),
        ("semi;colon", False),
        ('quote"d', False),
        ("", False),
        (None, False),
    ],
)
def test_a_sane_request_id_is_echoed_and_any_other_replaced(
    client: FlaskClient, requests_logged: pytest.LogCaptureFixture, sent: str | None, kept: bool
) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    response = client.get("/healthz", headers=headers)
    answered = response.headers["X-Request-ID"]
    if kept:
        assert answered == sent
    else:
        assert answered != sent and re.fullmatch(r"[0-9a-f]{32}", answered)
    assert request_lines(requests_logged)[0]["request_id"] == answered


def test_every_answer_carries_a_request_id_even_errors_and_without_request_lines(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(LOG_REQUESTS=False).test_client()
    for response in (client.get("/no/such/route"), client.delete("/healthz"), client.get("/healthz")):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    assert client.get("/healthz", headers={"X-Request-ID": "mine"}).headers["X-Request-ID"] == "mine"


def test_no_token_article_body_or_sql_parameter_is_ever_logged(
    client: FlaskClient, admin: dict[str, str], requests_logged: pytest.LogCaptureFixture
) -> None:
    body = {**article("sleep", 9), "id": "secret-draft", "title": "A draft", "body": SECRET_BODY}
    assert client.put("/api/v1/articles/secret-draft", json=body, headers=admin).status_code == 201
    wrong = {"Authorization": f"Bearer {BAD_TOKEN}"}
    assert client.put("/api/v1/articles/secret-draft", json=body, headers=wrong).status_code == 401
    assert client.get("/api/v1/admin/stats", headers=admin).status_code == 200
    assert client.get("/api/v1/admin/stats", headers=wrong).status_code == 401
    assert client.get("/api/v1/articles/secret-draft").status_code == 200
    logged = requests_logged.text + "".join(json.dumps(line) for line in json_lines(requests_logged.records))
    assert len(request_lines(requests_logged)) == 5
    for secret in (ADMIN_TOKEN, BAD_TOKEN, "31337", "Bearer", "Top secret"):
        assert secret not in logged


@pytest.mark.parametrize("store", ["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)])
def test_database_errors_hide_their_parameters(request: pytest.FixtureRequest, store: str) -> None:
    engine = make_engine(request.getfixturevalue(store))
    try:
        with pytest.raises(DBAPIError) as raised, engine.connect() as connection:
            connection.execute(
                text("SELECT body FROM no_such_table WHERE body = :body"), {"body": SECRET_BODY}
            )
    finally:
        engine.dispose()
    assert "31337" not in str(raised.value)
    assert "hide_parameters" in str(raised.value)


def test_lines_logged_during_a_request_carry_its_id(app: Flask) -> None:
    record = logging.LogRecord("service.x", logging.ERROR, __file__, 1, "boom", None, None)
    with app.test_request_context("/healthz"):
        g.request_id = "req-42"
        assert request_log.RequestIdFilter().filter(record)
    assert record.request_id == "req-42"  # type: ignore[attr-defined]
    outside = logging.LogRecord("service.x", logging.ERROR, __file__, 1, "boom", None, None)
    assert request_log.RequestIdFilter().filter(outside) and not hasattr(outside, "request_id")


@contextmanager
def without_root_handlers(root: logging.Logger) -> Iterator[None]:
    """The root logger without handlers (as in a gunicorn worker) inside the block.

    Its handlers are removed and put back, not swapped for another list: pytest adds and
    removes its own around the test's body.
    """
    saved, level = list(root.handlers), root.level
    for handler in saved:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_app_sets_up_logging_only_when_nothing_did(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    root = logging.getLogger()
    with without_root_handlers(root):
        client = make_app(LOG_FORMAT=log_format).test_client()
        (handler,) = root.handlers
        client.get("/healthz", headers={"X-Request-ID": "setup-check"})
        make_app()  # a second app in the process leaves the first one's setup alone
        assert root.handlers == [handler]
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "setup-check" in line]
    if log_format == "json":
        assert json.loads(line)["request_id"] == "setup-check"
    else:
        assert "INFO service.requests [setup-check]: GET /healthz 200" in line and "{" not in line


def test_an_unknown_log_format_is_refused(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        make_app(LOG_FORMAT="xml")


# -- under gunicorn -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_gunicorn_writes_one_json_line_per_request_and_no_token(tmp_path: Path) -> None:
    with gunicorn(tmp_path, workers=2) as server:
        pids = worker_pids(server)
        sent = []
        for index in range(6):
            connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
            try:
                headers = {"X-Request-ID": f"gunicorn-check-{index}"}
                if index % 2:
                    headers["Authorization"] = f"Bearer {server.token if index % 4 == 1 else BAD_TOKEN}"
                connection.request("GET", f"/api/v1/admin/stats?window=24h&n={index}", headers=headers)
                response = connection.getresponse()
                response.read()
                sent.append((headers["X-Request-ID"], response.status))
                assert response.getheader("X-Request-ID") == headers["X-Request-ID"]
            finally:
                connection.close()
    log_text = next(tmp_path.glob("gunicorn-*.log")).read_text()
    lines = [json.loads(line) for line in log_text.splitlines() if line.strip()]  # every line is JSON
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # gunicorn's own lines too
    by_id = {line["request_id"]: line for line in lines if line.get("logger") == "service.requests"}
    for request_id, status in sent:
        line = by_id[request_id]
        assert set(line) >= REQUEST_FIELDS
        assert line["status"] == status and line["pid"] in pids
    assert {status for _, status in sent} == {200, 401}
    assert server.token not in log_text and BAD_TOKEN not in log_text and "Bearer" not in log_text
