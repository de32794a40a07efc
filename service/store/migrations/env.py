"""Alembic's environment.

The service passes its connection, in a :func:`migration_transaction` (which holds the
migration lock), in ``config.attributes["connection"]`` (see ``__init__.py``); the migrations
run in that transaction. The developers' command line
(``alembic -c service/store/migrations/alembic.ini``) passes none: then the store at
``DATABASE_URL`` (default: the app's ``instance/related.db``) is opened here, under the same
lock.
"""

from __future__ import annotations

import logging.config
import os
from pathlib import Path

from alembic import context
from sqlalchemy import Connection

from service.store.engine import make_engine
from service.store.migrations import migration_transaction

# What ``alembic revision --autogenerate`` compares the database with. Revisions themselves
# never import the live metadata: it changes, and an old revision must not change with it.
from service.store.schema import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: autogenerate writes "batch" operations (copy and move)
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def database_url() -> str:
    default = Path(__file__).resolve().parents[3] / "instance" / "related.db"
    return os.environ.get("DATABASE_URL") or f"sqlite:///{default}"


def run_from_command_line() -> None:
    if context.config.config_file_name:  # the developers' alembic.ini: show what runs
        logging.config.fileConfig(context.config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():  # alembic upgrade --sql: print the statements
        url = database_url()
        dialect = url.split(":", 1)[0].split("+", 1)[0]
        context.configure(url=url, literal_binds=True, render_as_batch=dialect == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(database_url())
    try:
        with migration_transaction(engine) as connection:
            run_migrations(connection)
    finally:
        engine.dispose()


given: Connection | None = context.config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    run_from_command_line()
