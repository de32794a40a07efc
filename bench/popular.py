"""Popular lists on a large history: any window's top 50 in at most 20 ms.

python -m bench.popular [--articles 100000] [--days 365] [--repeat 40] [--database sqlite postgres]

Fills a temporary SQLite store and a PostgreSQL one (a fresh schema of ``BENCH_POSTGRES_URL``,
default the test database) with ``--articles`` articles and a year of views with a realistic
skew: each article's share of a day's views follows a Zipf law over a random order, drifting
slowly (articles rise and fade), so a day has ~10k articles with views and the year ~4M daily
rows. The last 14 days are hourly rows, as the retention keeps them; older days are daily rows,
as the rollup leaves them. The rollup (``flask prune``) then runs as the service runs it once an
hour, with its checkpoint an hour behind, so every ranking also reads the last hour or two of
hourly rows. Then ``ViewRepository.most_viewed`` is timed for every window: median and p95 of
repeated calls (top 50, and the 1,000 each worker keeps). Results go to
``bench/results/popular.json``.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.databases import fresh_postgres_schema
from service.store import Store
from service.store.schema import article_daily, article_views, articles, site_daily
from service.windows import WINDOWS, floor_hour, midnight

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_S = 0.020
DAILY_VIEWS = 300_000  # the site's views per day
ZIPF = 1.1
RETENTION_DAYS = 14
DEPTH = 1000  # what each worker's Popularity keeps per window


@contextmanager
def store_url(database: str) -> Iterator[str]:
    """A URL of an empty store: a temporary SQLite file, or a fresh PostgreSQL schema."""
    if database == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-popular-") as folder:
            yield f"sqlite:///{Path(folder) / 'popular.db'}"
        return
    with fresh_postgres_schema() as url:
        yield url


def shares(count: int, days: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Each day's share of the views per article: Zipf over an order that drifts slowly."""
    weights = 1.0 / np.arange(1, count + 1) ** ZIPF
    order = rng.permutation(count)
    for _ in range(days):
        # A few hundred articles change places each day: new favourites rise, old ones fade.
        moved = rng.choice(count, size=max(count // 200, 2), replace=False)
        order[moved] = order[rng.permutation(moved)]
        day = np.zeros(count)
        day[order] = weights
        yield day / day.sum()


class Writer:
    """Bulk inserts straight through the driver (SQLite executemany, PostgreSQL COPY)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dialect = store.engine.dialect
        self.connection = store.engine.raw_connection()
        self.driver: Any = self.connection.driver_connection

    def convert(self, table: Any, names: tuple[str, ...]) -> list[Any]:
        if self.dialect.name != "sqlite":
            return [lambda value: value for _ in names]
        return [
            table.c[name].type.dialect_impl(self.dialect).bind_processor(self.dialect)
            or (lambda value: value)
            for name in names
        ]

    def insert(self, table: Any, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.dialect.name == "sqlite":
            processors = self.convert(table, names)
            converted = [tuple(p(v) for p, v in zip(processors, row)) for row in rows]
            placeholders = ", ".join("?" * len(names))
            self.driver.execute("BEGIN")
            self.driver.executemany(
                f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({placeholders})", converted
            )
            self.driver.execute("COMMIT")
            return
        with (
            self.driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        self.driver.commit()

    def close(self) -> None:
        self.connection.close()


def fill(store: Store, *, count: int, days: int, now: datetime, seed: int = 7) -> dict[str, Any]:
    """``count`` articles and ``days`` days of views ending ``now`` (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    writer = Writer(store)
    ids = [f"a{number:06d}" for number in range(count)]
    naive = lambda moment: moment.replace(tzinfo=None) if store.engine.dialect.name != "sqlite" else moment  # noqa: E731
    published = [now - timedelta(days=int(d)) for d in rng.integers(days, days * 3, size=count)]
    rows = [
        (a, f"Article {a}", "", None, naive(p), naive(p), "[]", None, "0" * 32, naive(p), naive(p))
        for a, p in zip(ids, published)
    ]
    names = (
        "id",
        "title",
        "body",
        "url",
        "published_at",
        "listed_at",
        "tags",
        "category",
        "content_hash",
        "created_at",
        "updated_at",
    )
    writer.insert(articles, names, rows)
    today = now.date()
    first_hourly = today - timedelta(days=RETENTION_DAYS)
    daily_rows = hourly_rows = 0
    for offset, share in enumerate(shares(count, days, rng)):
        day = today - timedelta(days=days - 1 - offset)
        if day < first_hourly:
            views = rng.poisson(DAILY_VIEWS * share)
            viewed = np.nonzero(views)[0]
            batch = [(ids[i], day, int(views[i]), int(views[i])) for i in viewed]
            writer.insert(article_daily, ("article_id", "day", "views", "visitors"), batch)
            total = int(views.sum())
            writer.insert(site_daily, ("day", "views", "visitors", "bot_hits"), [(day, total, total, 0)])
            daily_rows += len(batch)
            continue
        hours = 24 if day < today else now.hour + 1
        hourly: list[tuple[Any, ...]] = []
        for hour in range(hours):
            views = rng.poisson(DAILY_VIEWS / 24 * share)
            moment = naive(midnight(day) + timedelta(hours=hour))
            hourly += [(ids[i], moment, int(views[i])) for i in np.nonzero(views)[0]]
        writer.insert(article_views, ("article_id", "hour", "views"), hourly)
        hourly_rows += len(hourly)
    writer.close()
    filled = time.perf_counter() - started
    # The rollup as the service runs it: its checkpoint an hour or so behind now.
    started = time.perf_counter()
    report = store.rollup.run(now - timedelta(hours=1))
    rollup_s = time.perf_counter() - started
    if store.engine.dialect.name == "postgresql":
        # Planner statistics, as autovacuum gathers them within a minute of a bulk load (and of
        # the first rollup's window sums): without them the hour ranges are planned as
        # sequential scans (75 ms instead of 5 for a top 50).
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    return {
        "articles": count,
        "days": days,
        "daily_rows": daily_rows,
        "hourly_rows": hourly_rows,
        "fill_s": round(filled, 1),
        "first_rollup_s": round(rollup_s, 2),
        "checkpoint": report.checkpoint.isoformat() if report.checkpoint else None,
    }


def timings(store: Store, now: datetime, *, limit: int, repeat: int) -> dict[str, dict[str, float]]:
    result = {}
    for window in WINDOWS:
        store.views.most_viewed(window, now=now, limit=limit)  # warm the caches once
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            rows = store.views.most_viewed(window, now=now, limit=limit)
            samples.append(time.perf_counter() - started)
        samples.sort()
        result[window] = {
            "median_ms": round(statistics.median(samples) * 1e3, 2),
            "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))] * 1e3, 2),
            "rows": len(rows),
        }
    return result


def hourly_rollup(store: Store, now: datetime, count: int) -> float:
    """Seconds of the next hourly rollup (it holds the SQLite writer lock meanwhile)."""
    later = now + timedelta(hours=1)
    rng = np.random.default_rng(11)
    views = rng.poisson(DAILY_VIEWS / 24 / count * 50, size=count)
    writer = Writer(store)
    hour = floor_hour(later)
    moment = hour if store.engine.dialect.name == "sqlite" else hour.replace(tzinfo=None)
    rows = [(f"a{i:06d}", moment, int(views[i])) for i in np.nonzero(views)[0]]
    writer.insert(article_views, ("article_id", "hour", "views"), rows)
    writer.close()
    started = time.perf_counter()
    store.rollup.run(later + timedelta(minutes=10))
    return round(time.perf_counter() - started, 3)


def run(*, count: int, days: int, repeat: int, databases: list[str]) -> dict[str, Any]:
    now = floor_hour(datetime.now(UTC)) + timedelta(minutes=50)
    report: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "target_ms": 20}
    for database in databases:
        try:
            with store_url(database) as url:
                store = Store.from_url(url, retention_days=RETENTION_DAYS)
                store.create_schema()
                try:
                    entry = fill(store, count=count, days=days, now=now)
                    print(f"{database}: filled {entry}", file=sys.stderr)
                    entry["top50"] = timings(store, now, limit=50, repeat=repeat)
                    entry["top1000"] = timings(store, now, limit=DEPTH, repeat=max(repeat // 4, 5))
                    entry["next_hourly_rollup_s"] = hourly_rollup(store, now, count)
                    entry["passed"] = all(t["p95_ms"] <= TARGET_S * 1e3 for t in entry["top50"].values())
                finally:
                    store.dispose()
        except Exception as error:  # PostgreSQL absent: say so, measure the rest
            if database == "sqlite":
                raise
            entry = {"skipped": str(error).splitlines()[0]}
        report[database] = entry
        print(f"{database}: {entry}", file=sys.stderr)
    return report


def render(report: dict[str, Any]) -> str:
    lines = [
        "| store | window | top 50 median ms | top 50 p95 ms | top 1,000 median ms | top 1,000 p95 ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for database in ("sqlite", "postgres"):
        entry = report.get(database)
        if not entry or "skipped" in entry:
            continue
        for window, top in entry["top50"].items():
            deep = entry["top1000"][window]
            lines.append(
                f"| {database} | {window} | {top['median_ms']:.2f} | {top['p95_ms']:.2f} | "
                f"{deep['median_ms']:.2f} | {deep['p95_ms']:.2f} |"
            )
    for database in ("sqlite", "postgres"):
        entry = report.get(database)
        if entry and "skipped" not in entry:
            lines.append(
                f"\n{database}: {entry['articles']:,} articles, {entry['daily_rows']:,} daily rows, "
                f"{entry['hourly_rows']:,} hourly rows; first rollup {entry['first_rollup_s']} s, "
                f"next hourly rollup {entry['next_hourly_rollup_s']} s; "
                f"{'✓' if entry['passed'] else '✗'} p95 ≤ 20 ms"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.popular", description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument(
        "--database", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "popular.json")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # a killed run still drops its schema
    report = run(count=args.articles, days=args.days, repeat=args.repeat, databases=args.database)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(render(report))
    passed = all(entry.get("passed", True) for key, entry in report.items() if isinstance(entry, dict))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
