"""The store's schema migrations (Alembic), run by every process as it starts.

The revisions in ``versions/`` are the schema's history; :func:`upgrade_to_head` brings a store
to the newest one inside the caller's transaction. No alembic.ini is read at run time: the
configuration is built here, and the caller's connection reaches ``env.py`` through
``config.attributes["connection"]``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, text

from service.store.engine import exclusive_writer

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent

# The revision of the schema that stores made before migrations existed (metadata.create_all).
INITIAL = "0001_initial"

# The key of the PostgreSQL advisory lock held by the process that migrates ("rp_schem" in
# ASCII). It is database-wide, so services on other schemas of one database take turns too.
POSTGRES_LOCK_KEY = 0x72705F736368656D

# Alembic's ``context`` and ``op`` are module-level proxies: one migration at a time per process
# (threads starting apps on different databases would otherwise swap each other's context).
_ALEMBIC_IN_USE = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for this package's revisions, running on ``connection``."""
    config = Config()
    # ConfigParser would read a "%" in the path as interpolation
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def lock_for_migration(connection: Connection) -> None:
    """On PostgreSQL, wait for any other process migrating this database; held until commit.

    It is the transaction's first statement, so a process that waited then reads the schema
    the first one committed. (On SQLite the writer lock and BEGIN IMMEDIATE do this.)
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK_KEY})


class ForeignKeyViolation(RuntimeError):
    """A migration left rows whose parent is missing (SQLite, where it ran without enforcement)."""


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """The one transaction that migrates, holding the lock that makes other processes wait.

    SQLite: the process-wide writer lock and BEGIN IMMEDIATE, as every write; and foreign keys
    off for the transaction, as SQLite's own procedure for schema changes requires: a batch
    migration (copy the table, drop the old one, rename) would otherwise delete, by ON DELETE
    CASCADE, every row referring to the table it drops. The keys are checked before commit.
    """
    sqlite = engine.dialect.name == "sqlite"
    with exclusive_writer(engine), engine.connect() as connection:
        driver: sqlite3.Connection | None = None
        if sqlite:
            connection.info["begin_immediate"] = True
            # before BEGIN: inside a transaction the pragma does nothing (the driver autocommits)
            driver = cast(sqlite3.Connection, connection.connection.driver_connection)
            driver.execute("PRAGMA foreign_keys = OFF")
        try:
            with connection.begin():
                lock_for_migration(connection)
                yield connection
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise ForeignKeyViolation("the migration left rows without their parent")
        finally:
            if driver is not None:
                try:
                    driver.execute("PRAGMA foreign_keys = ON")
                except sqlite3.Error:
                    connection.invalidate()  # never back to the pool without its foreign keys


def upgrade_to_head(connection: Connection) -> None:
    """Upgrade the store to the newest revision, in the caller's :func:`migration_transaction`.

    A store made before migrations existed has the first revision's tables but no
    ``alembic_version``: it is stamped with :data:`INITIAL` first, then upgraded.
    """
    config = alembic_config(connection)
    tables = inspect(connection)
    # Every process runs this at start: Alembic's "Context impl …" lines would say nothing new;
    # an upgrade is logged below, once, by the process that made it.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    with _ALEMBIC_IN_USE:
        if tables.has_table("articles") and not tables.has_table("alembic_version"):
            command.stamp(config, INITIAL)
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(config, "head")
        after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        log.info("store schema upgraded from %s to %s", before or "nothing", after)
