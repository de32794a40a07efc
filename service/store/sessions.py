"""Dashboard sessions signed out before they expired.

A session is a signed cookie: nothing on the server ends it but a record that it was signed out,
kept until the cookie would have expired anyway.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, delete, select

from service.store.engine import run_write, upsert
from service.store.schema import revoked_sessions


class SessionRevocations:
    """The ``revoked_sessions`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def revoke(self, session_id: str, *, expires_at: datetime, now: datetime) -> None:
        """Refuse ``session_id`` from now until ``expires_at``; forget those expired by ``now``."""

        def write(connection: Connection) -> None:
            connection.execute(delete(revoked_sessions).where(revoked_sessions.c.expires_at < now))
            upsert(
                connection,
                revoked_sessions,
                [{"session_id": session_id, "expires_at": expires_at}],
                keys=["session_id"],
            )

        run_write(self.engine, write)

    def is_revoked(self, session_id: str) -> bool:
        with self.engine.connect() as connection:
            found = connection.scalar(
                select(revoked_sessions.c.session_id).where(revoked_sessions.c.session_id == session_id)
            )
        return found is not None
