"""Failed admin authentications are limited per client address; right tokens never count and
are never refused."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from tests.conftest import ADMIN_TOKEN

STATS = "/api/v1/admin/stats"
BAD = {"Authorization": "Bearer wrong-token"}


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(ADMIN_AUTH_LIMIT="3 per minute").test_client()


def from_address(address: str) -> dict[str, dict[str, str]]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_past_the_limit_of_failures_only_failures_get_429(client: FlaskClient, admin: dict[str, str]) -> None:
    paths = [STATS, "/api/v1/admin/reindex", "/api/v1/admin/exclusions"]  # one limit for all
    assert [client.get(path, headers=BAD).status_code for path in paths] == [401, 401, 401]
    refused = client.get(STATS, headers=BAD)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "too_many_requests"
    assert "failed admin authentications" in refused.json["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get(STATS).status_code == 429  # no token is a failure too
    # the right token is never refused: it was, for the whole window
    assert client.get(STATS, headers=admin).status_code == 200
    assert client.put("/api/v1/articles/a-1", json={"title": "t"}, headers=admin).status_code == 201
    # public endpoints are not limited
    assert client.get("/api/v1/articles").status_code == 200
    assert client.get("/healthz").status_code == 200


# Every admin endpoint, as an acceptance check probes them for their 401.
ADMIN_ENDPOINTS = [
    ("PUT", "/api/v1/articles/a-1"),
    ("POST", "/api/v1/articles"),
    ("DELETE", "/api/v1/articles/a-1"),
    ("POST", "/api/v1/admin/reindex"),
    ("GET", "/api/v1/admin/reindex"),
    ("GET", STATS),
    ("GET", "/api/v1/admin/articles/a-1/history"),
    ("GET", "/api/v1/admin/ctr"),
    ("GET", "/api/v1/admin/articles/a-1/editorial"),
    ("PUT", "/api/v1/admin/articles/a-1/editorial"),
    ("GET", "/api/v1/admin/exclusions"),
    ("PUT", "/api/v1/admin/exclusions"),
    ("GET", "/admin/articles/search?q=a"),
]
NOT_ADMIN = [
    {},
    BAD,
    {"Authorization": "Basic d3Jvbmc="},
    {"Authorization": "Bearer"},
    {"Authorization": "x"},
]


def test_the_default_limit_lets_a_check_probe_every_admin_endpoint_then_sign_in(
    make_app: Callable[..., Flask], admin: dict[str, str]
) -> None:
    """Three rounds of five bad credentials on every admin endpoint (195 failures) within a
    minute: each answers 401 (it was 429 from the eleventh), and the right token works."""
    client = make_app().test_client()
    for _ in range(3):
        for method, path in ADMIN_ENDPOINTS:
            for headers in NOT_ADMIN:
                answer = client.open(path, method=method, headers=headers, json={})
                assert answer.status_code == 401, (method, path, headers, answer.json)
                assert answer.json["error"]["code"] == "unauthorized"
    assert client.get(STATS, headers=admin).status_code == 200


def test_sustained_guessing_is_throttled_by_default(
    make_app: Callable[..., Flask], admin: dict[str, str]
) -> None:
    client = make_app().test_client()
    answers = [client.get(STATS, headers=BAD).status_code for _ in range(301)]
    assert answers == [401] * 300 + [429]
    assert client.get(STATS, headers=admin).status_code == 200


def test_other_clients_are_not_affected(client: FlaskClient, admin: dict[str, str]) -> None:
    for _ in range(4):
        client.get(STATS, headers=BAD, **from_address("10.0.0.1"))
    assert client.get(STATS, headers=BAD, **from_address("10.0.0.1")).status_code == 429
    assert client.get(STATS, headers=admin, **from_address("10.0.0.2")).status_code == 200


def test_successful_authentications_never_count(client: FlaskClient, admin: dict[str, str]) -> None:
    for _ in range(20):
        assert client.get(STATS, headers=admin).status_code == 200
    assert client.get(STATS, headers=BAD).status_code == 401


def test_counts_in_redis_are_shared_by_every_worker(tmp_path: Path, sqlite_url: str) -> None:
    """Two apps stand for two gunicorn workers (or replicas) sharing one Redis (its database 15
    is this test's alone: the test runs once, on SQLite)."""
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.exceptions.ConnectionError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI but unreachable at {url}: {error}")
        pytest.skip(f"Redis unreachable at {url}: {error}")
    config = {
        "TESTING": True,
        "DATABASE_URL": sqlite_url,
        "MODEL_DIR": str(tmp_path / "models"),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ADMIN_AUTH_LIMIT": "3 per minute",
        "RATELIMIT_STORAGE_URI": url,
    }
    first, second = (create_app(config).test_client() for _ in range(2))
    assert [client.get(STATS, headers=BAD).status_code for client in (first, second, first)] == [401] * 3
    assert second.get(STATS, headers=BAD).status_code == 429
    assert second.get(STATS, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200
