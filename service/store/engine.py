"""Engines for SQLite (the default) and PostgreSQL, and the dialect-neutral upsert."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.sql.dml import Insert

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str) -> Engine:
    """An engine for ``url``; ``postgresql://`` means psycopg 3, SQLite gets WAL and a busy timeout."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot take the write lock up
    # front; we emit BEGIN ourselves (the SQLAlchemy docs' recipe), IMMEDIATE for writes,
    # so a writer waits on the busy timeout instead of failing on a lock upgrade.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")  # a commit is on disk before it is acknowledged
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        immediate = connection.info.pop("begin_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it takes the write lock at BEGIN."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.info["begin_immediate"] = True
        with connection.begin():
            yield connection


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
