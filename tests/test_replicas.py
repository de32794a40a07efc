"""Several replicas: two gunicorn instances (separate processes, ports) on one PostgreSQL
database and one model directory behave as one service."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.factories import article, corpus
from tests.server import Server, gunicorn, wait_for_job

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gunicorn")]

VIEWS_EACH = 150  # views posted to each replica at once


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Server, Server]]:
    shared = {
        "DATABASE_URL": postgres_url,
        "MODEL_DIR": str(tmp_path / "models"),
        "RELATED_AUTO_REBUILD": "false",
    }
    with ExitStack() as stack:
        first = stack.enter_context(gunicorn(tmp_path / "a", workers=2, env=shared))
        second = stack.enter_context(gunicorn(tmp_path / "b", workers=2, env=shared))
        yield first, second


@pytest.fixture(autouse=True)
def _folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()


def related_ids(server: Server, article_id: str) -> list[str]:
    status, body = server.request(
        "GET", f"/api/v1/articles/{article_id}/recommendations?sections=related,latest"
    )
    assert status == 200, body
    return [item["id"] for item in body["related"] + body["latest"]]


def index_version(server: Server) -> Any:
    return server.request("GET", "/readyz")[1]["index"]


def wait_for(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_write_through_one_replica_is_served_by_the_other_at_once(replicas: tuple[Server, Server]) -> None:
    first, second = replicas
    assert first.request("POST", "/api/v1/articles", corpus(), admin=True)[0] == 200
    assert second.request("GET", "/api/v1/articles/sleep-1")[0] == 200
    assert second.request("GET", "/api/v1/articles?limit=100")[1]["total"] == len(corpus())
    newest = article("sleep", 20, published_at="2026-01-01T00:00:00Z")
    assert first.request("PUT", "/api/v1/articles/sleep-20", newest, admin=True)[0] == 201
    assert "sleep-20" in related_ids(second, "running-1")
    assert second.request("DELETE", "/api/v1/articles/sleep-20", admin=True)[0] == 204
    assert "sleep-20" not in related_ids(first, "running-1")
    assert first.request("GET", "/api/v1/articles/sleep-20")[0] == 404


def test_a_reindex_on_one_replica_is_published_to_both_and_runs_once(replicas: tuple[Server, Server]) -> None:
    first, second = replicas
    assert first.request("POST", "/api/v1/articles", corpus(), admin=True)[0] == 200
    started = first.request("POST", "/api/v1/admin/reindex", admin=True)
    concurrent = second.request("POST", "/api/v1/admin/reindex", admin=True)
    assert started[0] == concurrent[0] == 202
    job = wait_for_job(first)
    assert job["state"] == "succeeded", job
    if concurrent[1]["job"]["id"] != started[1]["job"]["id"]:
        # the second request came after the first job had finished: one at a time, in order
        assert concurrent[1]["job"]["state"] in ("queued", "running", "succeeded")
        job = wait_for_job(second)
    for server in (first, second):
        wait_for(lambda server=server: (index_version(server) or {}).get("version") == job["index_version"])
        assert related_ids(server, "sleep-1")


def test_views_posted_to_both_replicas_at_once_are_counted_exactly(replicas: tuple[Server, Server]) -> None:
    first, second = replicas
    assert first.request("POST", "/api/v1/articles", corpus(), admin=True)[0] == 200

    def post_views(server: Server) -> int:
        return sum(
            server.request("POST", "/api/v1/articles/sleep-1/views")[0] == 202 for _ in range(VIEWS_EACH)
        )

    with ThreadPoolExecutor(8) as pool:
        acknowledged = sum(pool.map(post_views, [first, second] * 4))
    assert acknowledged == VIEWS_EACH * 8
    for server in (first, second):
        stats = server.request("GET", "/api/v1/admin/stats?window=all", admin=True)[1]
        assert stats["total_views"] == acknowledged
