"""Engines for SQLite (the default) and PostgreSQL, and the dialect-neutral upsert."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.dml import Insert

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A write's wait for the writer lock and then SQLite's own lock, in all.
SQLITE_WRITE_TIMEOUT_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000
# libpq settings (unless the URL sets them) so that an unreachable PostgreSQL fails a request in
# seconds instead of hanging it: connecting (2 s is libpq's minimum), and data unacknowledged on
# an open connection (a blocked network). Keepalives find dead idle connections.
POSTGRES_TIMEOUTS = {
    "connect_timeout": "2",
    "tcp_user_timeout": "1500",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "2",
    "keepalives_count": "3",
}
# A pooled PostgreSQL connection is pinged before use only when it has sat idle this long: one
# in use a moment ago is alive, and under load a ping before every unit of work doubled the view
# writer's round trips (py-spy: 40 % of its time in the ping).
POSTGRES_PING_AFTER_IDLE_S = 1.0
_IDLE_SINCE = "related_idle_since"  # in a pooled connection's info: when it was checked in
_WRITE_DEADLINE = "related_write_deadline"  # in a SQLite connection's info, until its BEGIN


def make_engine(
    url: str,
    *,
    sqlite_synchronous: str = "NORMAL",
    sqlite_write_timeout: float = SQLITE_WRITE_TIMEOUT_SECONDS,
) -> Engine:
    """An engine for ``url``; ``postgresql://`` means psycopg 3, SQLite gets WAL and a busy timeout.

    ``sqlite_synchronous``: in WAL mode ``NORMAL`` makes every commit survive a crash of the
    process (``kill -9``) and ``FULL`` also a power loss, at the cost of an fsync per commit.
    ``sqlite_write_timeout``: seconds a write waits for the database at most (see
    :class:`SqliteWriterLock`).
    """
    if sqlite_synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"SQLITE_SYNCHRONOUS must be NORMAL, FULL or EXTRA, not {sqlite_synchronous!r}")
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    # hide_parameters: the text of a database error (logged) never holds the statement's values,
    # which can be article bodies.
    if parsed.get_backend_name() != "sqlite":
        parsed = parsed.update_query_dict({**POSTGRES_TIMEOUTS, **parsed.query})
        engine = create_engine(parsed, pool_timeout=5, hide_parameters=True)
        _ping_when_idle(engine, POSTGRES_PING_AFTER_IDLE_S)
        _discard_postgres_connections_mid_command(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, hide_parameters=True
    )
    _configure_sqlite(engine, sqlite_synchronous.upper())
    if parsed.database and parsed.database != ":memory:":
        _WRITER_LOCKS[engine] = SqliteWriterLock(Path(parsed.database), timeout_seconds=sqlite_write_timeout)
    return engine


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot take the write lock up
    # front; we emit BEGIN ourselves (the SQLAlchemy docs' recipe), IMMEDIATE for writes,
    # so a writer waits on the busy timeout instead of failing on a lock upgrade.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        immediate = connection.info.pop("begin_immediate", False)
        bound_busy_wait(connection.connection, connection.info.pop(_WRITE_DEADLINE, None))
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout when it has been idle ``idle_seconds`` or more (the
    pool's ``pre_ping``, but not for a connection used a moment ago); one that fails the ping
    (a connection left mid-command fails it too) is discarded and the pool hands out another
    (SQLAlchemy's ``DisconnectionError`` contract)."""

    @event.listens_for(engine, "checkin")
    def note_idle(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)  # True, or raises
        except Exception as error:
            raise DisconnectionError("a pooled connection did not answer its ping") from error


