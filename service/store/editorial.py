"""Editorial control: per-article pins and exclusions, site-wide excluded categories and tags."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, select

from service.store.changes import EDITORIAL, SITE, record_changes
from service.store.engine import run_write, upsert
from service.store.schema import article_editorial, site_exclusions


@dataclass(frozen=True)
class ArticleEditorial:
    """Related ids an editor pinned (shown first, in order) and excluded (never shown)."""

    pinned: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SiteExclusions:
    """Categories and tags (lower-cased) whose articles are in no list."""

    categories: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    def excludes(self, category: str | None, tags: Iterable[str]) -> bool:
        if category is not None and category.lower() in self.categories:
            return True
        return any(tag.lower() in self.tags for tag in tags)


class EditorialRepository:
    """The ``article_editorial`` and ``site_exclusions`` tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def for_article(self, article_id: str) -> ArticleEditorial:
        query = select(article_editorial).where(article_editorial.c.article_id == article_id)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return ArticleEditorial() if row is None else ArticleEditorial(list(row.pinned), list(row.excluded))

    def set_for_article(self, article_id: str, editorial: ArticleEditorial, *, now: datetime) -> None:
        def write(connection: Connection) -> None:
            if not editorial.pinned and not editorial.excluded:
                connection.execute(
                    delete(article_editorial).where(article_editorial.c.article_id == article_id)
                )
            else:
                row = {
                    "article_id": article_id,
                    "pinned": list(editorial.pinned),
                    "excluded": list(editorial.excluded),
                    "updated_at": now,
                }
                upsert(connection, article_editorial, [row], keys=["article_id"])
            # The version row last, as every writer takes it: held while the upsert's foreign-key
            # check waits for a DELETE of the article (which takes it next), it would deadlock.
            record_changes(connection, [(EDITORIAL, article_id)], now=now)

        run_write(self.engine, write)

    def for_articles(self, article_ids: Iterable[str] | None = None) -> dict[str, ArticleEditorial]:
        """Settings by article: of ``article_ids``, or of every article when ``None``."""
        query = select(article_editorial)
        if article_ids is not None:
            query = query.where(article_editorial.c.article_id.in_(list(article_ids)))
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return {row.article_id: ArticleEditorial(list(row.pinned), list(row.excluded)) for row in rows}

    def site(self) -> SiteExclusions:
        with self.engine.connect() as connection:
            rows = connection.execute(select(site_exclusions)).all()
        return SiteExclusions(
            categories=frozenset(row.value for row in rows if row.kind == "category"),
            tags=frozenset(row.value for row in rows if row.kind == "tag"),
        )

    def set_site(self, exclusions: SiteExclusions, *, now: datetime) -> None:
        rows = [{"kind": "category", "value": value} for value in exclusions.categories]
        rows += [{"kind": "tag", "value": value} for value in exclusions.tags]

        def write(connection: Connection) -> None:
            record_changes(connection, [(SITE, "")], now=now)
            connection.execute(delete(site_exclusions))
            if rows:
                connection.execute(site_exclusions.insert(), rows)

        run_write(self.engine, write)
