"""View counters: hourly buckets per article, visitors per article and day, bot hits; windows.

Writes: every view is an upsert into its article's hour (``article_views``), and its reader's
``(article, day, visitor)`` row is inserted if new (``article_visitors``); bot hits add to their
hour (``bot_hits``). The group commit (``service/view_recorder.py``) writes a whole batch at once
through :meth:`ViewRepository.record_batch`.

Reads: a window's most viewed articles come from ``popularity_sums`` (each window's counts per
article as of the rollup checkpoint, kept by ``service/store/rollup.py``), corrected by the
hours since the checkpoint and the hours that left the window since: the head of one index plus
an hour or two of rows, however long the history. Totals and series read the daily rollups and
the hourly rows after them (``service/store/buckets.py``).
"""

from __future__ import annotations

import heapq
import math
import sqlite3
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

import psycopg
from sqlalchemy import BigInteger, Connection, Engine, Float, Table, bindparam, func, select, text, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.dml import Insert

from service.store import buckets
from service.store.articles import lock_stored, published_by
from service.store.engine import (
    bound_busy_wait,
    exclusive_writer,
    retry_transient,
    run_write,
    upsert,
    upsert_statement,
)
from service.store.schema import (
    UTCDateTime,
    article_daily,
    article_views,
    article_visitors,
    articles,
    bot_hits,
    popularity_sums,
)
from service.windows import (
    BASELINE_PERIODS,
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

BASELINE = "baseline"  # the popularity_sums rows of trending's baseline (see service/windows.py)


@dataclass(frozen=True)
class ViewStats:
    """Totals, the most viewed articles ``(id, title, views)`` and views per day."""

    total_views: int
    articles: list[tuple[str, str, int]]
    series: list[tuple[date, int]]


@dataclass(frozen=True)
class RankedArticle:
    """An article of a window's ranking: its views and visitors in the window, and its score
    (the views, or trending's score)."""

    id: str
    title: str
    views: int
    visitors: int
    score: float


@dataclass(frozen=True)
class DayCounts:
    day: date
    views: int
    visitors: int
    bot_hits: int


@dataclass(frozen=True)
class WindowStats:
    start: datetime | None  # the window's first moment (None: all time)
    total_views: int
    unique_visitors: int
    bot_hits: int
    articles: list[RankedArticle]
    series: list[DayCounts]  # one per UTC day of the window, zero-filled


@dataclass
class ViewBatch:
    """What a group commit writes: views per (article, hour), new readers, bot hits per hour."""

    views: Counter[tuple[str, datetime]] = field(default_factory=Counter)
    visitors: dict[tuple[str, date, int], datetime] = field(default_factory=dict)
    bots: Counter[datetime] = field(default_factory=Counter)

    def add_view(self, article_id: str, at: datetime, visitor: int | None = None, count: int = 1) -> None:
        hour = floor_hour(at)
        self.views[(article_id, hour)] += count
        if visitor is not None:
            key = (article_id, hour.date(), visitor)
            first = self.visitors.get(key)
            if first is None or hour < first:
                self.visitors[key] = hour

    def add_bot_hit(self, at: datetime, count: int = 1) -> None:
        self.bots[floor_hour(at)] += count

    @classmethod
    def of_counts(cls, counts: Mapping[tuple[str, datetime], int]) -> ViewBatch:
        batch = cls()
        for (article_id, at), count in counts.items():
            batch.add_view(article_id, at, count=count)
        return batch

    def view_rows(self) -> list[dict[str, Any]]:
        return [{"article_id": a, "hour": hour, "views": n} for (a, hour), n in sorted(self.views.items())]

    def visitor_rows(self, keep: Callable[[str], bool] = lambda _: True) -> list[dict[str, Any]]:
        return [
            {"article_id": a, "day": day, "visitor": visitor, "hour": hour}
            for (a, day, visitor), hour in sorted(self.visitors.items())
            if keep(a)
        ]

    def bot_rows(self) -> list[dict[str, Any]]:
        return [{"hour": hour, "hits": n} for hour, n in sorted(self.bots.items())]


@dataclass(frozen=True)
class _Left:
    """The part of a window that left it since the checkpoint: ``[since, until)``, in hours or,
    for a window longer than the retention, in whole days."""

    since: datetime
    until: datetime
    hourly: bool

    def views(self, connection: Connection, ids: Collection[str]) -> dict[str, int]:
        if self.hourly:
            return buckets.hourly_views(connection, self.since, self.until, ids)
        days = buckets.daily_counts(connection, self.since.date(), self.until.date(), ids)
        return {a: views for a, (views, _) in days.items()}


_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Candidate:
    id: str
    views: int
    listed_at: datetime
    baseline: int

    def score(self, window: str) -> float:
        return trending_score(self.views, self.baseline) if window == TRENDING else float(self.views)


class ViewRepository:
    """Counting views and reading popularity (``retention_days``: how long hourly rows stay)."""

    # Reading the stored sums best first settles a ranking from its head when views are skewed
    # (as a site's are). When they are flat (a new site, or every article viewed once or twice
    # since the checkpoint), nearly every article can still enter and the head settles nothing:
    # past this many rows to read or articles to check, the database ranks the whole window in
    # one grouped statement instead (on 100k articles, 60k of them viewed since the checkpoint:
    # 0.8 s by pages, mostly Python; 0.15 s in the database, which releases the GIL).
    whole_window_after_rows = 4000

    def __init__(self, engine: Engine, *, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        self.engine = engine
        self.retention_days = retention_days

    # --- writing ---------------------------------------------------------------------------

    def record(self, article_id: str, *, at: datetime, count: int = 1) -> None:
        """Add ``count`` views of ``article_id`` in the hour of ``at``; never loses a concurrent one."""
        self.add_counts({(article_id, at): count})

    def add_counts(self, counts: Mapping[tuple[str, datetime], int]) -> None:
        """Add many ``(article_id, moment) -> views`` counts in one transaction."""
        rows = ViewBatch.of_counts(counts).view_rows()
        run_write(
            self.engine,
            lambda connection: upsert(
                connection,
                article_views,
                rows,
                keys=["article_id", "hour"],
                update=lambda excluded: {"views": article_views.c.views + excluded.views},
            ),
        )

    def record_batch(self, collect: Callable[[], ViewBatch | Mapping[tuple[str, datetime], int]]) -> set[str]:
        """Write a batch of views, readers and bot hits at once; returns the article ids recorded.

        One multi-row statement per table, all in one transaction: on PostgreSQL a single
        statement (the visitors' and bot hits' inserts are data-modifying CTEs of the views'
        upsert) in autocommit mode, one round trip; on SQLite the statements between BEGIN
        IMMEDIATE and COMMIT, one call into SQLite each, under the writer lock (a batch of views
        alone is one autocommitted statement, as before). ``collect()`` is called once the
        SQLite writer lock is held, so what arrived while waiting for it joins the batch. Views
        of an article that does not exist are left out, so one of them never fails the others:
        only if an article turned out to be missing (a foreign-key error) is the batch written
        again with an existence check first.
        """
        try:
            connection = self.engine.raw_connection()
        except (sqlite3.Error, psycopg.Error) as error:  # the pool passes the driver's own
            raise OperationalError("connecting to write a batch of views", None, error) from error
        driver: Any = connection.driver_connection
        batch = ViewBatch()
        try:
            if not self._sqlite:
                driver.autocommit = True  # restored before the connection goes back to the pool
            with exclusive_writer(self.engine) as deadline:
                if self._sqlite:
                    bound_busy_wait(connection, deadline)
                collected = collect()
                batch = collected if isinstance(collected, ViewBatch) else ViewBatch.of_counts(collected)
                statements = self._batch_statements(batch)
                try:
                    # One transaction (PostgreSQL: one autocommitted statement), so all of it
                    # runs again if it was a deadlock's victim (a DELETE cascading to views).
                    retry_transient(lambda: self._execute(driver, statements))
                    return {article_id for article_id, _ in batch.views}
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
        return self._record_existing(batch)

    def _execute(self, driver: Any, statements: list[tuple[str, list[Any]]]) -> None:
        if not statements:
            return
        if not self._sqlite:
            # Data-modifying CTEs: one statement, so one round trip and one atomic commit.
            *first, (last_sql, _) = statements
            ctes = ", ".join(f"w{number} AS ({sql})" for number, (sql, _) in enumerate(first))
            sql = f"WITH {ctes} {last_sql}" if first else last_sql
            driver.execute(sql, [value for _, values in statements for value in values])
            return
        if len(statements) == 1:
            driver.execute(*statements[0])  # autocommit: the statement is its transaction
            return
        driver.execute("BEGIN IMMEDIATE")
        try:
            for sql, values in statements:
                driver.execute(sql, values)
        except BaseException:
            driver.execute("ROLLBACK")
            raise
        driver.execute("COMMIT")

    def _batch_statements(self, batch: ViewBatch) -> list[tuple[str, list[Any]]]:
        statements = []
        views, visitors, bots = batch.view_rows(), batch.visitor_rows(), batch.bot_rows()
        if views:
            statements.append(
                (
                    self._insert_sql(article_views, len(views)) + " ON CONFLICT (article_id, hour) DO UPDATE "
                    f"SET views = {article_views.name}.views + excluded.views",
                    self._values(article_views, views),
                )
            )
        if visitors:
            statements.append(
                (
                    self._insert_sql(article_visitors, len(visitors)) + " ON CONFLICT DO NOTHING",
                    self._values(article_visitors, visitors),
                )
            )
        if bots:
            statements.append(
                (
                    self._insert_sql(bot_hits, len(bots))
                    + f" ON CONFLICT (hour) DO UPDATE SET hits = {bot_hits.name}.hits + excluded.hits",
                    self._values(bot_hits, bots),
                )
            )
        return statements

    def _insert_sql(self, table: Table, rows: int) -> str:
        names = _WRITTEN[table.name]
        placeholder = "?" if self._sqlite else "%s"
        row = "(" + ", ".join([placeholder] * len(names)) + ")"
        return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES " + ", ".join([row] * rows)

    def _values(self, table: Table, rows: list[dict[str, Any]]) -> list[Any]:
        convert = self._converters[table.name]
        return [process(row[name]) for row in rows for name, process in convert]

    @property
    def _sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def _record_existing(self, batch: ViewBatch) -> set[str]:
        def write(connection: Connection) -> set[str]:
            # The articles found stay locked against deletion until the commit (lock_stored).
            existing = lock_stored(connection, (article_id for article_id, _ in batch.views))
            kept = [row for row in batch.view_rows() if row["article_id"] in existing]
            if kept:
                connection.execute(self._add_views, kept)
            readers = batch.visitor_rows(lambda article_id: article_id in existing)
            if readers:
                connection.execute(self._add_visitors, readers)
            if batch.bots:
                connection.execute(self._add_bot_hits, batch.bot_rows())
            return existing

        return run_write(self.engine, write)

    @cached_property
    def _add_views(self) -> Insert:
        return upsert_statement(
            self.engine.dialect.name,
            article_views,
            keys=["article_id", "hour"],
            update=lambda excluded: {"views": article_views.c.views + excluded.views},
        )

    @cached_property
    def _add_visitors(self) -> Insert:
        insert = postgresql.insert if not self._sqlite else sqlite.insert
        return insert(article_visitors).on_conflict_do_nothing()

    @cached_property
    def _add_bot_hits(self) -> Insert:
        return upsert_statement(
            self.engine.dialect.name,
            bot_hits,
            keys=["hour"],
            update=lambda excluded: {"hits": bot_hits.c.hits + excluded.hits},
        )

    @cached_property
    def _converters(self) -> dict[str, list[tuple[str, Callable[[Any], Any]]]]:
        """Each written table's columns with the driver-level conversion of their type, so
        hours and days match those written through SQLAlchemy exactly."""
        dialect = self.engine.dialect
        tables = {table.name: table for table in (article_views, article_visitors, bot_hits)}
        return {
            name: [
                (column, tables[name].c[column].type.dialect_impl(dialect).bind_processor(dialect) or _same)
                for column in columns
            ]
            for name, columns in _WRITTEN.items()
        }

    # --- reading ---------------------------------------------------------------------------

    def _retention(self, connection: Connection) -> tuple[datetime | None, int]:
        """The rollup checkpoint, and the retention that decides the windows' starts: the one
        the window sums were built for (every process agrees), else this process's setting."""
        at, retention = buckets.state(connection)
        return at, retention or self.retention_days

    def most_viewed(self, window: str, *, now: datetime, limit: int) -> list[tuple[str, int]]:
        """``(id, views)`` of the published articles viewed in ``window``, best first: most
        views (for ``trending``, the highest trending score), ties to the newer article."""
        with self._snapshot() as connection:
            return [(c.id, c.views) for c in self._rank(connection, window, now, limit)]

    def window_stats(self, window: str, *, now: datetime, limit: int) -> WindowStats:
        """Totals, the ranked articles and a zero-filled daily series of ``window``."""
        with self._snapshot() as connection:
            at, retention = self._retention(connection)
            start = window_start(window, now, retention)
            ranked = self._rank(connection, window, now, limit)
            ids = [candidate.id for candidate in ranked]
            visitors = self._visitors_of(connection, start=start, at=at, ids=ids)
            titles = _titles(connection, ids)
            days = buckets.site_days(connection, start, None, buckets.rolled_before(at))
        first = start.date() if start is not None else min(days, default=now.date())
        series = [
            DayCounts(day, totals.views, totals.visitors, totals.bot_hits)
            for day in _days(first, now.date())
            for totals in [days.get(day, buckets.DayTotals())]
        ]
        return WindowStats(
            start=start,
            total_views=sum(point.views for point in series),
            unique_visitors=sum(point.visitors for point in series),
            bot_hits=sum(point.bot_hits for point in series),
            articles=[
                RankedArticle(c.id, titles.get(c.id, ""), c.views, visitors.get(c.id, 0), c.score(window))
                for c in ranked
            ],
            series=series,
        )

    def stats(self, *, now: datetime, limit: int) -> ViewStats:
        """All-time totals, most viewed and views per day (the windows: :meth:`window_stats`)."""
        with self._snapshot() as connection:
            rolled = buckets.rolled_before(buckets.checkpoint(connection))
            counts = buckets.article_counts(connection, None, None, rolled, with_visitors=False)
            days = buckets.site_days(connection, None, None, rolled)
            listed = _listed(connection, counts, now)
            best = heapq.nlargest(
                limit,
                ((views, listed[a], a) for a, (views, _) in counts.items() if views > 0 and a in listed),
            )
            ids = [a for _, _, a in best]
            titles = _titles(connection, ids)
        first = min(days, default=now.date())
        series = [(day, days[day].views if day in days else 0) for day in _days(first, now.date())]
        return ViewStats(
            total_views=sum(views for _, views in series),
            articles=[(a, titles[a], views) for views, _, a in best],
            series=series,
        )

    def history(self, article_id: str, *, first: date, now: datetime) -> dict[date, tuple[int, int]]:
        """Views and visitors of one article per UTC day from ``first`` to today (days without
        views left out)."""
        with self._snapshot() as connection:
            rolled = buckets.rolled_before(buckets.checkpoint(connection))
            result: dict[date, tuple[int, int]] = {}
            parts = buckets.split(midnight(first), None, rolled)
            if parts.days is not None:
                query = select(article_daily.c.day, article_daily.c.views, article_daily.c.visitors).where(
                    article_daily.c.article_id == article_id,
                    article_daily.c.day >= parts.days[0],
                    article_daily.c.day < parts.days[1],
                )
                for day, views, visitors in connection.execute(query):
                    result[buckets.as_date(day)] = (int(views), int(visitors))
            for lo, hi in parts.hourly:
                day_of = func.date(article_views.c.hour)
                views_query = (
                    select(day_of, func.sum(article_views.c.views))
                    .where(
                        article_views.c.article_id == article_id,
                        *buckets.between(article_views.c.hour, lo, hi),
                    )
                    .group_by(day_of)
                )
                for day, views in connection.execute(views_query):
                    key = buckets.as_date(day)
                    result[key] = (result.get(key, (0, 0))[0] + int(views), result.get(key, (0, 0))[1])
                visitors_query = (
                    select(article_visitors.c.day, func.count())
                    .where(
                        article_visitors.c.article_id == article_id,
                        *buckets.between(article_visitors.c.hour, lo, hi),
                    )
                    .group_by(article_visitors.c.day)
                )
                for day, visitors in connection.execute(visitors_query):
                    key = buckets.as_date(day)
                    result[key] = (result.get(key, (0, 0))[0], result.get(key, (0, 0))[1] + int(visitors))
        return result

    def site_days(self, *, first: date, now: datetime) -> dict[date, buckets.DayTotals]:
        """The site's views, visitors and bot hits per UTC day from ``first`` to today."""
        with self._snapshot() as connection:
            rolled = buckets.rolled_before(buckets.checkpoint(connection))
            return buckets.site_days(connection, midnight(first), None, rolled)

    # --- ranking ---------------------------------------------------------------------------

    def _snapshot(self) -> Any:
        """A connection whose reads all see one snapshot: the window sums, the checkpoint and the
        hours after it must agree (SQLite: a read transaction; PostgreSQL: repeatable read)."""
        connection = self.engine.connect()
        if not self._sqlite:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        return connection

    def _rank(self, connection: Connection, window: str, now: datetime, limit: int) -> list[_Candidate]:
        at, retention = self._retention(connection)
        start = window_start(window, now, retention)
        if window == TRENDING and start is not None:
            return self._rank_trending(connection, now=now, start=start, at=at, limit=limit)
        if at is None or (start is not None and start >= at):
            return self._rank_directly(connection, window=window, now=now, start=start, at=at, limit=limit)
        then = window_start(window, at, retention)
        left = None
        if start is not None and then is not None and then < start:
            left = _Left(then, start, hour_exact(window, retention))
        return self._rank_from_sums(connection, window=window, now=now, at=at, left=left, limit=limit)

    def _rank_trending(
        self, connection: Connection, *, now: datetime, start: datetime, at: datetime | None, limit: int
    ) -> list[_Candidate]:
        """Trending from its 6 hours of hourly rows (always kept), best first.

        Once the rollup has stored today's baselines, see
        :meth:`_rank_trending_with_stored_baselines`. Before that (the minutes after midnight)
        the baselines come from the buckets: a score is at most the article's views of the 6
        hours (its denominator is at least 1), so articles are taken by those views, their
        baselines read a chunk at a time, until the next one's views cannot beat the
        ``limit``-th score.
        """
        if at is not None and at.date() == now.date():
            return self._rank_trending_with_stored_baselines(connection, now=now, start=start, limit=limit)
        recent = buckets.hourly_views(connection, start, None)
        order = sorted(recent, key=lambda a: recent[a], reverse=True)
        best: list[_Candidate] = []
        chunk = max(limit, 100)
        for offset in range(0, len(order), chunk):
            if len(best) == limit and recent[order[offset]] < best[-1].score(TRENDING):
                break
            ids = order[offset : offset + chunk]
            baseline = self._baselines(connection, ids, now, at)
            listed = _listed(connection, dict.fromkeys(ids), now)
            best = _best(
                [
                    *best,
                    *(_Candidate(a, recent[a], listed[a], baseline.get(a, 0)) for a in ids if a in listed),
                ],
                TRENDING,
                limit,
            )
        return best

    def _rank_trending_with_stored_baselines(
        self, connection: Connection, *, now: datetime, start: datetime, limit: int
    ) -> list[_Candidate]:
        """Trending when the rollup has stored today's baselines (after the day's first run).

        The articles that led trending at the checkpoint, scored exactly now, give a lower bound
        on the ``limit``-th score; a score is at most the article's views in the window, so one
        grouped scan of the window's hours, kept to the articles with at least that many views
        and each joined to its stored baseline, holds every article that can rank.
        """
        leaders = list(
            connection.scalars(
                select(popularity_sums.c.article_id)
                .where(popularity_sums.c.window_name == TRENDING)
                .order_by(popularity_sums.c.score.desc())
                .limit(2 * limit)
            )
        )
        floor = 0.0
        if leaders:
            recent = buckets.hourly_views(connection, start, None, leaders)
            baseline = self._stored_baselines(connection, leaders)
            listed = _listed(connection, dict.fromkeys(leaders), now)
            known = _best(
                [_Candidate(a, recent.get(a, 0), when, baseline.get(a, 0)) for a, when in listed.items()],
                TRENDING,
                limit,
            )
            floor = known[-1].score(TRENDING) if len(known) == limit else 0.0
        counts = _window_views_with_baselines(connection, start, floor=floor)
        order = sorted(counts, key=lambda a: trending_score(*counts[a]), reverse=True)
        best: list[_Candidate] = []
        chunk = 2 * limit
        for offset in range(0, len(order), chunk):
            if len(best) == limit and trending_score(*counts[order[offset]]) < best[-1].score(TRENDING):
                break
            ids = order[offset : offset + chunk]
            listed = _listed(connection, dict.fromkeys(ids), now)
            best = _best(
                [*best, *(_Candidate(a, counts[a][0], listed[a], counts[a][1]) for a in ids if a in listed)],
                TRENDING,
                limit,
            )
        return best

    def _stored_baselines(self, connection: Connection, ids: list[str]) -> dict[str, int]:
        query = select(popularity_sums.c.article_id, popularity_sums.c.views).where(
            popularity_sums.c.window_name == BASELINE, popularity_sums.c.article_id.in_(ids)
        )
        return {row[0]: int(row[1]) for row in connection.execute(query)}

    def _baselines(
        self, connection: Connection, ids: list[str], now: datetime, at: datetime | None
    ) -> dict[str, int]:
        """Each article's views on the 14 UTC days before today (trending's baseline): stored
        by the rollup for the checkpoint's day, else read from the buckets."""
        if at is not None and at.date() == now.date():
            return self._stored_baselines(connection, ids)
        first, end = baseline_days(now.date())
        counts = buckets.article_counts(
            connection, midnight(first), midnight(end), buckets.rolled_before(at), ids, with_visitors=False
        )
        return {a: views for a, (views, _) in counts.items()}

    def _rank_directly(
        self,
        connection: Connection,
        *,
        window: str,
        now: datetime,
        start: datetime | None,
        at: datetime | None,
        limit: int,
    ) -> list[_Candidate]:
        """The ranking from the buckets themselves: before the first rollup, or when it is far
        behind (every count since the window's start is then in hourly rows anyway)."""
        if window != TRENDING:
            return _ranked_hours(connection, start=start, now=now, limit=limit)
        rolled = buckets.rolled_before(at)
        counts = buckets.article_counts(connection, start, None, rolled, with_visitors=False)
        baseline: dict[str, list[int]] = {}
        if window == TRENDING and counts:
            first, end = baseline_days(now.date())
            baseline = buckets.article_counts(
                connection, midnight(first), midnight(end), rolled, counts, with_visitors=False
            )
        listed = _listed(connection, counts, now)
        candidates = [
            _Candidate(a, views, listed[a], baseline.get(a, [0])[0])
            for a, (views, _) in counts.items()
            if views > 0 and a in listed
        ]
        return _best(candidates, window, limit)

    def _rank_from_sums(
        self,
        connection: Connection,
        *,
        window: str,
        now: datetime,
        at: datetime,
        left: _Left | None,
        limit: int,
    ) -> list[_Candidate]:
        """The ranking from ``popularity_sums`` (the window as of the checkpoint ``at``), plus
        the hours since ``at``, minus what left the window since (``left``).

        The stored rows are read best first, a page at a time, and corrected exactly. Views
        leaving the window only lower a score, so an article below the page scores at most the
        last row read, plus its views since ``at``: once ``limit`` candidates beat that row, the
        only others that can enter are those with enough views since ``at`` to close the gap,
        and one grouped scan of the hours since ``at`` (``HAVING``) finds those few.
        """
        base = popularity_sums.alias("base")
        kept = (
            select(
                popularity_sums.c.article_id,
                popularity_sums.c.views,
                popularity_sums.c.score,
                popularity_sums.c.listed_at,
                func.coalesce(base.c.views, 0).label("baseline"),
            )
            .outerjoin(
                base, (base.c.window_name == BASELINE) & (base.c.article_id == popularity_sums.c.article_id)
            )
            .where(popularity_sums.c.window_name == window, popularity_sums.c.listed_at <= now)
            .order_by(
                popularity_sums.c.score.desc(),
                popularity_sums.c.listed_at.desc(),
                popularity_sums.c.article_id.desc(),
            )
        )
        # Past this many rows or articles to check, the database ranks the whole window (not
        # trending, whose score it does not compute).
        most = math.inf if window == TRENDING else self.whole_window_after_rows

        def whole_window() -> list[_Candidate]:
            return _ranked_window(connection, window=window, now=now, at=at, left=left, limit=limit)

        page = max(2 * limit, 16)
        while True:
            if page > most:
                return whole_window()
            rows = connection.execute(kept.limit(page)).all()
            ids = [row.article_id for row in rows]
            since = buckets.hourly_views(connection, at, None, ids) if ids else {}
            gone = left.views(connection, ids) if left is not None and ids else {}
            candidates = {
                row.article_id: _Candidate(
                    row.article_id,
                    int(row.views) + since.get(row.article_id, 0) - gone.get(row.article_id, 0),
                    row.listed_at,
                    int(row.baseline),
                )
                for row in rows
            }
            best = _best(list(candidates.values()), window, limit)
            full = len(rows) == page
            last = (float(rows[-1].score), rows[-1].listed_at, rows[-1].article_id) if full else None
            if last is not None and (len(best) < limit or _key(best[-1], window) <= last):
                page *= 4  # the page does not settle the head yet (ties, or views that left)
                continue
            # An article below the page scores at most last[0] + its views since `at` (a
            # trending score divides them by at least 1): it can enter only with this many.
            floor = best[-1].score(window) - (last[0] if last else 0.0) if len(best) == limit else 0.0
            cap = None if most == math.inf else page + int(most) + 1
            rising = buckets.views_since(connection, at, at_least=max(math.ceil(floor), 1), limit=cap)
            if len(rising) == cap:  # too many to check one by one
                return whole_window()
            others = [a for a in rising if a not in candidates]
            if full and len(others) > max(limit, 64):
                page *= 4  # a longer page lowers its last score, and so the articles to check
                continue
            if len(others) > most:
                return whole_window()
            since.update(rising)
            if others:
                risen = self._risen(connection, window=window, now=now, since=since, left=left, ids=others)
                candidates.update(risen)
                best = _best(list(candidates.values()), window, limit)
            return best

    def _risen(
        self,
        connection: Connection,
        *,
        window: str,
        now: datetime,
        since: dict[str, int],
        left: _Left | None,
        ids: list[str],
    ) -> dict[str, _Candidate]:
        """Exact candidates for ``ids``: stored views, plus the views ``since`` the checkpoint,
        minus those that left; published articles only."""
        base = popularity_sums.alias("base")
        stored: dict[str, tuple[int, int]] = {}
        for offset in range(0, len(ids), 500):
            chunk = ids[offset : offset + 500]
            query = (
                select(
                    articles.c.id, func.coalesce(popularity_sums.c.views, 0), func.coalesce(base.c.views, 0)
                )
                .outerjoin(
                    popularity_sums,
                    (popularity_sums.c.window_name == window)
                    & (popularity_sums.c.article_id == articles.c.id),
                )
                .outerjoin(base, (base.c.window_name == BASELINE) & (base.c.article_id == articles.c.id))
                .where(articles.c.id.in_(chunk))
            )
            stored.update((row[0], (int(row[1]), int(row[2]))) for row in connection.execute(query))
        listed = _listed(connection, stored, now)
        gone = left.views(connection, list(listed)) if left is not None else {}
        return {
            a: _Candidate(a, stored[a][0] + since.get(a, 0) - gone.get(a, 0), when, stored[a][1])
            for a, when in listed.items()
        }

    def _visitors_of(
        self,
        connection: Connection,
        *,
        start: datetime | None,
        at: datetime | None,
        ids: list[str],
    ) -> dict[str, int]:
        """The window's visitors of each of ``ids``."""
        if not ids:
            return {}
        counts = buckets.article_counts(connection, start, None, buckets.rolled_before(at), ids)
        return {a: visitors for a, (_, visitors) in counts.items()}


_WRITTEN = {
    article_views.name: ("article_id", "hour", "views"),
    article_visitors.name: ("article_id", "day", "visitor", "hour"),
    bot_hits.name: ("hour", "hits"),
}


def _key(candidate: _Candidate, window: str) -> tuple[float, datetime, str]:
    return (candidate.score(window), candidate.listed_at, candidate.id)


def _best(candidates: list[_Candidate], window: str, limit: int) -> list[_Candidate]:
    """The ``limit`` best candidates with views: highest score, ties to the newer article."""
    viewed = (candidate for candidate in candidates if candidate.views > 0)
    return heapq.nlargest(limit, viewed, key=lambda candidate: _key(candidate, window))


def _ranked_hours(
    connection: Connection, *, start: datetime | None, now: datetime, limit: int
) -> list[_Candidate]:
    """The ``limit`` published articles most viewed in the hours since ``start``, best first,
    ranked by the database: one grouped scan, joined to the articles, sorted and cut there (in
    Python, 60k viewed articles of a 100k site took 0.6 s of a worker's GIL a refresh)."""
    since = " WHERE hour >= :lo" if start is not None else ""
    index = buckets.hour_index(connection, "ix_article_views_hour") if start is not None else ""
    statement = text(
        "SELECT recent.article_id, recent.views, articles.listed_at FROM (SELECT article_id,"
        f" SUM(views) AS views FROM article_views{index}{since} GROUP BY article_id) recent"
        " JOIN articles ON articles.id = recent.article_id"
        " WHERE articles.listed_at <= :now AND recent.views > 0"
        " ORDER BY recent.views DESC, articles.listed_at DESC, recent.article_id DESC LIMIT :limit"
    ).columns(listed_at=UTCDateTime())
    values: dict[str, Any] = {"now": now, "limit": limit}
    types = [bindparam("now", type_=UTCDateTime())]
    if start is not None:
        values["lo"] = start
        types.append(bindparam("lo", type_=UTCDateTime()))
    rows = connection.execute(statement.bindparams(*types), values)
    return [_Candidate(article_id, int(views), listed_at, 0) for article_id, views, listed_at in rows]


def _ranked_window(
    connection: Connection, *, window: str, now: datetime, at: datetime, left: _Left | None, limit: int
) -> list[_Candidate]:
    """The ``limit`` published articles most viewed in ``window``, ranked by the database in one
    statement: the stored sums as of the checkpoint ``at``, plus the hours since, minus what
    left the window since (``left``)."""
    parts = [
        select(popularity_sums.c.article_id, popularity_sums.c.views).where(
            popularity_sums.c.window_name == window
        ),
        select(article_views.c.article_id, article_views.c.views).where(article_views.c.hour >= at),
    ]
    if left is not None and left.hourly:
        parts.append(
            select(article_views.c.article_id, -article_views.c.views).where(
                article_views.c.hour >= left.since, article_views.c.hour < left.until
            )
        )
    elif left is not None:
        parts.append(
            select(article_daily.c.article_id, -article_daily.c.views).where(
                article_daily.c.day >= left.since.date(), article_daily.c.day < left.until.date()
            )
        )
    counts = union_all(*parts).subquery("counts")
    views = func.sum(counts.c.views)
    query = (
        select(counts.c.article_id, views, articles.c.listed_at)
        .join(articles, articles.c.id == counts.c.article_id)
        .where(published_by(now))
        .group_by(counts.c.article_id, articles.c.listed_at)
        .having(views > 0)
        .order_by(views.desc(), articles.c.listed_at.desc(), counts.c.article_id.desc())
        .limit(limit)
    )
    return [_Candidate(a, int(total), listed_at, 0) for a, total, listed_at in connection.execute(query)]


def _window_views_with_baselines(
    connection: Connection, start: datetime, *, floor: float
) -> dict[str, tuple[int, int]]:
    """``(views since start, stored baseline)`` of the articles whose trending score may reach
    ``floor``: one grouped scan of the hours keeps those with at least ``floor`` views (a score
    is at most the views), their baselines are looked up, and those that score lower are left
    out (with a margin for the database's rounding; the caller scores exactly)."""
    statement = text(
        "SELECT article_id, views, base FROM (SELECT recent.article_id, recent.views,"
        " COALESCE((SELECT stored.views FROM popularity_sums stored"
        " WHERE stored.window_name = :baseline AND stored.article_id = recent.article_id), 0) AS base"
        " FROM (SELECT article_id, SUM(views) AS views FROM article_views"
        f"{buckets.hour_index(connection, 'ix_article_views_hour')} WHERE hour >= :lo"
        " GROUP BY article_id HAVING SUM(views) >= :least) recent) scored"
        " WHERE views >= :floor * (1.0 + base / :periods)"
    ).bindparams(
        bindparam("lo", type_=UTCDateTime()),
        bindparam("least", type_=BigInteger()),
        bindparam("floor", type_=Float()),
        bindparam("periods", type_=Float()),
    )
    values = {
        "lo": start,
        "least": max(math.ceil(floor), 1),
        "floor": floor * (1 - 1e-9),
        "periods": float(BASELINE_PERIODS),
        "baseline": BASELINE,
    }
    return {
        article_id: (int(views), int(base))
        for article_id, views, base in connection.execute(statement, values)
    }


def _listed(connection: Connection, ids: Mapping[str, Any], now: datetime) -> dict[str, datetime]:
    """``listed_at`` of those of ``ids`` published by ``now``."""
    result: dict[str, datetime] = {}
    values = sorted(ids)
    for offset in range(0, len(values), 500):
        query = select(articles.c.id, articles.c.listed_at).where(
            articles.c.id.in_(values[offset : offset + 500]), published_by(now)
        )
        result.update((row[0], row[1]) for row in connection.execute(query))
    return result


def _titles(connection: Connection, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    query = select(articles.c.id, articles.c.title).where(articles.c.id.in_(ids))
    return {row[0]: row[1] for row in connection.execute(query)}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range(max((last - first).days + 1, 1))]


def _same(value: Any) -> Any:
    return value


__all__ = ["WINDOWS", "DayCounts", "RankedArticle", "ViewBatch", "ViewRepository", "ViewStats", "WindowStats"]
