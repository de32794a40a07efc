"""Failed admin authentications are limited per client address; right tokens never count."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

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
