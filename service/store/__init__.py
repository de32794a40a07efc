"""The store: SQLAlchemy Core on SQLite or PostgreSQL. Knows nothing of HTTP or Flask."""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.store.articles import ArticleRepository, ArticleSummary, UpsertCounts
from service.store.changes import ChangeFeed, Changes, ensure_state_row
from service.store.clicks import ClickCount, ClickRepository
from service.store.editorial import ArticleEditorial, EditorialRepository, SiteExclusions
from service.store.engine import SQLITE_WRITE_TIMEOUT_SECONDS, make_engine
from service.store.jobs import Job, JobRepository
from service.store.migrations import migration_transaction, upgrade_to_head
from service.store.overlay import OverlayEntry, OverlayRepository
from service.store.rollup import RollupReport, RollupRepository
from service.store.sessions import SessionRevocations
from service.store.views import ViewBatch, ViewRepository, ViewStats, WindowStats
from service.store.visitors import SaltRepository
from service.windows import DEFAULT_RETENTION_DAYS

__all__ = [
    "ArticleEditorial",
    "ArticleSummary",
    "ChangeFeed",
    "Changes",
    "ClickCount",
    "Job",
    "OverlayEntry",
    "RollupReport",
    "SiteExclusions",
    "Store",
    "UpsertCounts",
    "ViewBatch",
    "ViewStats",
    "WindowStats",
]

log = logging.getLogger(__name__)


class Store:
    """The repositories over one engine."""

    def __init__(self, engine: Engine, *, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        self.engine = engine
        self.articles = ArticleRepository(engine)
        # retention_days: how long hourly view rows are kept before only daily ones remain.
        self.views = ViewRepository(engine, retention_days=retention_days)
        self.rollup = RollupRepository(engine, retention_days=retention_days)
        self.salts = SaltRepository(engine)
        self.clicks = ClickRepository(engine)
        self.jobs = JobRepository(engine)
        self.editorial = EditorialRepository(engine)
        self.overlay = OverlayRepository(engine)
        self.changes = ChangeFeed(engine)
        self.sessions = SessionRevocations(engine)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        sqlite_synchronous: str = "NORMAL",
        sqlite_write_timeout: float = SQLITE_WRITE_TIMEOUT_SECONDS,
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> Store:
        engine = make_engine(
            url, sqlite_synchronous=sqlite_synchronous, sqlite_write_timeout=sqlite_write_timeout
        )
        return cls(engine, retention_days=retention_days)

    def create_schema(self) -> None:
        """Upgrade the store to the newest schema revision; safe when several processes start at once.

        One transaction migrates and makes sure the state row exists. On SQLite it takes the
        write lock at BEGIN, so a second process waits for the first and then finds the store
        at head; on PostgreSQL an advisory lock taken first in the transaction does the same.
        """
        with migration_transaction(self.engine) as connection:
            upgrade_to_head(connection)
            ensure_state_row(connection)

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