def _discard_postgres_connections_mid_command(engine: Engine) -> None:
    """Never reuse a PostgreSQL connection that a fault left in the middle of a command.

    A connection reset while a statement runs can leave psycopg's connection open with a command
    in progress (transaction status ACTIVE or UNKNOWN); reused, its next statement or its pool
    ping fails with a ProgrammingError (``can't change 'autocommit' now``), which is no error in
    the request. Such a connection is dropped when it goes back to the pool, and any error on it
    counts as a lost connection: SQLAlchemy discards it and the request gets a fresh one (or,
    with the database down, a 503).
    """

    @event.listens_for(engine, "checkin")
    def drop_if_mid_command(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None and not _between_commands(dbapi_connection):
            record.invalidate()

    @event.listens_for(engine, "handle_error")
    def count_as_disconnect(context: ExceptionContext) -> None:
        driver = _driver_connection(context.connection)
        if driver is not None and not _between_commands(driver):
            context.is_disconnect = True


def _driver_connection(connection: Connection | None) -> Any:
    if connection is None or connection.invalidated or connection.closed:
        return None
    with contextlib.suppress(Exception):
        return connection.connection.driver_connection
    return None


def _between_commands(driver: Any) -> bool:
    """True when a psycopg connection is idle, in a transaction, or in a failed one."""
    try:
        return not driver.closed and driver.info.transaction_status not in _MID_COMMAND
    except Exception:
        return False


_MID_COMMAND = (TransactionStatus.ACTIVE, TransactionStatus.UNKNOWN)


class SqliteWriterLock:
    """One writer at a time across the processes and threads sharing a SQLite file.

    SQLite's own busy handler polls with sleeps of up to 100 ms, so writers of several gunicorn
    workers waiting for each other waste up to a second (measured: views p90 1.1 s). A ``flock``
    on a file beside the database, tried again every 0.1–2 ms, hands it over at once.
    A writer waits for it at most ``timeout_seconds``, then fails as the store does when it is
    unreachable (503): a writer stuck behind another process's long transaction would otherwise
    hold every writer queued behind it, and with them every thread of the worker.
    """

    def __init__(self, database: Path, *, timeout_seconds: float = SQLITE_WRITE_TIMEOUT_SECONDS) -> None:
        self.path = database.with_name(database.name + ".writer-lock")
        self.timeout_seconds = timeout_seconds
        self._thread_lock = threading.Lock()
        self._descriptor: int | None = None
        self._pid: int | None = None

    @contextmanager
    def held(self) -> Iterator[float]:
        """Hold the lock; yields the deadline (``time.monotonic()``) of the write's wait, which
        SQLite's own busy wait keeps to (:func:`bound_busy_wait`)."""
        deadline = time.monotonic() + self.timeout_seconds
        if not self._thread_lock.acquire(timeout=self.timeout_seconds):
            raise self._timed_out()
        try:
            descriptor = self._open()
            self._lock_by(descriptor, deadline)
            try:
                yield deadline
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _lock_by(self, descriptor: int, deadline: float) -> None:
        pause = _LOCK_POLL_FIRST_S
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._timed_out() from None
                time.sleep(min(pause, left))
                pause = min(pause * 2, _LOCK_POLL_MAX_S)

    def _timed_out(self) -> OperationalError:
        return OperationalError(
            "waiting for the SQLite writer lock",
            None,
            TimeoutError(f"another writer held {self.path.name} for {self.timeout_seconds:g} s"),
        )

    def _open(self) -> int:
        # A descriptor inherited through fork() would share its lock with the parent: reopen.
        if self._descriptor is None or self._pid != os.getpid():
            self._descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._descriptor


_LOCK_POLL_FIRST_S = 0.0001
_LOCK_POLL_MAX_S = 0.002
_BUSY_TIMEOUT_MS = "related_busy_timeout_ms"  # in a pooled SQLite connection's info


def bound_busy_wait(pooled: PoolProxiedConnection, deadline: float | None) -> None:
    """Let SQLite's busy handler on ``pooled`` wait until ``deadline`` (a writer's, from
    :meth:`SqliteWriterLock.held`) or, with None, its usual ``SQLITE_BUSY_TIMEOUT_MS``: another
    process's transaction (a backup, the sqlite3 shell) delays a write no longer than the lock."""
    if deadline is None:
        milliseconds = SQLITE_BUSY_TIMEOUT_MS
    else:
        milliseconds = max(1, round((deadline - time.monotonic()) * 1000))
    if pooled.info.get(_BUSY_TIMEOUT_MS, SQLITE_BUSY_TIMEOUT_MS) != milliseconds:
        cursor = pooled.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {milliseconds}")
        finally:
            cursor.close()
        pooled.info[_BUSY_TIMEOUT_MS] = milliseconds


_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, SqliteWriterLock] = weakref.WeakKeyDictionary()


