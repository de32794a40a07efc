"""The hourly rollup: daily counts, each window's sums, and pruning of old hourly rows.

At most once an hour (``flask --app wsgi prune``, or the service itself, see
``service/view_recorder.py``) one transaction moves the checkpoint to the last whole hour (less
a few minutes of grace for views still being committed), and:

1. rolls every day that became complete into ``article_daily`` and ``site_daily`` (recomputed
   from the hourly rows, so running it twice changes nothing; site-wide visitors are the
   distinct readers of the day, not a sum);
2. brings each window's ``popularity_sums`` from the old checkpoint to the new one: plus the
   hours in between, minus what left the window (hourly rows, or whole days for a window longer
   than the retention); trending's scores and baseline follow;
3. deletes hourly rows (views, visitors, bot hits) from days older than the retention, and the
   visitor salts of days gone by.

The first run (or a change of the retention) builds the sums from scratch. Concurrent runs in
several processes take turns on the ``counter_state`` row (SQLite: the writer lock; PostgreSQL:
``SELECT … FOR UPDATE``); a run that finds the checkpoint already there does nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from service.store import buckets
from service.store.engine import run_write
from service.store.schema import (
    article_daily,
    article_views,
    article_visitors,
    articles,
    bot_hits,
    counter_state,
    popularity_sums,
    site_daily,
    visitor_salts,
)
from service.windows import (
    DEFAULT_RETENTION_DAYS,
    TRENDING,
    WINDOWS,
    baseline_days,
    floor_hour,
    hour_exact,
    midnight,
    trending_score,
    window_start,
)

# Views are stamped when they arrive and committed within seconds (VIEW_COMMIT_TIMEOUT_SECONDS):
# an hour is rolled up only this long after it ended, so no view lands in it afterwards.
GRACE = timedelta(minutes=5)
BASELINE = "baseline"
SALT_DAYS_KEPT = 2  # today's and yesterday's salts (views of the grace minutes after midnight)
_CHUNK = 500


@dataclass(frozen=True)
class RollupReport:
    """What a run did."""

    checkpoint: datetime | None  # hours before it are rolled up
    advanced: bool  # whether this run moved it
    rebuilt: bool  # whether the window sums were built from scratch
    days_rolled: int
    rows_pruned: int  # hourly rows (views, visitors, bot hits) deleted
    kept_from: datetime | None  # hourly rows before it are gone


class RollupRepository:
    """Rolls hourly counts up; ``retention_days``: how many days of hourly rows to keep."""

    def __init__(self, engine: Engine, *, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        if retention_days < 1:
            raise ValueError("HOURLY_RETENTION_DAYS must be at least 1")
        self.engine = engine
        self.retention_days = retention_days

    def target(self, now: datetime) -> datetime:
        """Where a run at ``now`` moves the checkpoint."""
        return floor_hour(now - GRACE)

    def checkpoint(self) -> datetime | None:
        with self.engine.connect() as connection:
            return buckets.checkpoint(connection)

    def due(self, now: datetime) -> bool:
        """Whether a run at ``now`` has an hour to roll up (one cheap read)."""
        at = self.checkpoint()
        return at is None or at < self.target(now)

    def run(self, now: datetime, *, reroll_from: date | None = None) -> RollupReport:
        """Roll up to ``target(now)`` and prune (see the module's docstring).

        ``reroll_from``: views were added to hours already rolled up, from that day on (demo
        views): its days are rolled up again from their hourly rows, which must all be there
        (within the retention), and the sums built from scratch."""
        target = self.target(now)

        def roll(connection: Connection) -> RollupReport:
            at, retention = _lock_state(connection)
            rebuild = at is None or retention != self.retention_days or reroll_from is not None
            advanced = at is None or at < target or rebuild
            days = 0
            if advanced:
                start_day = at.date() if at is not None else _first_day(connection)
                if reroll_from is not None:
                    start_day = min(start_day, reroll_from) if start_day is not None else reroll_from
                end_day = max(target.date(), start_day) if start_day is not None else target.date()
                if start_day is not None:
                    days = self._roll_days(connection, start_day, end_day)
                if rebuild:
                    self._build_sums(connection, target)
                else:
                    assert at is not None
                    self._advance_sums(connection, at, max(at, target))
                at = max(at, target) if at is not None and not rebuild else target
                connection.execute(
                    update(counter_state)
                    .where(counter_state.c.id == 1)
                    .values(checkpoint=at, retention_days=self.retention_days)
                )
            assert at is not None
            kept_from = midnight(at.date()) - timedelta(days=self.retention_days)
            pruned = self._prune(connection, kept_from, at.date())
            return RollupReport(at, advanced, rebuild, days, pruned, kept_from)

        return run_write(self.engine, roll)

    # --- 1. daily rows ----------------------------------------------------------------------

    def _roll_days(self, connection: Connection, first: date, end: date) -> int:
        """Recompute the daily rows of the days ``[first, end)`` from their hourly rows."""
        day, rolled = first, 0
        while day < end:
            lo, hi = midnight(day), midnight(day + timedelta(days=1))
            views = buckets.hourly_views(connection, lo, hi)
            visitors = buckets.hourly_visitors(connection, lo, hi)
            connection.execute(delete(article_daily).where(article_daily.c.day == day))
            rows = [
                {"article_id": a, "day": day, "views": views.get(a, 0), "visitors": visitors.get(a, 0)}
                for a in sorted(views.keys() | visitors.keys())
            ]
            if rows:
                connection.execute(article_daily.insert(), rows)
            site = buckets.site_days(connection, lo, hi, None).get(day, buckets.DayTotals())
            connection.execute(delete(site_daily).where(site_daily.c.day == day))
            if site.views or site.visitors or site.bot_hits:
                connection.execute(
                    site_daily.insert().values(
                        day=day, views=site.views, visitors=site.visitors, bot_hits=site.bot_hits
                    )
                )
            day += timedelta(days=1)
            rolled += 1
        return rolled

    # --- 2. window sums ---------------------------------------------------------------------

    def _build_sums(self, connection: Connection, at: datetime) -> None:
        """Every window's sums as of ``at``, from scratch (daily rows are complete before its day)."""
        connection.execute(delete(popularity_sums))
        rolled = at.date()
        first, end = baseline_days(rolled)
        baseline = buckets.article_counts(
            connection, midnight(first), midnight(end), rolled, with_visitors=False
        )
        self._write(connection, BASELINE, {a: (views, 0) for a, (views, _) in baseline.items()}, {})
        base = {a: views for a, (views, _) in baseline.items()}
        for window in WINDOWS:
            start = window_start(window, at, self.retention_days)
            counts = buckets.article_counts(connection, start, at, rolled)
            self._write(connection, window, {a: (v, u) for a, (v, u) in counts.items()}, base)

    def _advance_sums(self, connection: Connection, at: datetime, target: datetime) -> None:
        """Each window's sums from checkpoint ``at`` to ``target``."""
        if target <= at:
            return
        new_day = target.date() != at.date()
        if new_day:
            first, end = baseline_days(target.date())
            counts = buckets.daily_counts(connection, first, end)
            connection.execute(delete(popularity_sums).where(popularity_sums.c.window_name == BASELINE))
            self._write(connection, BASELINE, {a: (views, 0) for a, (views, _) in counts.items()}, {})
        base = self._stored(connection, BASELINE, None)
        entering_views = buckets.hourly_views(connection, at, target)
        entering_visitors = buckets.hourly_visitors(connection, at, target)
        for window in WINDOWS:
            delta: dict[str, list[int]] = {}
            for a, views in entering_views.items():
                delta.setdefault(a, [0, 0])[0] += views
            for a, visitors in entering_visitors.items():
                delta.setdefault(a, [0, 0])[1] += visitors
            then = window_start(window, at, self.retention_days)
            later = window_start(window, target, self.retention_days)
            if then is not None and later is not None and then < later:
                if hour_exact(window, self.retention_days):
                    left_views = buckets.hourly_views(connection, then, later)
                    left_visitors = buckets.hourly_visitors(connection, then, later)
                else:
                    daily = buckets.daily_counts(connection, then.date(), later.date())
                    left_views = {a: v for a, (v, _) in daily.items()}
                    left_visitors = {a: u for a, (_, u) in daily.items()}
                for a, views in left_views.items():
                    delta.setdefault(a, [0, 0])[0] -= views
                for a, visitors in left_visitors.items():
                    delta.setdefault(a, [0, 0])[1] -= visitors
            stored = self._stored(connection, window, delta)
            updated = {
                a: (stored.get(a, (0, 0))[0] + dv, stored.get(a, (0, 0))[1] + du)
                for a, (dv, du) in delta.items()
            }
            gone = [a for a, (views, _) in updated.items() if views <= 0 and a in stored]
            _delete(connection, window, gone)
            kept = {a: counts for a, counts in updated.items() if counts[0] > 0}
            _delete(connection, window, [a for a in kept if a in stored])
            self._write(connection, window, kept, {a: b for a, (b, _) in base.items()})
            if window == TRENDING and new_day:
                self._rescore_trending(connection, {a: b for a, (b, _) in base.items()})
        # Articles whose date changed since: their ties sort by the new one.
        changed = select(articles.c.id).where(articles.c.updated_at >= at)
        connection.execute(
            update(popularity_sums)
            .where(popularity_sums.c.article_id.in_(changed))
            .values(
                listed_at=select(articles.c.listed_at)
                .where(articles.c.id == popularity_sums.c.article_id)
                .scalar_subquery()
            )
        )

    def _rescore_trending(self, connection: Connection, base: dict[str, int]) -> None:
        """Trending's scores after its baseline moved to a new day."""
        rows = connection.execute(
            select(popularity_sums.c.article_id, popularity_sums.c.views, popularity_sums.c.score).where(
                popularity_sums.c.window_name == TRENDING
            )
        ).all()
        changes = [
            {"a": row.article_id, "s": trending_score(int(row.views), base.get(row.article_id, 0))}
            for row in rows
            if trending_score(int(row.views), base.get(row.article_id, 0)) != row.score
        ]
        if changes:
            connection.execute(
                update(popularity_sums)
                .where(
                    popularity_sums.c.window_name == TRENDING, popularity_sums.c.article_id == bindparam("a")
                )
                .values(score=bindparam("s")),
                changes,
            )

    def _stored(
        self, connection: Connection, window: str, ids: Collection[str] | None
    ) -> dict[str, tuple[int, int]]:
        result: dict[str, tuple[int, int]] = {}
        values = None if ids is None else sorted(ids)
        chunks: Iterable[list[str] | None] = (
            [None] if values is None else (values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK))
        )
        for chunk in chunks:
            query = select(
                popularity_sums.c.article_id, popularity_sums.c.views, popularity_sums.c.visitors
            ).where(popularity_sums.c.window_name == window)
            if chunk is not None:
                query = query.where(popularity_sums.c.article_id.in_(chunk))
            for article_id, views, visitors in connection.execute(query):
                result[article_id] = (int(views), int(visitors))
        return result

    def _write(
        self, connection: Connection, window: str, counts: dict[str, tuple[int, int]], base: dict[str, int]
    ) -> None:
        """Insert the rows of ``window`` for ``counts`` (articles with views; their ``listed_at``)."""
        ids = sorted(a for a, (views, _) in counts.items() if views > 0)
        rows = []
        for offset in range(0, len(ids), _CHUNK):
            chunk = ids[offset : offset + _CHUNK]
            for article_id, listed_at in connection.execute(
                select(articles.c.id, articles.c.listed_at).where(articles.c.id.in_(chunk))
            ):
                views, visitors = counts[article_id]
                score = trending_score(views, base.get(article_id, 0)) if window == TRENDING else float(views)
                rows.append(
                    {
                        "window_name": window,
                        "article_id": article_id,
                        "views": views,
                        "visitors": max(visitors, 0),
                        "score": score,
                        "listed_at": listed_at,
                    }
                )
        if rows:
            connection.execute(popularity_sums.insert(), rows)

    # --- 3. pruning -------------------------------------------------------------------------

    def _prune(self, connection: Connection, kept_from: datetime, today: date) -> int:
        pruned = 0
        for statement in (
            delete(article_views).where(article_views.c.hour < kept_from),
            delete(article_visitors).where(article_visitors.c.day < kept_from.date()),
            delete(bot_hits).where(bot_hits.c.hour < kept_from),
        ):
            pruned += connection.execute(statement).rowcount or 0
        connection.execute(
            delete(visitor_salts).where(visitor_salts.c.day <= today - timedelta(days=SALT_DAYS_KEPT))
        )
        return pruned


