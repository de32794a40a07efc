"""The app's per-process resources, each kept in ``app.extensions``: the store and what each
worker keeps in memory in front of it (catalog, popular lists, answers, view writer)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from flask import Flask, current_app

from service.answer_cache import SnapshotCache
from service.bots import BotDetector
from service.catalog import CatalogHolder
from service.popularity import Popularity
from service.recommend import FreshMatcher, RelatedPolicy
from service.shared_lists import SharedLists
from service.store import Store
from service.view_recorder import RollupTrigger, ViewRecorder
from service.visitors import VisitorHasher


def init_app(app: Flask) -> None:
    """Create the store from ``DATABASE_URL`` (making sure its tables exist) and its companions."""
    config = app.config
    store = Store.from_url(
        config["DATABASE_URL"],
        sqlite_synchronous=str(config["SQLITE_SYNCHRONOUS"]),
        sqlite_write_timeout=float(config["SQLITE_WRITE_TIMEOUT_SECONDS"]),
        retention_days=int(config["HOURLY_RETENTION_DAYS"]),
    )
    store.create_schema()
    secret = config.get("VISITOR_SALT_SECRET")
    cache_size, cache_seconds = int(config["ANSWER_CACHE_SIZE"]), float(config["ANSWER_CACHE_SECONDS"])

    app.extensions.update(
        store=store,
        catalog=CatalogHolder(store, follow_seconds=float(config["CATALOG_FOLLOW_SECONDS"])),
        popularity=Popularity(
            store,
            max_lag_seconds=float(config["POPULAR_MAX_LAG_SECONDS"]),
            shared=SharedLists.for_store(Path(config["MODEL_DIR"]), store.engine.url)
            if config["SHARE_POPULAR_LISTS"]
            else None,
        ),
        view_recorder=ViewRecorder(
            store,
            timeout_seconds=float(config["VIEW_COMMIT_TIMEOUT_SECONDS"]),
            rollups=RollupTrigger(store, enabled=bool(config["AUTO_ROLLUP"])),
        ),
        visitor_hasher=VisitorHasher(store.salts, secret=None if secret in (None, "") else str(secret)),
        bot_detector=BotDetector(config["BOT_USER_AGENT_PATTERN"] or None),
        fresh_matcher=FreshMatcher.for_store(store),
        answer_cache=SnapshotCache[tuple[bytes, str]](size=cache_size, ttl_seconds=cache_seconds),
        related_cache=SnapshotCache[bytes](size=cache_size, ttl_seconds=cache_seconds),
        related_policy=RelatedPolicy.from_config(config),
    )


def close_resources(app: Flask) -> None:
    """Stop the app's background reads and close its store's connections."""
    app.extensions["catalog"].close()
    app.extensions["popularity"].close()
    app.extensions["store"].dispose()


def get_store() -> Store:
    """The current app's store."""
    return cast(Store, current_app.extensions["store"])


def get_catalog() -> CatalogHolder:
    return cast(CatalogHolder, current_app.extensions["catalog"])


def get_popularity() -> Popularity:
    return cast(Popularity, current_app.extensions["popularity"])


def get_view_recorder() -> ViewRecorder:
    return cast(ViewRecorder, current_app.extensions["view_recorder"])


def get_visitor_hasher() -> VisitorHasher:
    return cast(VisitorHasher, current_app.extensions["visitor_hasher"])


def get_bot_detector() -> BotDetector:
    return cast(BotDetector, current_app.extensions["bot_detector"])


def get_fresh_matcher() -> FreshMatcher:
    return cast(FreshMatcher, current_app.extensions["fresh_matcher"])


def get_answer_cache() -> SnapshotCache[tuple[bytes, str]]:
    """Encoded answers as ``(body, etag)``: see :class:`service.answer_cache.EncodedAnswer`."""
    return cast(SnapshotCache[tuple[bytes, str]], current_app.extensions["answer_cache"])


def get_related_cache() -> SnapshotCache[bytes]:
    return cast(SnapshotCache[bytes], current_app.extensions["related_cache"])


def get_related_policy() -> RelatedPolicy:
    return cast(RelatedPolicy, current_app.extensions["related_policy"])
