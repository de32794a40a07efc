"""Stored articles: upserts, reads, the lists "latest" and the index's input."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, delete, func, select

from service.articles import Article
from service.store.changes import ARTICLE, record_changes
from service.store.engine import one_at_a_time, run_write, upsert
from service.store.schema import articles, listed_at_of

# Enough ids per IN (...) to stay far below every driver's parameter limit.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ArticleSummary:
    """What a list shows of an article, and what list rules need to know of it."""

    id: str
    title: str
    url: str | None
    published_at: datetime | None
    category: str | None = None
    tags: tuple[str, ...] = ()
    content_hash: str = ""

    @property
    def listed_at(self) -> datetime:
        """The sort key of ``latest``: the publication time, or the earliest time when undated."""
        return listed_at_of(self.published_at)


@dataclass(frozen=True)
class UpsertCounts:
    created: int
    updated: int


SUMMARY_COLUMNS = (
    articles.c.id,
    articles.c.title,
    articles.c.url,
    articles.c.published_at,
    articles.c.category,
    articles.c.tags,
    articles.c.content_hash,
)


def summary_of(row: Any) -> ArticleSummary:
    """An :class:`ArticleSummary` from a row with :data:`SUMMARY_COLUMNS`."""
    return ArticleSummary(
        row.id, row.title, row.url, row.published_at, row.category, tuple(row.tags or ()), row.content_hash
    )


def _article(row: Row[Any]) -> Article:
    return Article(
        id=row.id,
        title=row.title,
        body=row.body,
        url=row.url,
        published_at=row.published_at,
        tags=list(row.tags or []),
        category=row.category,
    )


def published_by(moment: datetime) -> Any:
    """SQL condition: published at or before ``moment`` (undated articles count as published)."""
    return articles.c.listed_at <= moment


NEWEST_FIRST = (articles.c.listed_at.desc(), articles.c.id.desc())  # one index, scanned backwards


def chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    """``values`` a few hundred at a time: few enough for any driver's ``IN (...)``."""
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


_LOCK_STORED = (
    select(articles.c.id)
    .where(articles.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(articles.c.id)
    .with_for_update(read=True, key_share=True)
)


def lock_stored(connection: Connection, ids: Iterable[str]) -> set[str]:
    """The stored articles among ``ids``, kept from being deleted until the transaction ends.

    On PostgreSQL each row gets the lock a foreign key's check takes (``FOR KEY SHARE``: edits of
    the article go on, a ``DELETE`` waits), in id order, so writers that lock several articles
    never wait for each other in a cycle; an article whose deletion commits while we wait is left
    out. SQLite's writer holds the whole database already.
    """
    found: set[str] = set()
    for chunk in chunks(sorted(set(ids))):
        found.update(connection.scalars(_LOCK_STORED, {"ids": list(chunk)}))
    return found


class ArticleRepository:
    """Reads and writes of the ``articles`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def upsert_many(self, batch: Sequence[Article], *, now: datetime) -> UpsertCounts:
        """Insert or update ``batch`` in one transaction: all of it or nothing."""
        latest = {article.id: article for article in batch}  # the last record of an id wins
        ids = sorted(latest)  # rows locked in id order: concurrent batches never deadlock

        rows = [
            {
                "id": article.id,
                "title": article.title,
                "body": article.body,
                "url": article.url,
                "published_at": article.published_at,
                "listed_at": listed_at_of(article.published_at),
                "tags": list(article.tags),
                "category": article.category,
                "content_hash": article.content_hash(),
                "created_at": now,
                "updated_at": now,
            }
            for article in (latest[article_id] for article_id in ids)
        ]

        def write(connection: Connection) -> int:
            existing = 0
            for chunk in chunks(ids):
                existing += len(
                    connection.scalars(select(articles.c.id).where(articles.c.id.in_(chunk))).all()
                )
            for start in range(0, len(rows), _CHUNK):
                upsert(connection, articles, rows[start : start + _CHUNK], keys=["id"], keep=["created_at"])
            record_changes(connection, ((ARTICLE, article_id) for article_id in ids), now=now)
            return existing

        existing = run_write(self.engine, write)
        return UpsertCounts(created=len(ids) - existing, updated=existing)

    def get(self, article_id: str) -> Article | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(articles).where(articles.c.id == article_id)).first()
        return None if row is None else _article(row)

    def exists(self, article_id: str) -> bool:
        with self.engine.connect() as connection:
            found = connection.scalar(select(articles.c.id).where(articles.c.id == article_id))
        return found is not None

    def delete(self, article_id: str, *, now: datetime) -> bool:
        """Delete an article and its view counts; ``False`` when there was none."""

        def write(connection: Connection) -> bool:
            one_at_a_time(connection)  # its cascade into the learned neighbours: see OverlayRepository
            deleted = bool(connection.execute(delete(articles).where(articles.c.id == article_id)).rowcount)
            if deleted:
                record_changes(connection, [(ARTICLE, article_id)], now=now)
            return deleted

        return run_write(self.engine, write)

    def count_published(self, *, now: datetime) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.scalar(select(func.count()).select_from(articles).where(published_by(now))) or 0
            )

    def changes_since(self, moment: datetime) -> tuple[int, int, int]:
        """``(total, created, updated)``: articles now, and those created or changed after ``moment``."""
        count = select(func.count()).select_from(articles)
        with self.engine.connect() as connection:
            total = connection.scalar(count)
            created = connection.scalar(count.where(articles.c.created_at > moment))
            updated = connection.scalar(count.where(articles.c.updated_at > moment))
        return int(total or 0), int(created or 0), int(updated or 0)

    def summaries(self, ids: Sequence[str]) -> dict[str, ArticleSummary]:
        """The stored articles among ``ids`` (published or not), by id; deleted ones are absent."""
        found: dict[str, ArticleSummary] = {}
        query = select(*SUMMARY_COLUMNS).where(articles.c.id.in_(bindparam("ids", expanding=True)))
        with self.engine.connect() as connection:
            for chunk in chunks(list(ids)):
                found.update((row.id, summary_of(row)) for row in connection.execute(query, {"ids": chunk}))
        return found

    def all_summaries(self) -> Iterator[ArticleSummary]:
        """Every stored article's summary (the in-memory catalog's input)."""
        with self.engine.connect() as connection:
            for row in connection.execute(select(*SUMMARY_COLUMNS)):
                yield summary_of(row)

    def iter_all(self, batch_size: int = 2000) -> Iterator[Article]:
        """Every article, in id order, read in batches (the index's input)."""
        after = ""
        while True:
            query = select(articles).where(articles.c.id > after).order_by(articles.c.id).limit(batch_size)
            with self.engine.connect() as connection:
                rows = connection.execute(query).all()
            if not rows:
                return
            yield from (_article(row) for row in rows)
            after = rows[-1].id

    def fingerprint(self) -> str:
        """A digest of every article's id and indexed content: equal means nothing to rebuild."""
        query = select(articles.c.id, articles.c.content_hash).order_by(articles.c.id)
        with self.engine.connect() as connection:
            return corpus_fingerprint((row.id, row.content_hash) for row in connection.execute(query))


def corpus_fingerprint(pairs: Iterable[tuple[str, str]]) -> str:
    """Digest of ``(id, content_hash)`` pairs in id order, as the index build records it."""
    digest = hashlib.blake2b(digest_size=16)
    for article_id, content_hash in pairs:
        digest.update(f"{article_id}\0{content_hash}\n".encode())
    return digest.hexdigest()
