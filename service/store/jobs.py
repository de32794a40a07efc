"""Reindex jobs and the lease that lets only one run at a time, across processes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, or_, select, update

from service.store.engine import upsert, write_transaction
from service.store.schema import leases, reindex_jobs

REINDEX_LEASE = "reindex"
ACTIVE_STATES = ("queued", "running")


@dataclass(frozen=True)
class Job:
    id: str
    state: str
    source: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    articles: int | None
    index_version: str | None
    error: str | None


def _job(row: Row[Any]) -> Job:
    return Job(**row._mapping)


class JobRepository:
    """The ``reindex_jobs`` table and the ``leases`` row that guards it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, job_id: str, *, source: str, now: datetime, stale_after: timedelta) -> bool:
        """Take the reindex lease for a new queued job; ``False`` when another job holds it.

        A lease whose holder stopped sending heartbeats for ``stale_after`` is free again.
        """
        with write_transaction(self.engine) as connection:
            # Make sure the lease row exists (a no-op update when it does).
            upsert(
                connection,
                leases,
                [{"name": REINDEX_LEASE, "holder": None, "expires_at": None}],
                keys=["name"],
                update=lambda excluded: {"name": leases.c.name},
            )
            taken = connection.execute(
                update(leases)
                .where(
                    leases.c.name == REINDEX_LEASE,
                    or_(leases.c.holder.is_(None), leases.c.expires_at < now),
                )
                .values(holder=job_id, expires_at=now + stale_after)
            ).rowcount
            if not taken:
                return False
            self._fail_orphans(connection, now)
            connection.execute(
                reindex_jobs.insert().values(
                    id=job_id, state="queued", source=source, created_at=now, heartbeat_at=now
                )
            )
        return True

    def _fail_orphans(self, connection: Connection, now: datetime) -> None:
        # Whoever held the lease before us is gone: its job can never finish.
        connection.execute(
            update(reindex_jobs)
            .where(reindex_jobs.c.state.in_(ACTIVE_STATES))
            .values(state="failed", finished_at=now, error="the worker running this job stopped")
        )

    def heartbeat(self, job_id: str, *, now: datetime, stale_after: timedelta, **changes: Any) -> None:
        """Keep the lease alive and record progress (``state``, ``started_at``, …)."""
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(leases)
                .where(leases.c.name == REINDEX_LEASE, leases.c.holder == job_id)
                .values(expires_at=now + stale_after)
            )
            connection.execute(
                update(reindex_jobs).where(reindex_jobs.c.id == job_id).values(heartbeat_at=now, **changes)
            )

    def finish(self, job_id: str, *, now: datetime, state: str, **changes: Any) -> None:
        """Record the outcome and release the lease."""
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(reindex_jobs)
                .where(reindex_jobs.c.id == job_id)
                .values(state=state, finished_at=now, heartbeat_at=now, **changes)
            )
            connection.execute(
                update(leases)
                .where(leases.c.name == REINDEX_LEASE, leases.c.holder == job_id)
                .values(holder=None, expires_at=None)
            )

    def get(self, job_id: str) -> Job | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(reindex_jobs).where(reindex_jobs.c.id == job_id)).first()
        return None if row is None else _job(row)

    def latest(self, *, now: datetime, stale_after: timedelta) -> Job | None:
        """The newest job; an active one without a recent heartbeat is marked failed first."""
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(reindex_jobs)
                .where(
                    reindex_jobs.c.state.in_(ACTIVE_STATES),
                    reindex_jobs.c.heartbeat_at < now - stale_after,
                )
                .values(state="failed", finished_at=now, error="the worker running this job stopped")
            )
            row = connection.execute(
                select(reindex_jobs).order_by(reindex_jobs.c.created_at.desc()).limit(1)
            ).first()
        return None if row is None else _job(row)
