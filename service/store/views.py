"""View counters: hourly buckets per article, incremented with an upsert."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from service.store.articles import NEWEST_FIRST, published_by
from service.store.engine import upsert, write_transaction
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
        merged = _by_hour(counts)
        rows = [{"article_id": a, "hour": hour, "views": n} for (a, hour), n in sorted(merged.items())]
        with write_transaction(self.engine) as connection:
            upsert(
                connection,
                article_views,
                rows,
                keys=["article_id", "hour"],
                update=lambda excluded: {"views": article_views.c.views + excluded.views},
            )

    def record_batch(self, counts: Mapping[tuple[str, datetime], int]) -> set[str]:
        """Add ``(article_id, moment) -> views`` in one transaction; returns the ids recorded.

        Views of an article that does not exist (or was deleted meanwhile) are left out, so
        one of them never fails the others.
        """
        recorded: set[str] = set()
        with write_transaction(self.engine) as connection:
            for (article_id, hour), count in sorted(_by_hour(counts).items()):
                parameters = {"article_id": article_id, "hour": hour, "views": count}
                if connection.execute(self._add_if_article, parameters).first() is not None:
                    recorded.add(article_id)
        return recorded

    @cached_property
    def _add_if_article(self) -> Any:
        """INSERT … SELECT from articles (nothing when the article is gone), summing on conflict."""
        source = select(
            articles.c.id, bindparam("hour", type_=article_views.c.hour.type), bindparam("views")
        ).where(articles.c.id == bindparam("article_id"))
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        statement = dialect.insert(article_views).from_select(["article_id", "hour", "views"], source)
        return statement.on_conflict_do_update(
            index_elements=["article_id", "hour"],
            set_={"views": article_views.c.views + statement.excluded.views},
        ).returning(article_views.c.article_id)  # a row when the article exists

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
