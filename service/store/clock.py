"""The database's clock: the one clock that every process and host sharing a store agrees on.

Leases expire, jobs go stale and learned neighbours are dated by it, so a process whose own
clock is off (a VM after a pause, a host without NTP) can neither keep a lease it lost nor take
one that is still held.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, func, select


def database_now(connection: Connection) -> datetime:
    """The database server's current time, as an aware UTC datetime."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        # CURRENT_TIMESTAMP has whole seconds on SQLite; %f gives milliseconds.
        text = connection.exec_driver_sql("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')").scalar_one()
        return datetime.fromisoformat(str(text)).replace(tzinfo=UTC)
    if dialect == "postgresql":
        # now() is the transaction's start; clock_timestamp() advances within it.
        value = connection.exec_driver_sql("SELECT clock_timestamp()").scalar_one()
    else:  # pragma: no cover - the store runs on SQLite and PostgreSQL
        value = connection.execute(select(func.current_timestamp())).scalar_one()
    if not isinstance(value, datetime):  # pragma: no cover - a driver returning text
        value = datetime.fromisoformat(str(value))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
