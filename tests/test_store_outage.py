"""PostgreSQL unreachable: reads answer at once (the last known lists, marked stale, or 503),
writes answer 503 with the error shape, nothing acknowledged is lost, and the service recovers
by itself when the database returns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from service.store import engine as engine_module
from service.store.engine import make_engine
from tests.factories import article, corpus
from tests.server import Server, gunicorn, wait_for_job
from tests.tcp_proxy import TcpProxy, tcp_proxy

RECOMMENDATIONS = "/api/v1/articles/sleep-1/recommendations"


@pytest.fixture
def mid_command(postgres_url: str) -> Iterator[Any]:
    """A pooled engine's connection left with a command in flight, as a reset mid-query leaves it."""
    engine = make_engine(postgres_url)
    connection = engine.connect()
    driver = connection.connection.driver_connection
    driver.pgconn.send_query(b"SELECT 1")  # sent, its result never read
    try:
        yield engine, connection, driver
    finally:
        connection.invalidate()
        engine.dispose()


@pytest.mark.postgres
def test_an_error_on_a_connection_mid_command_counts_as_a_lost_connection(mid_command: Any) -> None:
    engine, connection, _driver = mid_command
    with pytest.raises(DBAPIError) as raised:
        connection.execute(text("SELECT 2"))
    assert raised.value.connection_invalidated  # so the request answers 503, and it is not reused
    with engine.connect() as fresh:
        assert fresh.execute(text("SELECT 3")).scalar() == 3


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def counted_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pings: list[object] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda driver: pings.append(driver) or ping(driver))
    return pings


@pytest.mark.postgres
def test_a_pooled_connection_idle_past_the_limit_is_pinged_and_replaced_when_dead(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "POSTGRES_PING_AFTER_IDLE_S", 0.0)
    engine, other = make_engine(postgres_url), make_engine(postgres_url)
    try:
        pings = counted_pings(engine, monkeypatch)
        pooled = backend_pid(engine)
        with other.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pooled})
        assert backend_pid(engine) not in (pooled, 0)  # no error: the ping found it dead
        assert len(pings) == 1
    finally:
        engine.dispose()
        other.dispose()


@pytest.mark.postgres
def test_a_connection_used_a_moment_ago_is_not_pinged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(postgres_url)
    try:
        pings = counted_pings(engine, monkeypatch)
        first = backend_pid(engine)
        assert backend_pid(engine) == first  # the same connection again, at once
        assert pings == []
    finally:
        engine.dispose()


@pytest.fixture
def outage(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Server, TcpProxy]]:
    url = make_url(postgres_url)
    with tcp_proxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
        env = {"DATABASE_URL": proxied, "RELATED_AUTO_REBUILD": "false"}
        with gunicorn(tmp_path, workers=1, env=env) as server:
            assert server.request("POST", "/api/v1/articles", corpus(), admin=True)[0] == 200
            assert server.request("POST", "/api/v1/admin/reindex", admin=True)[0] == 202
            assert wait_for_job(server)["state"] == "succeeded"
            assert server.request("POST", "/api/v1/articles/running-2/views")[0] == 202
            yield server, proxy


def timed(
    server: Server, method: str, path: str, body: Any = None, admin: bool = False
) -> tuple[float, int, Any]:
    started = time.monotonic()
    status, answer = server.request(method, path, body, admin=admin)
    return time.monotonic() - started, status, answer


def wait_until(condition: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_reads_stay_fast_writes_refuse_and_the_service_recovers(outage: tuple[Server, TcpProxy]) -> None:
    server, proxy = outage
    time.sleep(1.2)  # let popular refresh with the view
    before = server.request("GET", RECOMMENDATIONS)[1]
    assert "stale" not in before and before["related"] and before["popular"]

    proxy.cut()
    for _ in range(3):
        seconds, status, answer = timed(server, "GET", RECOMMENDATIONS)
        assert status == 200 and seconds < 1.0
        assert answer["stale"] is True
        assert answer["related"] == before["related"]
        assert answer["popular"] == before["popular"]
    for method, path, body, admin in [
        ("GET", "/api/v1/articles?limit=5", None, False),
        ("PUT", "/api/v1/articles/sleep-40", article("sleep", 40), True),
        ("POST", "/api/v1/articles/sleep-1/views", None, False),
        ("GET", "/api/v1/admin/stats?window=all", None, True),
    ]:
        seconds, status, answer = timed(server, method, path, body, admin=admin)
        assert status == 503, (path, answer)
        assert answer["error"]["code"] == "store_unavailable"
        assert seconds < 12, path  # a view waits for its commit at most VIEW_COMMIT_TIMEOUT_SECONDS
    assert server.request("GET", "/healthz")[0] == 200
    assert server.request("GET", "/readyz")[0] == 503

    proxy.restore()
    wait_until(lambda: "stale" not in server.request("GET", RECOMMENDATIONS)[1])
    wait_until(lambda: server.request("GET", "/readyz")[0] == 200)
    assert server.request("PUT", "/api/v1/articles/sleep-40", article("sleep", 40), admin=True)[0] == 201
    assert server.request("POST", "/api/v1/articles/sleep-1/views")[0] == 202
    stats = server.request("GET", "/api/v1/admin/stats?window=all", admin=True)[1]
    assert stats["total_views"] == 2  # both acknowledged views, none of the refused one
    assert server.request("GET", "/api/v1/articles/sleep-40")[0] == 200


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_connections_the_database_ended_are_replaced_without_a_stale_answer(
    outage: tuple[Server, TcpProxy],
) -> None:
    server, proxy = outage
    for _ in range(20):  # every serving thread now keeps a connection for the store's version
        assert server.request("GET", RECOMMENDATIONS)[0] == 200
    # a write a moment before: the pool's connection is not pinged when next used
    assert server.request("PUT", "/api/v1/articles/sleep-39", article("sleep", 39), admin=True)[0] == 201
    proxy.drop()  # the database ends every session (a restart, an idle timeout) and takes new ones
    status, answer = server.request("GET", RECOMMENDATIONS)
    assert status == 200 and "stale" not in answer, answer
    # the read of the store's version found the ended session and started the pool afresh
    assert server.request("PUT", "/api/v1/articles/sleep-40", article("sleep", 40), admin=True)[0] == 201
    for _ in range(20):
        status, answer = server.request("GET", f"{RECOMMENDATIONS}?sections=latest&limit=1")
        assert status == 200 and "stale" not in answer, answer
        assert answer["latest"][0]["id"] == "sleep-40"  # the acknowledged write, at once
