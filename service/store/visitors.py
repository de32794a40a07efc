"""The daily salts of visitor hashes, shared through the store by every worker and replica."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from service.store.engine import run_write
from service.store.schema import visitor_salts


class SaltRepository:
    """One random salt per UTC day in ``visitor_salts``, made by whoever needs it first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def salt_for(self, day: date) -> bytes:
        """The salt of ``day``: read, or made now (a process that races ours gets ours)."""
        query = select(visitor_salts.c.salt).where(visitor_salts.c.day == day)
        with self.engine.connect() as connection:
            found = connection.scalar(query)
        if found is None:
            insert: Any = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert

            def make(connection: Connection) -> Any:
                connection.execute(
                    insert(visitor_salts).values(day=day, salt=secrets.token_hex(32)).on_conflict_do_nothing()
                )
                return connection.scalar(query)

            found = run_write(self.engine, make)
        return bytes.fromhex(str(found))
