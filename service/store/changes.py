"""The store's version and change log: how every worker learns, with one cheap read, what changed.

Every write that changes what a list can show calls :func:`record_changes` inside its
transaction. That raises the single ``store_state.version`` (the row lock orders concurrent
writers, so versions commit in order) and notes which keys the version touched. A reader
compares :meth:`ChangeFeed.version` with the version it has seen and, when it moved, reads
the changed keys with :meth:`ChangeFeed.changes_after`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.exc import OperationalError

from service.store.engine import upsert
from service.store.schema import store_changes, store_state
from service.store.shared_read import SharedRead

# Change kinds. A key of "" means the whole kind.
ARTICLE = "article"
EDITORIAL = "editorial"
SITE = "site"
OVERLAY = "overlay"
OVERLAY_ALL = "overlay_all"

# Change rows older than this are pruned; a reader further behind reloads everything.
RETENTION = timedelta(days=1)
_PRUNE_EVERY = 500  # versions
_STATE_ROW = 1


@dataclass(frozen=True)
class Changes:
    """What changed after a version: ``keys[kind]`` holds the touched keys."""

    version: int
    keys: dict[str, set[str]]


def ensure_state_row(connection: Connection) -> None:
    upsert(
        connection,
        store_state,
        [{"id": _STATE_ROW, "version": 0}],
        keys=["id"],
        update=lambda _excluded: {"id": store_state.c.id},
    )


def record_changes(connection: Connection, changes: Iterable[tuple[str, str]], *, now: datetime) -> int:
    """Raise the store's version in this transaction and note ``(kind, key)`` changes; returns it."""
    rows = sorted(set(changes))
    if not rows:
        return -1
    version = connection.execute(
        update(store_state)
        .where(store_state.c.id == _STATE_ROW)
        .values(version=store_state.c.version + 1)
        .returning(store_state.c.version)
    ).scalar_one()
    connection.execute(
        store_changes.insert(),
        [{"version": version, "kind": kind, "key": key[:200], "created_at": now} for kind, key in rows],
    )
    if version % _PRUNE_EVERY == 0:
        connection.execute(delete(store_changes).where(store_changes.c.created_at < now - RETENTION))
    return int(version)


class ChangeFeed:
    """Reads the store's version (one row, on a connection each thread keeps) and its changes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._opened: list[Any] = []  # every thread's connection, closed by close()
        self._lock = threading.Lock()
        self._query = str(
            select(store_state.c.version)
            .where(store_state.c.id == _STATE_ROW)
            .compile(engine, compile_kwargs={"literal_binds": True})
        )
        # A round trip to a database server is shared; SQLite's read, in process, is not: it
        # takes microseconds, and waiting on another thread's read costs a hand-over of the GIL
        # (bbc-news under wrk, four rounds: recommendations 0.565 of /healthz shared, 0.666 not).
        self._read: Callable[[], int] = (
            self._read_version if engine.dialect.name == "sqlite" else SharedRead(self._read_version)
        )

    def version(self) -> int:
        """The current version, as of a read that began after this call did.

        On a database server, the threads that ask while a read is on its way share the next
        one (:class:`~service.store.shared_read.SharedRead`): under load one round trip serves
        several requests, and none is answered from before it came.
        """
        return self._read()

    def _read_version(self) -> int:
        """A single-row read in autocommit mode, no transaction round trips.

        Each thread keeps its own driver connection, outside the engine's pool: the pool is for
        units of work and must not be drained by long-lived readers. When the kept connection
        fails, the read is tried once more on a new one; only that failing is the store's.
        """
        kept = getattr(self._local, "connection", None)
        if kept is not None:
            try:
                return self._version_on(kept)
            except Exception:
                # A kept connection the server dropped (a restart, an idle timeout, a terminated
                # backend) says nothing of the store: ask once more on a new one.
                self._discard()
        try:
            version = self._version_on(self._open())
        except Exception as error:
            self._discard()
            raise OperationalError(self._query, None, error) from error
        if kept is not None:
            # The server ended a session but answers a new one: the pooled connections it ended
            # too would fail the next write (one used a moment ago is not pinged). Start afresh.
            self.engine.dispose(close=False)
        return version

    def _version_on(self, connection: Any) -> int:
        cursor = connection.cursor()
        try:
            cursor.execute(self._query)
            row = cursor.fetchone()
        finally:
            cursor.close()
        return int(row[0]) if row else 0

    def _open(self) -> Any:
        """A new driver connection, kept as this thread's."""
        dialect = self.engine.dialect
        arguments, keywords = dialect.create_connect_args(self.engine.url)
        connection = dialect.connect(*arguments, **keywords)
        if dialect.name == "postgresql":
            connection.autocommit = True
        else:
            connection.isolation_level = None  # sqlite3: each statement its own transaction
        with self._lock:
            self._opened.append(connection)
        self._local.connection = connection
        return connection

    def _discard(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with self._lock:
                if connection in self._opened:
                    self._opened.remove(connection)
            with contextlib.suppress(Exception):  # already broken: nothing more to release
                connection.close()

    def close(self) -> None:
        """Close every thread's version connection."""
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            with contextlib.suppress(Exception):
                connection.close()

    def changes_after(self, seen: int) -> Changes | None:
        """Every change after version ``seen``; ``None`` when some were pruned (reload all)."""
        with self.engine.connect() as connection:
            head = int(connection.scalar(select(store_state.c.version)) or 0)
            rows = connection.execute(
                select(store_changes.c.version, store_changes.c.kind, store_changes.c.key).where(
                    store_changes.c.version > seen, store_changes.c.version <= head
                )
            ).all()
        if len({row.version for row in rows}) != head - seen:
            return None
        keys: dict[str, set[str]] = {}
        for row in rows:
            keys.setdefault(row.kind, set()).add(row.key)
        return Changes(head, keys)

    def head(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.scalar(select(func.coalesce(func.max(store_state.c.version), 0))) or 0)
