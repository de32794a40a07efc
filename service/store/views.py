"""View counters: hourly buckets per article, incremented with an upsert."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

import psycopg
from sqlalchemy import Engine, bindparam, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.dml import Insert

from service.store.articles import NEWEST_FIRST, published_by
from service.store.engine import exclusive_writer, upsert, upsert_statement, write_transaction
from service.store.schema import article_views, articles
from service.windows import floor_hour


@dataclass(frozen=True)
class ViewStats:
    total_views: int
    articles: list[tuple[str, str, int]]  # id, title, views
    series: list[tuple[date, int]]


class ViewRepository:
    """Counting views and reading popularity from the ``article_views`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, article_id: str, *, at: datetime, count: int = 1) -> None:
        """Add ``count`` views of ``article_id`` in the hour of ``at``; never loses a concurrent one."""
        self.add_counts({(article_id, at): count})

    def add_counts(self, counts: Mapping[tuple[str, datetime], int]) -> None:
        """Add many ``(article_id, moment) -> views`` counts in one transaction."""
        rows = _rows(counts)
        with write_transaction(self.engine) as connection:
            upsert(
                connection,
                article_views,
                rows,
                keys=["article_id", "hour"],
                update=lambda excluded: {"views": article_views.c.views + excluded.views},
            )

    def record_batch(self, collect: Callable[[], Mapping[tuple[str, datetime], int]]) -> set[str]:
        """Add ``(article_id, moment) -> views`` counts in one transaction; returns the ids recorded.

        The batch is one multi-row upsert in autocommit mode (a statement is its own
        transaction): one call into the database, where BEGIN, the upsert and COMMIT were three
        round trips (PostgreSQL) or three calls that each give up the GIL while every other
        worker's writer waits for the lock (SQLite). ``collect()`` is called once the SQLite
        writer lock is held, so what arrived while waiting for it joins the batch. Views of an
        article that does not exist are left out, so one of them never fails the others: only
        if an article turned out to be missing (a foreign-key error) is the batch written again
        with an existence check first.
        """
        parameters_of, placeholder = self._driver_parameters, "?" if self._sqlite else "%s"
        try:
            connection = self.engine.raw_connection()
        except (sqlite3.Error, psycopg.Error) as error:  # the pool passes the driver's own
            raise OperationalError("connecting to write a batch of views", None, error) from error
        driver: Any = connection.driver_connection
        try:
            if not self._sqlite:
                driver.autocommit = True  # restored before the connection goes back to the pool
            with exclusive_writer(self.engine):
                rows = _rows(collect())
                values = ", ".join([f"({placeholder}, {placeholder}, {placeholder})"] * len(rows))
                sql = (
                    f"INSERT INTO {article_views.name} (article_id, hour, views) VALUES {values} "
                    "ON CONFLICT (article_id, hour) DO UPDATE "
                    f"SET views = {article_views.name}.views + excluded.views"
                )
                try:
                    driver.execute(sql, [value for row in rows for value in parameters_of(row)])
                    return {str(row["article_id"]) for row in rows}
                except (sqlite3.IntegrityError, psycopg.errors.IntegrityError):
                    pass  # an article is gone: below, with an existence check
        except (sqlite3.Error, psycopg.Error) as error:
            # The store's callers know SQLAlchemy's errors (a failed write answers 503), not the
            # driver's; a connection that failed is not given back to the pool.
            connection.invalidate()
            raise OperationalError("writing a batch of views", None, error) from error
        finally:
            if connection.is_valid:
                if not self._sqlite:
                    driver.autocommit = False
                connection.close()
        return self._record_existing(rows)

    @property
    def _sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def _record_existing(self, rows: list[dict[str, Any]]) -> set[str]:
        # The articles found are share-locked (PostgreSQL) until the commit, so none can be
        # deleted between the check and the write; SQLite writers hold the database's lock.
        existing_query = (
            select(articles.c.id)
            .where(articles.c.id.in_(bindparam("ids", expanding=True)))
            .with_for_update(read=True, key_share=True)
        )
        with write_transaction(self.engine) as connection:
            ids = sorted({row["article_id"] for row in rows})
            existing = set(connection.scalars(existing_query, {"ids": ids}))
            kept = [row for row in rows if row["article_id"] in existing]
            if kept:
                connection.execute(self._add_views, kept)
        return existing

    @cached_property
    def _add_views(self) -> Insert:
        return upsert_statement(
            self.engine.dialect.name,
            article_views,
            keys=["article_id", "hour"],
            update=lambda excluded: {"views": article_views.c.views + excluded.views},
        )

    @cached_property
    def _driver_parameters(self) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
        """A row as the driver's parameters ``(article_id, hour, views)``, converted by the
        column types themselves, so hours match those written through SQLAlchemy exactly."""
        dialect = self.engine.dialect
        convert = [
            (name, article_views.c[name].type.dialect_impl(dialect).bind_processor(dialect) or _same)
            for name in ("article_id", "hour", "views")
        ]
        return lambda row: tuple(process(row[name]) for name, process in convert)

    def most_viewed(self, *, since: datetime | None, now: datetime, limit: int) -> list[tuple[str, int]]:
        """``(id, views)`` of published articles viewed since ``since``: most first, ties to the newer."""
        views = func.sum(article_views.c.views).label("views")
        query = (
            select(articles.c.id, views)
            .join(articles, articles.c.id == article_views.c.article_id)
            .where(published_by(now))
            .group_by(articles.c.id)  # the key: other columns of articles depend on it
            .order_by(views.desc(), *NEWEST_FIRST)
            .limit(limit)
        )
        if since is not None:
            query = query.where(article_views.c.hour >= since)
        with self.engine.connect() as connection:
            return [(row.id, int(row.views)) for row in connection.execute(query)]

    def stats(self, *, since: datetime | None, now: datetime, limit: int) -> ViewStats:
        """Totals, the most viewed articles and a zero-filled daily series for a window."""
        in_window: list[Any] = [] if since is None else [article_views.c.hour >= since]
        views = func.sum(article_views.c.views).label("views")
        day = func.date(article_views.c.hour).label("day")  # date(ts) on PostgreSQL and SQLite
        top = (
            select(articles.c.id, articles.c.title, views)
            .join(articles, articles.c.id == article_views.c.article_id)
            .where(*in_window)
            .group_by(articles.c.id, articles.c.title, articles.c.listed_at)
            .order_by(views.desc(), *NEWEST_FIRST)
            .limit(limit)
        )
        daily = select(day, views).where(*in_window).group_by(day)
        with self.engine.connect() as connection:
            total_query = select(func.coalesce(func.sum(article_views.c.views), 0)).where(*in_window)
            total = int(connection.scalar(total_query) or 0)
            top_rows = [(row.id, row.title, int(row.views)) for row in connection.execute(top)]
            by_day = {_as_date(row.day): int(row.views) for row in connection.execute(daily)}
        first = since.date() if since is not None else min(by_day, default=now.date())
        days = (now.date() - first).days + 1
        series = [(first + timedelta(days=offset), 0) for offset in range(max(days, 1))]
        series = [(moment, by_day.get(moment, 0)) for moment, _ in series]
        return ViewStats(total, top_rows, series)


def _same(value: Any) -> Any:
    return value


def _rows(counts: Mapping[tuple[str, datetime], int]) -> list[dict[str, Any]]:
    return [{"article_id": a, "hour": hour, "views": n} for (a, hour), n in sorted(_by_hour(counts).items())]


def _by_hour(counts: Mapping[tuple[str, datetime], int]) -> dict[tuple[str, datetime], int]:
    merged: dict[tuple[str, datetime], int] = {}
    for (article_id, moment), count in counts.items():
        key = (article_id, floor_hour(moment))
        merged[key] = merged.get(key, 0) + count
    return merged


def _as_date(value: Any) -> date:
    # SQLite returns date() as text, PostgreSQL as a date.
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
