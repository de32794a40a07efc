"""Bad input: the right 4xx, the JSON error shape, and nothing stored."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from service.store import Store
from tests.conftest import ADMIN_TOKEN
from tests.factories import article

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
GOOD = article("sleep", 1, id="sleep-1")


def snapshot(store: Store) -> tuple[str, int]:
    """What must not change: every article's content, and the view total."""
    total_views = store.views.stats(now=datetime.now(UTC), limit=1).total_views
    return store.articles.fingerprint(), total_views


CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    # (name, method, path, request kwargs, status, code)
    ("limit zero", "GET", "/api/v1/articles/sleep-0/recommendations?limit=0", {}, 400, "invalid_parameter"),
    (
        "limit too big",
        "GET",
        "/api/v1/articles/sleep-0/recommendations?limit=51",
        {},
        400,
        "invalid_parameter",
    ),
    (
        "limit not a number",
        "GET",
        "/api/v1/articles/sleep-0/recommendations?limit=five",
        {},
        400,
        "invalid_parameter",
    ),
    (
        "limit negative",
        "GET",
        "/api/v1/articles/sleep-0/recommendations?limit=-1",
        {},
        400,
        "invalid_parameter",
    ),
    (
        "limit fraction",
        "GET",
        "/api/v1/articles/sleep-0/recommendations?limit=2.5",
        {},
        400,
        "invalid_parameter",
    ),
    (
        "empty sections",
        "GET",
        "/api/v1/articles/sleep-0/recommendations?sections=",
        {},
        400,
        "invalid_parameter",
    ),
    (
        "unknown section",
        "GET",
        "/api/v1/articles/sleep-0/recommendations?sections=related,best",
        {},
        400,
        "invalid_parameter",
    ),
    (
        "unknown window",
        "GET",
        "/api/v1/articles/sleep-0/recommendations?window=1y",
        {},
        400,
        "invalid_parameter",
    ),
    ("list limit", "GET", "/api/v1/articles?limit=101", {}, 400, "invalid_parameter"),
    ("list offset", "GET", "/api/v1/articles?offset=-3", {}, 400, "invalid_parameter"),
    # Python's "$" matches before a final newline: numbers and ids are matched whole
    ("list limit with a newline", "GET", "/api/v1/articles?limit=5%0A", {}, 400, "invalid_parameter"),
    ("list offset with a newline", "GET", "/api/v1/articles?offset=0%0A", {}, 400, "invalid_parameter"),
    (
        "limit with a newline",
        "GET",
        "/api/v1/articles/sleep-0/recommendations?limit=5%0A",
        {},
        400,
        "invalid_parameter",
    ),
    (
        "id with a newline",
        "PUT",
        "/api/v1/articles/a%0A",
        {"json": {"title": "t"}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "bulk id with a newline",
        "POST",
        "/api/v1/articles",
        {"json": [{"id": "a\n", "title": "t"}], "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "pinned id with a newline",
        "PUT",
        "/api/v1/admin/articles/sleep-0/editorial",
        {"json": {"pinned": ["sleep-1\n"]}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    ("stats window", "GET", "/api/v1/admin/stats?window=2d", {"headers": AUTH}, 400, "invalid_parameter"),
    ("stats limit", "GET", "/api/v1/admin/stats?limit=0", {"headers": AUTH}, 400, "invalid_parameter"),
    ("unknown article", "GET", "/api/v1/articles/nope/recommendations", {}, 404, "article_not_found"),
    ("views of unknown article", "POST", "/api/v1/articles/nope/views", {}, 404, "article_not_found"),
    (
        "delete unknown article",
        "DELETE",
        "/api/v1/articles/nope",
        {"headers": AUTH},
        404,
        "article_not_found",
    ),
    ("unknown route", "GET", "/api/v1/nothing-here", {}, 404, "not_found"),
    ("wrong method", "PATCH", "/api/v1/articles/sleep-0", {}, 405, "method_not_allowed"),
    ("put without token", "PUT", "/api/v1/articles/sleep-1", {"json": GOOD}, 401, "unauthorized"),
    (
        "put with wrong token",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": GOOD, "headers": {"Authorization": "Bearer nope"}},
        401,
        "unauthorized",
    ),
    (
        "put with basic auth",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": GOOD, "headers": {"Authorization": f"Basic {ADMIN_TOKEN}"}},
        401,
        "unauthorized",
    ),
    ("bulk without token", "POST", "/api/v1/articles", {"json": [GOOD]}, 401, "unauthorized"),
    ("delete without token", "DELETE", "/api/v1/articles/sleep-0", {}, 401, "unauthorized"),
    ("reindex without token", "POST", "/api/v1/admin/reindex", {}, 401, "unauthorized"),
    ("stats without token", "GET", "/api/v1/admin/stats", {}, 401, "unauthorized"),
    (
        "put as text",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"data": json.dumps(GOOD), "content_type": "text/plain", "headers": AUTH},
        415,
        "unsupported_media_type",
    ),
    (
        "bulk as form",
        "POST",
        "/api/v1/articles",
        {"data": {"a": "b"}, "headers": AUTH},
        415,
        "unsupported_media_type",
    ),
    (
        "malformed json",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"data": "{not json", "content_type": "application/json", "headers": AUTH},
        400,
        "malformed_json",
    ),
    (
        "bulk malformed json",
        "POST",
        "/api/v1/articles",
        {"data": "[{]", "content_type": "application/json", "headers": AUTH},
        400,
        "malformed_json",
    ),
    (
        "empty title",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": {**GOOD, "title": " "}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "missing title",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": {"body": "x"}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "id differs from url",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": {**GOOD, "id": "other"}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "bad id",
        "PUT",
        "/api/v1/articles/a%20b",
        {"json": {**GOOD, "id": "a b"}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "punctuation-only id",
        "PUT",
        "/api/v1/articles/...",
        {"json": {**GOOD, "id": "..."}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "bad date",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": {**GOOD, "published_at": "last tuesday"}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "numeric date",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": {**GOOD, "published_at": 1700000000}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "tags not a list",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": {**GOOD, "tags": "a,b"}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "tag not a string",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": {**GOOD, "tags": ["a", 3]}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "body not a string",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": {**GOOD, "body": {"html": "x"}}, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "article not an object",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": ["x"], "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "bulk not an array",
        "POST",
        "/api/v1/articles",
        {"json": GOOD, "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "bulk with one bad item",
        "POST",
        "/api/v1/articles",
        {"json": [GOOD, {**GOOD, "id": "x", "title": ""}], "headers": AUTH},
        422,
        "invalid_article",
    ),
    (
        "body over the limit",
        "PUT",
        "/api/v1/articles/sleep-1",
        {"json": {**GOOD, "body": "x" * 8192}, "headers": AUTH},
        413,
        "payload_too_large",
    ),
]


@pytest.fixture
def limited(make_app: Any, admin: dict[str, str]) -> Flask:
    app = make_app(MAX_CONTENT_LENGTH=4096)
    client = app.test_client()
    records = [article("sleep", number) for number in range(3)]
    assert client.post("/api/v1/articles", json=records, headers=admin).status_code == 200
    client.post("/api/v1/articles/sleep-0/views")
    return app


@pytest.mark.parametrize(
    ("name", "method", "path", "kwargs", "status", "code"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_request_gets_its_error_and_stores_nothing(
    limited: Flask, name: str, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    store: Store = limited.extensions["store"]
    before = snapshot(store)
    response = limited.test_client().open(path, method=method, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.json["error"]
    assert error["code"] == code and isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert snapshot(store) == before


@pytest.mark.parametrize(("size", "status"), [(4096, 201), (4097, 413)])
def test_a_chunked_body_is_held_to_the_limit_too(
    limited: Flask, admin: dict[str, str], size: int, status: int
) -> None:
    """No Content-Length (a chunked upload, whose end the server finds): werkzeug read up to the
    limit and took that for the whole body."""
    body = b'{"title": "chunked"}'
    response = limited.test_client().put(
        "/api/v1/articles/chunked",
        input_stream=io.BytesIO(body + b" " * (size - len(body))),
        content_type="application/json",
        headers={**admin, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn says
    )
    assert response.status_code == status, response.json
    if status == 413:
        assert response.json["error"]["code"] == "payload_too_large"
        assert limited.extensions["store"].articles.get("chunked") is None


class BreaksOff(io.BytesIO):
    """A body stream whose read past its bytes fails, as gunicorn's on a malformed chunk."""

    def read(self, size: int | None = -1) -> bytes:
        if data := super().read(size):
            return data
        raise OSError("malformed chunk")


def test_a_chunked_body_breaking_off_at_the_limit_is_400(limited: Flask, admin: dict[str, str]) -> None:
    body = b'{"title": "chunked"}'
    response = limited.test_client().put(
        "/api/v1/articles/chunked",
        input_stream=BreaksOff(body + b" " * (4096 - len(body))),
        content_type="application/json",
        headers={**admin, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "bad_request"


def test_invalid_bulk_lists_each_bad_item_by_index(limited: Flask, admin: dict[str, str]) -> None:
    records = [GOOD, {"id": "ok-2", "title": "Fine"}, {"id": "bad id", "title": ""}, {"title": "no id"}]
    response = limited.test_client().post("/api/v1/articles", json=records, headers=admin)
    assert response.status_code == 422
    details = response.json["error"]["details"]
    assert {(d["index"], d["field"]) for d in details} == {(2, "id"), (2, "title"), (3, "id")}
    assert all(set(d) == {"index", "id", "field", "message"} for d in details)
    assert limited.extensions["store"].articles.get("ok-2") is None


def test_authentication_is_checked_before_the_body(limited: Flask) -> None:
    response = limited.test_client().put(
        "/api/v1/articles/x", data="x" * 8192, content_type="application/json"
    )
    assert response.status_code == 401


def test_admin_endpoints_answer_503_without_a_configured_token(make_app: Any) -> None:
    client = make_app(ADMIN_TOKEN=None).test_client()
    for method, path in (
        ("POST", "/api/v1/admin/reindex"),
        ("GET", "/api/v1/admin/stats"),
        ("PUT", "/api/v1/articles/x"),
    ):
        response = client.open(path, method=method, json=GOOD, headers=AUTH)
        assert response.status_code == 503
        assert response.json["error"]["code"] == "admin_disabled"


def test_unexpected_errors_hide_their_details(limited: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(limited.extensions["catalog"], "current", explode)
    response = limited.test_client().get("/api/v1/articles")
    assert response.status_code == 500
    assert response.json["error"]["code"] == "internal_error"
    assert "secret" not in response.get_data(as_text=True)
