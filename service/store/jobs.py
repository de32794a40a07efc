"""Reindex jobs and the lease that lets only one run at a time, across processes and hosts.

The lease is the ``leases`` row named ``reindex``: its ``holder`` is the id of the job that
runs, ``expires_at`` when it is free again unless the holder renews it. Every decision is one
transaction that takes the lease row first (one lock order: no deadlock), and every time in it
is the database's clock (service.store.clock), never the process's: a process whose clock is
off can neither take a lease still held nor keep one it has lost.

A job holds the lease while its row is still queued or running and the lease names it. Once
another job took the lease over (the holder's heartbeats stopped for ``stale_after``) or the
job was given up for dead, everything the old holder tries is refused: its heartbeat returns
``False``, :meth:`JobRepository.finish` records nothing, and the publishing fence
(``service.reindex``) refuses to switch the pointer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, or_, select, update

from service.store.clock import database_now
from service.store.engine import run_write, upsert
from service.store.schema import leases, reindex_jobs

REINDEX_LEASE = "reindex"
ACTIVE_STATES = ("queued", "running")
GIVEN_UP = "the worker running this job stopped"


class LeaseLost(RuntimeError):
    """The job no longer holds the reindex lease: it must stop and publish nothing."""


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
    plain_text_articles: int | None = None  # bodies indexed as plain text by a succeeded build


def _job(row: Row[Any]) -> Job:
    return Job(**row._mapping)


class JobRepository:
    """The ``reindex_jobs`` table and the ``leases`` row that guards it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def database_now(self) -> datetime:
        """The database's clock now."""
        with self.engine.connect() as connection:
            return database_now(connection)

    def claim(self, job_id: str, *, source: str, stale_after: timedelta, now: datetime | None = None) -> bool:
        """Take the reindex lease for a new queued job; ``False`` when another job holds it.

        The lease is free when nobody holds it or when it expired by the database's clock (its
        holder sent no heartbeat for ``stale_after``). ``now`` is the time recorded for the
        claim (default: the database's clock; tests pass an earlier one to make a job look
        dead); expiry is always judged by the database's clock.
        """

        def write(connection: Connection) -> bool:
            clock = database_now(connection)
            at = clock if now is None else now
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
                    or_(leases.c.holder.is_(None), leases.c.expires_at < clock),
                )
                .values(holder=job_id, expires_at=at + stale_after)
            ).rowcount
            if not taken:
                return False
            self._fail_orphans(connection, clock)
            connection.execute(
                reindex_jobs.insert().values(
                    id=job_id, state="queued", source=source, created_at=at, heartbeat_at=at
                )
            )
            return True

        return run_write(self.engine, write)

    def _fail_orphans(self, connection: Connection, clock: datetime) -> None:
        # Whoever held the lease before us is gone: its job can never finish (and if it is only
        # paused, everything it tries from now on is refused).
        connection.execute(
            update(reindex_jobs)
            .where(reindex_jobs.c.state.in_(ACTIVE_STATES))
            .values(state="failed", finished_at=clock, error=GIVEN_UP)
        )

    def begin(self, job_id: str, *, stale_after: timedelta) -> bool:
        """Mark a claimed job running (its ``started_at`` by the database's clock) and renew its
        lease; ``False`` when it no longer holds the lease."""
        return self._renew(job_id, stale_after, start=True)

    def heartbeat(self, job_id: str, *, stale_after: timedelta) -> bool:
        """Renew the job's lease for ``stale_after`` from now, by the database's clock; ``False``
        (and nothing written) when the job no longer holds it: it must stop."""
        return self._renew(job_id, stale_after, start=False)

    def _renew(self, job_id: str, stale_after: timedelta, *, start: bool) -> bool:
        def write(connection: Connection) -> bool:
            if _lease_holder(connection) != job_id:
                return False  # another job took the lease over
            clock = database_now(connection)
            changes: dict[str, Any] = {"heartbeat_at": clock}
            if start:
                changes.update(state="running", started_at=clock)
            alive = connection.execute(
                update(reindex_jobs)
                .where(reindex_jobs.c.id == job_id, reindex_jobs.c.state.in_(ACTIVE_STATES))
                .values(**changes)
            ).rowcount
            if not alive:
                return False  # given up for dead (no heartbeat for stale_after)
            connection.execute(
                update(leases).where(leases.c.name == REINDEX_LEASE).values(expires_at=clock + stale_after)
            )
            return True

        return run_write(self.engine, write)

    def finish(self, job_id: str, *, state: str, **changes: Any) -> bool:
        """Record the outcome and release the lease, only while the job holds it: a holder that
        lost the lease cannot overwrite what was recorded since. Whether it was recorded."""

        def write(connection: Connection) -> bool:
            if _lease_holder(connection) != job_id:
                return False
            clock = database_now(connection)
            recorded = connection.execute(
                update(reindex_jobs)
                .where(reindex_jobs.c.id == job_id, reindex_jobs.c.state.in_(ACTIVE_STATES))
                .values(state=state, finished_at=clock, heartbeat_at=clock, **changes)
            ).rowcount
            connection.execute(
                update(leases).where(leases.c.name == REINDEX_LEASE).values(holder=None, expires_at=None)
            )
            return bool(recorded)

        return run_write(self.engine, write)

    def get(self, job_id: str) -> Job | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(reindex_jobs).where(reindex_jobs.c.id == job_id)).first()
        return None if row is None else _job(row)

    def latest(self, *, stale_after: timedelta, now: datetime | None = None) -> Job | None:
        """The newest job; an active one without a heartbeat for ``stale_after`` (by the
        database's clock) is marked failed first. ``now`` is ignored (kept for callers that
        pass their own clock): a process's clock decides nothing here."""
        del now

        def write(connection: Connection) -> Job | None:
            clock = database_now(connection)
            connection.execute(
                update(reindex_jobs)
                .where(
                    reindex_jobs.c.state.in_(ACTIVE_STATES),
                    reindex_jobs.c.heartbeat_at < clock - stale_after,
                )
                .values(state="failed", finished_at=clock, error=GIVEN_UP)
            )
            row = connection.execute(
                select(reindex_jobs).order_by(reindex_jobs.c.created_at.desc()).limit(1)
            ).first()
            return None if row is None else _job(row)

        return run_write(self.engine, write)

    def holder(self) -> str | None:
        """The job that holds the reindex lease, if any (expired or not)."""
        with self.engine.connect() as connection:
            return connection.scalar(select(leases.c.holder).where(leases.c.name == REINDEX_LEASE))


def _lease_holder(connection: Connection) -> str | None:
    """The lease's holder, its row locked until the transaction ends (on PostgreSQL; SQLite's
    write transaction holds the whole database). Taken first, before any job row, by every
    writer of both: one lock order, no deadlock."""
    return connection.scalar(select(leases.c.holder).where(leases.c.name == REINDEX_LEASE).with_for_update())
