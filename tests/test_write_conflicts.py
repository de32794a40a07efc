"""Concurrent writers on PostgreSQL: one lock order, and a deadlock's victim runs again.

PostgreSQL aborts one transaction of a lock cycle (SQLSTATE 40P01) or, under stricter
isolation, of a serialization conflict (40001). The store's writers take their locks in one
order, so they do not form cycles; and a transaction aborted anyway is run again from the start.
Each test builds its conflict with two connections whose locks are known, not with timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, create_engine, select, text
from sqlalchemy.exc import IntegrityError

from service.articles import Article, parse_article
from service.store import OverlayEntry, Store
from service.store import articles as articles_module
from service.store.engine import one_at_a_time, run_write
from service.store.schema import articles
from tests.factories import article

pytestmark = pytest.mark.postgres

WAIT_SECONDS = 10.0  # for a condition that holds within milliseconds; only a failure waits this long


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    store = Store.from_url(postgres_url)
    store.create_schema()
    yield store
    store.dispose()


@pytest.fixture
def blocked_by(postgres_server: str) -> Iterator[Callable[..., None]]:
    """``wait(connection, count=1)``: returns once ``count`` other backends wait for a lock
    ``connection`` holds."""
    observer = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    query = text("SELECT count(*) FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))")

    def wait(connection: Connection, count: int = 1) -> None:
        holder = connection.scalar(text("SELECT pg_backend_pid()"))
        deadline = time.monotonic() + WAIT_SECONDS
        with observer.connect() as watching:
            while watching.scalar(query, {"holder": holder}) < count:
                assert time.monotonic() < deadline, "no backend ever waited for this connection's locks"
                time.sleep(0.005)

    yield wait
    observer.dispose()


class Background(threading.Thread):
    """Runs ``call()`` in a thread and keeps its result or its error."""

    def __init__(self, call: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.call, self.result, self.error = call, None, None

    def run(self) -> None:
        try:
            self.result = self.call()
        except Exception as error:  # handed to the test's thread
            self.error = error

    def outcome(self) -> Any:
        self.join(WAIT_SECONDS)
        assert not self.is_alive(), "the background call never finished"
        if self.error is not None:
            raise self.error
        return self.result


def stored(*ids: str) -> list[Article]:
    return [parse_article(article("garden", number, id=article_id)) for number, article_id in enumerate(ids)]


def test_a_delete_and_a_concurrent_learning_of_neighbours_neither_deadlock_nor_fail(
    store: Store, blocked_by: Callable[[Connection], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DELETE holds its article and has cascaded into the overlay when the learning starts;
    it takes the store's version row only after the learning waits for its article."""
    now = datetime.now(UTC)
    store.articles.upsert_many(stored("a-1", "a-3", "fresh", "x"), now=now)
    entries = [OverlayEntry(target, "fresh", 0.5, 0.5) for target in ("a-1", "x", "a-3")]
    learning = Background(lambda: store.overlay.replace(["fresh"], entries, now=now))
    real_record_changes = articles_module.record_changes
    deletes: list[int] = []

    def record_changes(connection: Connection, changes: Any, *, now: datetime) -> int:
        deletes.append(1)
        if len(deletes) == 1:
            # This side finds the cycle, if there is one: its transaction would be the victim.
            connection.exec_driver_sql("SET LOCAL deadlock_timeout = '50ms'")
            learning.start()
            blocked_by(connection)  # the learning waits for the deleted article
        return real_record_changes(connection, changes, now=now)

    monkeypatch.setattr(articles_module, "record_changes", record_changes)
    assert store.articles.delete("x", now=now)
    learning.outcome()

    assert len(deletes) == 1  # no deadlock: the DELETE ran once
    learned = store.overlay.all()
    assert sorted(learned) == ["a-1", "a-3"]
    assert {entry.neighbour_id for found in learned.values() for entry in found} == {"fresh"}


def test_a_deadlock_victim_runs_again_from_the_start(
    store: Store, blocked_by: Callable[[Connection], None]
) -> None:
    store.articles.upsert_many(stored("first", "second"), now=datetime.now(UTC))
    lock = select(articles.c.id).where(articles.c.id == bindparam("id")).with_for_update()
    attempts: list[int] = []
    holds_first = threading.Event()

    def work(connection: Connection) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            # PostgreSQL looks for a cycle once a wait is this old: the cycle is closed by then.
            connection.exec_driver_sql("SET LOCAL deadlock_timeout = '20ms'")
        connection.execute(lock, {"id": "first"})
        if len(attempts) == 1:
            holds_first.set()
            blocked_by(connection)  # the other transaction waits for "first"
        connection.execute(lock, {"id": "second"})  # and holds "second": a cycle
        return len(attempts)

    with store.engine.connect() as other, other.begin():
        other.exec_driver_sql("SET LOCAL deadlock_timeout = '10s'")  # the writer is the victim
        other.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        other.execute(lock, {"id": "second"})
        writer = Background(lambda: run_write(store.engine, work))
        writer.start()
        assert holds_first.wait(WAIT_SECONDS)
        other.execute(lock, {"id": "first"})  # granted once PostgreSQL aborted the writer's try
    assert writer.outcome() == 2
    assert attempts == [1, 1]


def test_other_errors_are_not_run_again(store: Store) -> None:
    store.articles.upsert_many(stored("taken"), now=datetime.now(UTC))
    with store.engine.connect() as connection:
        row = connection.execute(select(articles).where(articles.c.id == "taken")).one()._asdict()
    attempts: list[int] = []

    def work(connection: Connection) -> None:
        attempts.append(1)
        connection.execute(articles.insert(), [row])  # the same id again

    with pytest.raises(IntegrityError):
        run_write(store.engine, work)
    assert attempts == [1]


def test_article_deletes_and_learned_neighbours_are_written_one_at_a_time(
    store: Store, blocked_by: Callable[..., None]
) -> None:
    """An entry is in two articles' lists: two deletes, or a delete and a learning, would meet on
    the entries in either order. They wait for one another instead."""
    now = datetime.now(UTC)
    store.articles.upsert_many(stored("a-1", "a-2", "fresh", "x"), now=now)
    store.overlay.replace(
        ["x"], [OverlayEntry("a-1", "x", 0.5, 0.5), OverlayEntry("x", "a-1", 0.5, 0.5)], now=now
    )
    entries = [OverlayEntry(target, "fresh", 0.5, 0.5) for target in ("a-1", "a-2", "x")]
    with store.engine.connect() as other, other.begin():
        one_at_a_time(other)
        deleting = Background(lambda: store.articles.delete("x", now=now))
        learning = Background(lambda: store.overlay.replace(["fresh"], entries, now=now))
        deleting.start()
        blocked_by(other)
        learning.start()
        blocked_by(other, 2)
    assert deleting.outcome() is True
    learning.outcome()
    learned = store.overlay.all()
    assert "x" not in learned and sorted(learned) == ["a-1", "a-2"]
    assert {entry.neighbour_id for found in learned.values() for entry in found} == {"fresh"}