def exclusive_writer(engine: Engine) -> contextlib.AbstractContextManager[float | None]:
    """Held while writing: on a SQLite file, the one writer lock of every process (it yields
    the write's deadline); else nothing (it yields None)."""
    writer_lock = _WRITER_LOCKS.get(engine)
    return writer_lock.held() if writer_lock else contextlib.nullcontext()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it takes the write lock at BEGIN.

    Prefer :func:`run_write`, which runs the transaction again when PostgreSQL aborts it for
    another's sake."""
    with exclusive_writer(engine) as deadline, engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.info["begin_immediate"] = True
            connection.info[_WRITE_DEADLINE] = deadline
        with connection.begin():
            yield connection


# PostgreSQL aborts a transaction with these when it cannot go on for another's sake (a deadlock
# victim, a serialization failure): nothing was written, and the same work run again passes.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
WRITE_ATTEMPTS = 4
RETRY_PAUSE_SECONDS = 0.01  # the first pause's mean; doubled at each attempt, jittered


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` (SQLAlchemy's or the driver's) aborted a transaction that may simply be
    run again. SQLite has no such errors: its writers take the lock at BEGIN and wait for it."""
    return _sqlstate(error) in TRANSIENT_SQLSTATES


def retry_transient(attempt: Callable[[], T], *, attempts: int = WRITE_ATTEMPTS) -> T:
    """``attempt()``, called again after a short random pause while it fails transiently (at most
    ``attempts`` times in all). ``attempt`` must be a whole transaction: all of it runs again."""
    number = 1
    while True:
        try:
            return attempt()
        except Exception as error:
            if number >= attempts or not is_transient(error):
                raise
            log.warning(
                "transaction aborted (%s), running it again (attempt %d)", _sqlstate(error), number + 1
            )
        # Full jitter: the transactions that collided do not meet again at the same moment.
        time.sleep(random.uniform(0, 2 * RETRY_PAUSE_SECONDS * 2 ** (number - 1)))
        number += 1


def run_write(engine: Engine, work: Callable[[Connection], T], *, attempts: int = WRITE_ATTEMPTS) -> T:
    """``work(connection)`` in a :func:`write_transaction`, run again from the start when the
    database aborts it as a deadlock victim or for a serialization failure.

    ``work`` may run more than once: it must do nothing but its statements (return what it found;
    leave other effects to the caller)."""

    def attempt() -> T:
        with write_transaction(engine) as connection:
            return work(connection)

    return retry_transient(attempt, attempts=attempts)


# A transaction-level advisory lock (PostgreSQL) for the writers of the learned neighbours and
# the deletes that cascade into them: the rows of one article's list are also in the lists of
# others, so two of these writers can meet in any order. Any bigint unique to this service.
NEIGHBOUR_WRITERS_LOCK = 0x52454C4154454431


def one_at_a_time(connection: Connection, key: int = NEIGHBOUR_WRITERS_LOCK) -> None:
    """Wait until no other transaction holds ``key``, then hold it until this one ends
    (PostgreSQL; on SQLite every writer already holds the database)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _sqlstate(error: BaseException) -> str | None:
    cause = error.orig if isinstance(error, DBAPIError) else error
    return getattr(cause, "sqlstate", None)


def upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str],
    keep: Sequence[str] = (),
    update: Callable[[Any], dict[str, Any]] | None = None,
) -> None:
    """Insert ``rows``; on a key conflict overwrite the columns not in ``keys`` or ``keep``.

    ``update``, given the statement's ``excluded`` row, returns other SET values instead
    (for counters: ``lambda excluded: {"views": table.c.views + excluded.views}``).
    """
    if rows:
        statement = upsert_statement(connection.dialect.name, table, keys=keys, keep=keep, update=update)
        connection.execute(statement, rows)


def upsert_statement(
    dialect: str,
    table: Table,
    *,
    keys: Sequence[str],
    keep: Sequence[str] = (),
    update: Callable[[Any], dict[str, Any]] | None = None,
) -> Insert:
    """The statement :func:`upsert` runs; build it once for a hot path (building costs ~0.3 ms)."""
    if dialect == "postgresql":
        statement: Insert = postgresql.insert(table)
    elif dialect == "sqlite":
        statement = sqlite.insert(table)
    else:  # pragma: no cover - guarded by Store
        raise NotImplementedError(f"no upsert for {dialect}")
    excluded = statement.excluded  # type: ignore[attr-defined]
    if update is None:
        set_ = {
            column.name: excluded[column.name]
            for column in table.columns
            if column.name not in keys and column.name not in keep
        }
    else:
        set_ = update(excluded)
    return statement.on_conflict_do_update(index_elements=list(keys), set_=set_)  # type: ignore[attr-defined]
