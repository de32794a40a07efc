"""Schema migrations: every process upgrades its store to the newest revision as it starts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
)

from service.articles import Article
from service.store import Store
from service.store.migrations import alembic_config, migration_transaction
from service.store.schema import EARLIEST_DATED, UNDATED, articles, metadata

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
HOUR = datetime(2026, 11, 20, 9, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    store = Store.from_url(database_url)
    yield store.engine
    store.dispose()


def schema_differences(engine: Engine) -> list[object]:
    """What autogenerate would write to bring the database to the live metadata."""
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def tables_of(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def old_schema(*, with_clicks: bool) -> MetaData:
    """What ``metadata.create_all`` made before migrations existed: the last release's tables
    (``with_clicks``: and this week's ``article_clicks``, which development stores have)."""
    old = MetaData()

    def article_key(name: str) -> Column[str]:
        return Column(name, String(200), ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)

    Table(
        "articles",
        old,
        Column("id", String(200), primary_key=True),
        Column("title", Text, nullable=False),
        Column("body", Text, nullable=False),
        Column("url", Text),
        Column("published_at", DateTime),
        Column("listed_at", DateTime, nullable=False),
        Column("tags", JSON, nullable=False),
        Column("category", String(200)),
        Column("content_hash", String(32), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        Index("ix_articles_listed_at", "listed_at", "id"),
        Index("ix_articles_category", "category", "listed_at"),
        Index("ix_articles_created_at", "created_at"),
        Index("ix_articles_updated_at", "updated_at"),
    )
    Table(
        "article_tags",
        old,
        article_key("article_id"),
        Column("tag", String(200), primary_key=True),
        Index("ix_article_tags_tag", "tag"),
    )
    Table(
        "article_editorial",
        old,
        article_key("article_id"),
        Column("pinned", JSON, nullable=False),
        Column("excluded", JSON, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )
    Table(
        "site_exclusions",
        old,
        Column("kind", String(16), primary_key=True),
        Column("value", String(200), primary_key=True),
    )
    Table(
        "neighbour_overlay",
        old,
        article_key("article_id"),
        article_key("neighbour_id"),
        Column("score", Float, nullable=False),
        Column("cosine", Float, nullable=False),
        Column("created_at", DateTime, nullable=False),
        Index("ix_neighbour_overlay_neighbour", "neighbour_id"),
    )
    Table(
        "article_views",
        old,
        article_key("article_id"),
        Column("hour", DateTime, primary_key=True),
        Column("views", BigInteger, nullable=False),
        Index("ix_article_views_hour", "hour", "article_id", "views"),
    )
    if with_clicks:
        Table(
            "article_clicks",
            old,
            article_key("article_id"),
            Column("section", String(16), primary_key=True),
            article_key("target_id"),
            Column("hour", DateTime, primary_key=True),
            Column("clicks", BigInteger, nullable=False),
            Index("ix_article_clicks_hour", "hour", "section", "clicks"),
        )
    Table(
        "reindex_jobs",
        old,
        Column("id", String(36), primary_key=True),
        Column("state", String(16), nullable=False),
        Column("source", String(16), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("started_at", DateTime),
        Column("finished_at", DateTime),
        Column("heartbeat_at", DateTime),
        Column("articles", Integer),
        Column("index_version", String(64)),
        Column("error", Text),
        Index("ix_reindex_jobs_created_at", "created_at"),
    )
    Table(
        "store_state",
        old,
        Column("id", Integer, primary_key=True),
        Column("version", BigInteger, nullable=False),
    )
    Table(
        "store_changes",
        old,
        Column("version", BigInteger, primary_key=True),
        Column("kind", String(16), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("created_at", DateTime, nullable=False),
    )
    Table(
        "leases",
        old,
        Column("name", String(64), primary_key=True),
        Column("holder", String(36)),
        Column("expires_at", DateTime),
    )
    return old


def make_old_store(engine: Engine, *, with_clicks: bool = False) -> None:
    """A store as an older version left it: its tables and data, no ``alembic_version``."""
    old = old_schema(with_clicks=with_clicks)
    naive = NOW.replace(tzinfo=None)
    article = {
        "id": "sleep-1",
        "title": "Sleep and magnesium",
        "body": "<p>Magnesium before bed.</p>",
        "url": "https://example.com/sleep-1",
        "published_at": naive,
        "listed_at": naive,
        "tags": ["Sleep", "magnesium"],
        "category": "sleep",
        "content_hash": "0" * 32,
        "created_at": naive,
        "updated_at": naive,
    }
    with engine.begin() as connection:
        old.create_all(connection)
        connection.execute(old.tables["articles"].insert(), [article, {**article, "id": "sleep-2"}])
        connection.execute(
            old.tables["article_tags"].insert(),
            [{"article_id": "sleep-1", "tag": "sleep"}, {"article_id": "sleep-1", "tag": "magnesium"}],
        )
        connection.execute(
            old.tables["article_views"].insert(),
            [{"article_id": "sleep-1", "hour": HOUR.replace(tzinfo=None), "views": 7}],
        )
        connection.execute(old.tables["store_state"].insert(), [{"id": 1, "version": 42}])
        if with_clicks:
            connection.execute(
                old.tables["article_clicks"].insert(),
                [
                    {
                        "article_id": "sleep-1",
                        "section": "related",
                        "target_id": "sleep-2",
                        "hour": HOUR.replace(tzinfo=None),
                        "clicks": 3,
                    }
                ],
            )


def test_fresh_store_is_migrated_to_head_and_matches_the_metadata(engine: Engine) -> None:
    Store(engine).create_schema()
    assert revision_of(engine) == HEAD == "0007_revoked_sessions"
    assert tables_of(engine) == set(metadata.tables)
    assert schema_differences(engine) == []
    assert Store(engine).changes.head() == 0  # the state row


def test_starting_again_at_head_changes_nothing(engine: Engine) -> None:
    make_old_store(engine)
    for _ in range(2):
        Store(engine).create_schema()
    assert revision_of(engine) == HEAD
    assert Store(engine).views.most_viewed("all", now=NOW, limit=5) == [("sleep-1", 7)]


@pytest.mark.parametrize("with_clicks", [False, True], ids=["last-release", "this-weeks-dev-store"])
def test_old_store_is_upgraded_at_app_start_with_its_data(
    make_app: Callable[..., Flask], database_url: str, with_clicks: bool
) -> None:
    old = Store.from_url(database_url)
    make_old_store(old.engine, with_clicks=with_clicks)
    assert revision_of(old.engine) is None
    old.dispose()

    store: Store = make_app().extensions["store"]

    assert revision_of(store.engine) == HEAD
    assert "article_clicks" in tables_of(store.engine)
    assert "article_tags" not in tables_of(store.engine)
    assert schema_differences(store.engine) == []
    article = store.articles.get("sleep-1")
    assert article is not None
    assert (article.title, article.tags, article.published_at) == (
        "Sleep and magnesium",
        ["Sleep", "magnesium"],
        NOW,
    )
    assert store.views.most_viewed("all", now=NOW, limit=5) == [("sleep-1", 7)]
    assert store.changes.head() == 42  # the state row is kept, not reset
    assert store.clicks.record("sleep-1", section="related", target_id="sleep-2", at=NOW)
    assert [count.clicks for count in store.clicks.counts("sleep-1")] == [4 if with_clicks else 1]


def test_processes_starting_at_once_both_migrate_successfully(database_url: str) -> None:
    stores = [Store.from_url(database_url) for _ in range(2)]  # an engine (and pool) each
    make_old_store(stores[0].engine)  # the longest migration: stamp, then two revisions
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def start_up(store: Store) -> None:
        start.wait()
        try:
            store.create_schema()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start_up, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert revision_of(stores[0].engine) == HEAD
        with stores[0].engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
        assert stores[1].views.most_viewed("all", now=NOW, limit=5) == [("sleep-1", 7)]
    finally:
        for store in stores:
            store.dispose()


def test_an_article_dated_the_first_moment_of_year_one_is_listed_after_the_undated(engine: Engine) -> None:
    store = Store(engine)
    store.create_schema()
    year_one = Article("year-one", "Year one", published_at=UNDATED)
    store.articles.upsert_many([year_one, Article("undated", "Undated")], now=NOW)

    def listed() -> dict[str, datetime]:
        with engine.connect() as connection:
            rows = connection.execute(select(articles.c.id, articles.c.listed_at)).all()
        return {article_id: moment.replace(tzinfo=UTC) for article_id, moment in rows}

    assert listed() == {"year-one": EARLIEST_DATED, "undated": UNDATED}
    with migration_transaction(engine) as connection:  # as the revision before left it: tied
        command.downgrade(alembic_config(connection), "0005_job_plain_text_articles")
    assert listed() == {"year-one": UNDATED, "undated": UNDATED}
    store.create_schema()
    assert listed() == {"year-one": EARLIEST_DATED, "undated": UNDATED}


def test_downgrade_to_base_and_upgrade_again_on_an_empty_store(engine: Engine) -> None:
    Store(engine).create_schema()
    with migration_transaction(engine) as connection:
        command.downgrade(alembic_config(connection), "base")
    assert tables_of(engine) == set()
    assert revision_of(engine) is None

    with migration_transaction(engine) as connection:
        command.upgrade(alembic_config(connection), "0002_article_clicks")
    assert "article_tags" in tables_of(engine)  # 0003's downgrade and 0001 made it

    Store(engine).create_schema()
    assert revision_of(engine) == HEAD
    assert schema_differences(engine) == []


def test_sqlite_table_rebuild_in_a_migration_keeps_the_rows_that_refer_to_it(sqlite_url: str) -> None:
    # A batch migration copies a table, drops the old one and renames the copy: with foreign
    # keys enforced, the drop would delete every view of every article (ON DELETE CASCADE).
    store = Store.from_url(sqlite_url)
    try:
        make_old_store(store.engine)
        store.create_schema()
        with migration_transaction(store.engine) as connection:
            operations = Operations(MigrationContext.configure(connection))
            with operations.batch_alter_table("articles", recreate="always"):
                pass
        assert store.views.most_viewed("all", now=NOW, limit=5) == [("sleep-1", 7)]
        with store.engine.connect() as connection:  # enforced again on the pooled connection
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.dispose()