def _lock_state(connection: Connection) -> tuple[datetime | None, int | None]:
    """The checkpoint and the retention it was built for, its row locked until commit."""
    insert: Any = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(insert(counter_state).values(id=1).on_conflict_do_nothing())
    row = connection.execute(
        select(counter_state.c.checkpoint, counter_state.c.retention_days)
        .where(counter_state.c.id == 1)
        .with_for_update()
    ).one()
    return row.checkpoint, row.retention_days


def _first_day(connection: Connection) -> date | None:
    """The first day with hourly rows."""
    firsts = [
        connection.scalar(select(func.min(article_views.c.hour))),
        connection.scalar(select(func.min(bot_hits.c.hour))),
    ]
    days = [
        moment.date() if isinstance(moment, datetime) else buckets.as_date(moment)
        for moment in firsts
        if moment
    ]
    visitor_day = connection.scalar(select(func.min(article_visitors.c.day)))
    if visitor_day is not None:
        days.append(buckets.as_date(visitor_day))
    return min(days, default=None)


def _delete(connection: Connection, window: str, ids: list[str]) -> None:
    for offset in range(0, len(ids), _CHUNK):
        connection.execute(
            delete(popularity_sums).where(
                popularity_sums.c.window_name == window,
                popularity_sums.c.article_id.in_(ids[offset : offset + _CHUNK]),
            )
        )
