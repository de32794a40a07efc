"""The tables, in one MetaData.

The database follows this module through the Alembic revisions in ``migrations/versions``: a
change here needs a new revision (a test compares the migrated schema with this metadata).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: the same on SQLite (no zones) and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


# The sort key of undated articles: before every dated one. An article dated at that very moment
# (the first of year 1, a date the contract allows) is listed a microsecond later.
UNDATED = datetime(1, 1, 1, tzinfo=UTC)
EARLIEST_DATED = UNDATED + timedelta(microseconds=1)


def listed_at_of(published_at: datetime | None) -> datetime:
    """The sort key of ``latest``: the publication time, or :data:`UNDATED` for an undated article."""
    return UNDATED if published_at is None else max(published_at, EARLIEST_DATED)


metadata = MetaData()

articles = Table(
    "articles",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("url", Text),
    Column("published_at", UTCDateTime),
    # published_at, or the earliest time for an undated article: one non-null sort key, so
    # "published by now, newest first, undated last" is an index range scan on every database.
    Column("listed_at", UTCDateTime, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("category", String(200)),
    # Digest of what the index reads (title, body, tags, category): tells stale index rows.
    Column("content_hash", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_articles_listed_at", "listed_at", "id"),
    Index("ix_articles_category", "category", "listed_at"),
    # "what changed since the last build" is asked after every write
    Index("ix_articles_created_at", "created_at"),
    Index("ix_articles_updated_at", "updated_at"),
)


def _article_key(name: str, **kwargs: object) -> Column[str]:
    return Column(name, String(200), ForeignKey("articles.id", ondelete="CASCADE"), **kwargs)  # type: ignore[arg-type]


# Editorial control of one article's related list.
article_editorial = Table(
    "article_editorial",
    metadata,
    _article_key("article_id", primary_key=True),
    Column("pinned", JSON, nullable=False),  # ids shown first, in this order
    Column("excluded", JSON, nullable=False),  # ids never shown
    Column("updated_at", UTCDateTime, nullable=False),
)

# Site-wide exclusions: articles in these categories or with these tags are in no list.
site_exclusions = Table(
    "site_exclusions",
    metadata,
    Column("kind", String(16), primary_key=True),  # "category" or "tag"
    Column("value", String(200), primary_key=True),  # lower-cased
)

# Neighbours learned since the last build: a new or edited article enters the lists of the
# articles it is most similar to at once, without a rebuild. Cleared by the next build.
neighbour_overlay = Table(
    "neighbour_overlay",
    metadata,
    _article_key("article_id", primary_key=True),
    _article_key("neighbour_id", primary_key=True),
    Column("score", Float, nullable=False),
    Column("cosine", Float, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_neighbour_overlay_neighbour", "neighbour_id"),
)

# Views per article per UTC hour: fine enough for a true "last 24 hours", small enough to sum.
article_views = Table(
    "article_views",
    metadata,
    Column(
        "article_id",
        String(200),
        ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("hour", UTCDateTime, primary_key=True),
    Column("views", BigInteger, nullable=False),
    # Covers the window scans of popular and stats without touching the table.
    Index("ix_article_views_hour", "hour", "article_id", "views"),
)

# Readers of an article per UTC day: one row per (article, day, visitor), written with the
# view in the same group commit (INSERT … ON CONFLICT DO NOTHING), so a repeat view by the same
# reader adds a view, not a visitor. `visitor` is 64 bits of HMAC-SHA256(salt of the day,
# client IP + User-Agent): no IP is stored, and the salt rotates daily. `hour` is the hour of the
# reader's first view of the article that day. Pruned with the hourly views.
article_visitors = Table(
    "article_visitors",
    metadata,
    _article_key("article_id", primary_key=True),
    Column("day", Date, primary_key=True),
    Column("visitor", BigInteger, primary_key=True),
    Column("hour", UTCDateTime, nullable=False),
    # Distinct readers of a day (site-wide), and readers who arrived in a range of hours.
    Index("ix_article_visitors_day", "day", "hour", "visitor", "article_id"),
)

# Requests of bots and prefetches per UTC hour: answered {"recorded": false}, counted apart.
bot_hits = Table(
    "bot_hits",
    metadata,
    Column("hour", UTCDateTime, primary_key=True),
    Column("hits", BigInteger, nullable=False),
)

# Views and visitors per article per complete UTC day, rolled up from the hourly rows (which are
# pruned after RELATED_HOURLY_RETENTION_DAYS): the history of every article, for ever.
article_daily = Table(
    "article_daily",
    metadata,
    _article_key("article_id", primary_key=True),
    Column("day", Date, primary_key=True),
    Column("views", BigInteger, nullable=False),
    Column("visitors", BigInteger, nullable=False),
    Index("ix_article_daily_day", "day", "article_id", "views"),
)

# The site per complete UTC day: views, distinct visitors (not the sum of the articles') and bot
# hits, rolled up with article_daily.
site_daily = Table(
    "site_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("views", BigInteger, nullable=False),
    Column("visitors", BigInteger, nullable=False),
    Column("bot_hits", BigInteger, nullable=False),
)

# Each popularity window's views per article as of the rollup checkpoint (the hours before it),
# kept up to date incrementally by the hourly rollup: a top-50 reads the head of one index and
# corrects it with the hours since the checkpoint. `score` orders a window (the views, or the
# trending score); `listed_at` copies the article's, so ties go to the newer article in the index.
# The window "baseline" holds each article's views on the 14 UTC days before the checkpoint's.
popularity_sums = Table(
    "popularity_sums",
    metadata,
    Column("window_name", String(16), primary_key=True),
    _article_key("article_id", primary_key=True),
    Column("views", BigInteger, nullable=False),
    Column("visitors", BigInteger, nullable=False),
    Column("score", Float, nullable=False),
    Column("listed_at", UTCDateTime, nullable=False),
    Index("ix_popularity_sums_rank", "window_name", "score", "listed_at", "article_id"),
)

# One row: the rollup checkpoint. The daily tables hold every complete day before it, the window
# sums every hour before it; hourly rows are kept from RETENTION days before its day on.
counter_state = Table(
    "counter_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("checkpoint", UTCDateTime),
    # The hourly retention the sums were built for: windows longer than it start on a whole
    # day, so a change of the setting rebuilds the sums.
    Column("retention_days", Integer),
)

# The random salt of each UTC day's visitor hashes (when VISITOR_SALT_SECRET is not set), made
# by the first process that needs it so every worker and replica agrees; deleted two days later,
# after which nobody can link a stored hash to an address.
visitor_salts = Table(
    "visitor_salts",
    metadata,
    Column("day", Date, primary_key=True),
    Column("salt", String(64), nullable=False),
)

# Clicks on recommendations per article, list, clicked article and UTC hour: which lists
# readers follow (the widget reports them).
article_clicks = Table(
    "article_clicks",
    metadata,
    _article_key("article_id", primary_key=True),
    Column("section", String(16), primary_key=True),  # related, latest or popular
    _article_key("target_id", primary_key=True),
    Column("hour", UTCDateTime, primary_key=True),
    Column("clicks", BigInteger, nullable=False),
    Index("ix_article_clicks_hour", "hour", "section", "clicks"),
)

reindex_jobs = Table(
    "reindex_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    Column("articles", Integer),
    Column("index_version", String(64)),
    Column("error", Text),
    # Articles whose body the HTML parser failed on, indexed as plain text (a succeeded build).
    Column("plain_text_articles", Integer),
    Index("ix_reindex_jobs_created_at", "created_at"),
)

# One row: the store's version, raised by every write that changes what lists show (articles,
# editorial settings, exclusions, learned neighbours). Its row lock orders those writes, so a
# reader that has seen version v has seen every change up to v. Views do not raise it.
store_state = Table(
    "store_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

# What each version changed: (kind, key) pairs such as ("article", id), ("site", "").
# Each worker's in-memory catalog reloads just these; old rows are pruned.
store_changes = Table(
    "store_changes",
    metadata,
    Column("version", BigInteger, primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# Named leases, claimed with one conditional UPDATE: one reindex at a time across processes.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(36)),
    Column("expires_at", UTCDateTime),
)

# Dashboard sessions signed out before they expired (their signed cookies are refused until then).
revoked_sessions = Table(
    "revoked_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
)
