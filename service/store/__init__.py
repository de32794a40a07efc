"""The store: SQLAlchemy Core on SQLite or PostgreSQL. Knows nothing of HTTP or Flask."""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.store.articles import ArticleRepository, ArticleSummary, UpsertCounts
from service.store.changes import ChangeFeed, Changes, ensure_state_row
from service.store.clicks import ClickCount, ClickRepository
from service.store.editorial import ArticleEditorial, EditorialRepository, SiteExclusions
from service.store.engine import make_engine, write_transaction
from service.store.jobs import Job, JobRepository
from service.store.overlay import OverlayEntry, OverlayRepository
from service.store.schema import metadata
from service.store.views import ViewRepository, ViewStats

__all__ = [
    "ArticleEditorial",
    "ArticleSummary",
    "ChangeFeed",
    "Changes",
    "ClickCount",
    "Job",
    "OverlayEntry",
    "SiteExclusions",
    "Store",
    "UpsertCounts",
    "ViewStats",
]

log = logging.getLogger(__name__)


class Store:
    """The repositories over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.articles = ArticleRepository(engine)
        self.views = ViewRepository(engine)
        self.clicks = ClickRepository(engine)
        self.jobs = JobRepository(engine)
        self.editorial = EditorialRepository(engine)
        self.overlay = OverlayRepository(engine)
        self.changes = ChangeFeed(engine)

    @classmethod
    def from_url(cls, url: str, *, sqlite_synchronous: str = "NORMAL") -> Store:
        return cls(make_engine(url, sqlite_synchronous=sqlite_synchronous))

    def create_schema(self, attempts: int = 5) -> None:
        """Create missing tables; safe when several processes start at once.

        On SQLite the write lock is taken up front, so a second worker waits for the first
        (a deferred transaction would fail at once on the lock upgrade). On PostgreSQL two
        concurrent CREATE TABLEs can still collide; the loser checks again and finds the table.
        """
        for attempt in range(1, attempts + 1):
            try:
                with write_transaction(self.engine) as connection:
                    metadata.create_all(connection)
                    ensure_state_row(connection)
                return
            except SQLAlchemyError:
                if attempt == attempts:
                    raise
                log.info("schema creation raced with another process; checking again")
                time.sleep(0.1 * attempt)

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError:
            log.warning("store ping failed", exc_info=True)
            return False
        return True

    def dispose(self) -> None:
        self.changes.close()
        self.engine.dispose()
