"""Click counters: hourly buckets per article, list and clicked article, added with an upsert."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from service.store.buckets import as_date
from service.store.engine import run_write, upsert
from service.store.schema import article_clicks
from service.windows import floor_hour


@dataclass(frozen=True)
class ClickCount:
    """Clicks from one article's list ``section`` on ``target_id``."""

    section: str
    target_id: str
    clicks: int


class ClickRepository:
    """Counting clicks on recommendations in the ``article_clicks`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, article_id: str, *, section: str, target_id: str, at: datetime) -> bool:
        """Add a click on ``target_id`` in ``article_id``'s ``section`` list, in the hour of
        ``at``. False, and nothing written, when either article does not exist."""
        row = {
            "article_id": article_id,
            "section": section,
            "target_id": target_id,
            "hour": floor_hour(at),
            "clicks": 1,
        }
        try:
            run_write(
                self.engine,
                lambda connection: upsert(
                    connection,
                    article_clicks,
                    [row],
                    keys=["article_id", "section", "target_id", "hour"],
                    update=lambda excluded: {"clicks": article_clicks.c.clicks + excluded.clicks},
                ),
            )
        except IntegrityError:  # a foreign key: one of the two articles is not stored
            return False
        return True

    def counts(self, article_id: str, *, since: datetime | None = None) -> list[ClickCount]:
        """Clicks from ``article_id``'s lists since ``since`` (all time: None), most first."""
        clicks = func.sum(article_clicks.c.clicks).label("clicks")
        query = (
            select(article_clicks.c.section, article_clicks.c.target_id, clicks)
            .where(article_clicks.c.article_id == article_id)
            .group_by(article_clicks.c.section, article_clicks.c.target_id)
            .order_by(clicks.desc(), article_clicks.c.section, article_clicks.c.target_id)
        )
        if since is not None:
            query = query.where(article_clicks.c.hour >= since)
        with self.engine.connect() as connection:
            return [
                ClickCount(row.section, row.target_id, int(row.clicks)) for row in connection.execute(query)
            ]

    def by_section(self, *, since: datetime | None) -> dict[str, int]:
        """Clicks per list since ``since`` (all time: None)."""
        clicks = func.sum(article_clicks.c.clicks)
        query = select(article_clicks.c.section, clicks).group_by(article_clicks.c.section)
        if since is not None:
            query = query.where(article_clicks.c.hour >= since)
        with self.engine.connect() as connection:
            return {section: int(total) for section, total in connection.execute(query)}

    def daily_by_section(self, *, since: datetime) -> dict[date, dict[str, int]]:
        """Clicks per UTC day and list since ``since``."""
        day = func.date(article_clicks.c.hour)
        query = (
            select(day, article_clicks.c.section, func.sum(article_clicks.c.clicks))
            .where(article_clicks.c.hour >= since)
            .group_by(day, article_clicks.c.section)
        )
        result: dict[date, dict[str, int]] = defaultdict(dict)
        with self.engine.connect() as connection:
            for moment, section, total in connection.execute(query):
                result[as_date(moment)][section] = int(total)
        return dict(result)

    def daily_of(self, article_id: str, *, since: datetime) -> dict[date, int]:
        """Clicks on the recommendations under ``article_id`` per UTC day since ``since``."""
        day = func.date(article_clicks.c.hour)
        query = (
            select(day, func.sum(article_clicks.c.clicks))
            .where(article_clicks.c.article_id == article_id, article_clicks.c.hour >= since)
            .group_by(day)
        )
        with self.engine.connect() as connection:
            return {as_date(moment): int(total) for moment, total in connection.execute(query)}
