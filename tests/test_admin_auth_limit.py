"""Failed admin authentications are limited per client address; right tokens never count."""

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


def test_after_the_limit_of_failures_the_client_gets_429(client: FlaskClient, admin: dict[str, str]) -> None:
    paths = [STATS, "/api/v1/admin/reindex", "/api/v1/admin/exclusions"]  # one limit for all
    assert [client.get(path, headers=BAD).status_code for path in paths] == [401, 401, 401]
    refused = client.get(STATS, headers=BAD)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "too_many_requests"
    assert "failed admin authentications" in refused.json["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0
    # locked out for the window, the right token included; writes are refused before the body
    assert client.get(STATS, headers=admin).status_code == 429
    assert client.put("/api/v1/articles/a-1", json={"title": "t"}, headers=admin).status_code == 429
    # public endpoints are not limited
    assert client.get("/api/v1/articles").status_code == 200
    assert client.get("/healthz").status_code == 200


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
