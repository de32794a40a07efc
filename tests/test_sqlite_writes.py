"""SQLite: a write waits for the database a bounded time. Another writer's turn or another
process's transaction (a backup, the sqlite3 shell) makes it answer 503 after
``SQLITE_WRITE_TIMEOUT_SECONDS``, never hang with every writer queued behind it."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from service.articles import parse_article
from service.store import Store
from service.store.views import ViewBatch
from service.view_recorder import ViewRecorder
from tests.factories import article
from tests.server import gunicorn

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TIMEOUT = 0.5


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(database: Path) -> Iterator[Store]:
    store = Store.from_url(f"sqlite:///{database}", sqlite_write_timeout=TIMEOUT)
    store.create_schema()
    store.articles.upsert_many([parse_article(article("sleep", 1))], now=NOW)
    yield store
    store.engine.dispose()


@contextmanager
def writer_lock_held_elsewhere(database: Path) -> Iterator[None]:
    """The service's writer lock, held as another process holds it (its own open file)."""
    descriptor = os.open(f"{database}.writer-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(descriptor)


@contextmanager
def transaction_of_another_program(database: Path) -> Iterator[None]:
    """SQLite's own write lock, held by a program that knows nothing of the writer lock."""
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def timed_failure(write: Callable[[], object]) -> float:
    started = time.monotonic()
    with pytest.raises(OperationalError):
        write()
    return time.monotonic() - started


# Each write, and what it returns once it passed.
WRITES = {
    "article": (
        lambda store: store.articles.upsert_many([parse_article(article("sleep", 2))], now=NOW).created,
        1,
    ),
    "views": (
        lambda store: store.views.record_batch(lambda: ViewBatch.of_counts({("sleep-1", NOW): 1})),
        {"sleep-1"},
    ),
}
HOLDERS = {"writer lock": writer_lock_held_elsewhere, "another program": transaction_of_another_program}


@pytest.mark.parametrize("holder", HOLDERS)
@pytest.mark.parametrize("write", WRITES)
def test_a_write_gives_up_after_its_timeout_and_passes_once_the_database_is_free(
    store: Store, database: Path, holder: str, write: str
) -> None:
    run, passed = WRITES[write]
    with HOLDERS[holder](database):
        assert TIMEOUT * 0.9 <= timed_failure(lambda: run(store)) < TIMEOUT + 2
        assert store.articles.get("sleep-1") is not None  # reading goes on meanwhile
    assert run(store) == passed


def test_writers_queued_behind_a_held_database_each_give_up_in_time(store: Store, database: Path) -> None:
    with transaction_of_another_program(database), ThreadPoolExecutor(6) as pool:
        started = time.monotonic()
        run, _ = WRITES["article"]
        failures = list(pool.map(lambda _: timed_failure(lambda: run(store)), range(6)))
        assert time.monotonic() - started < TIMEOUT + 2  # not one timeout after another
    assert max(failures) < TIMEOUT + 2


def test_a_read_after_a_bounded_write_waits_as_long_as_ever(store: Store, database: Path) -> None:
    run, passed = WRITES["article"]
    assert run(store) == passed
    with store.engine.connect() as connection:  # the pooled connection the write used
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_the_service_answers_503_while_another_program_holds_the_database(tmp_path: Path) -> None:
    database = tmp_path / "server.db"
    env = {"RELATED_SQLITE_WRITE_TIMEOUT_SECONDS": "1", "RELATED_AUTO_REBUILD": "false"}
    with gunicorn(tmp_path, workers=1, env=env) as server:
        assert server.request("PUT", "/api/v1/articles/sleep-1", article("sleep", 1), admin=True)[0] == 201
        with transaction_of_another_program(database), ThreadPoolExecutor(12) as pool:
            started = time.monotonic()
            answers = list(
                pool.map(
                    lambda number: server.request(
                        "PUT", f"/api/v1/articles/sleep-{number}", article("sleep", number), admin=True
                    ),
                    range(2, 14),
                )
            )
            assert time.monotonic() - started < 8  # twelve writers, one worker's threads: no queue
            assert {status for status, _ in answers} == {503}
            assert {answer["error"]["code"] for _, answer in answers} == {"store_unavailable"}
            assert server.request("GET", "/healthz")[0] == 200
            assert server.request("GET", "/api/v1/articles/sleep-1")[0] == 200
        assert server.request("PUT", "/api/v1/articles/sleep-2", article("sleep", 2), admin=True)[0] == 201
        assert server.request("POST", "/api/v1/articles/sleep-2/views")[0] == 202
        listed = server.request("GET", "/api/v1/articles?limit=50")[1]
        assert {item["id"] for item in listed["articles"]} == {"sleep-1", "sleep-2"}  # no refused one


def test_views_refused_for_want_of_time_are_never_counted_later(store: Store, database: Path) -> None:
    patient = Store.from_url(f"sqlite:///{database}", sqlite_write_timeout=30)  # outlasts the requests
    recorder = ViewRecorder(patient, timeout_seconds=0.2)
    now = datetime.now(UTC)
    try:
        with writer_lock_held_elsewhere(database):
            for _ in range(2):  # the first waits in the writer's hands, the second in its queue
                with pytest.raises(TimeoutError):
                    recorder.record("sleep-1", now)
        assert recorder.record("sleep-1", now) is True  # the writer had the lock for the refused ones
        assert store.views.window_stats("all", now=now, limit=5).total_views == 1
    finally:
        patient.engine.dispose()
