"""Each worker's in-memory catalog of the store: what every list is built from.

A :class:`Catalog` is an immutable snapshot of every article's summary, ordered for
``latest``, by category and by tag, with the editorial settings and the neighbours learned
since the last build. :class:`CatalogHolder` keeps the current one: each request reads the
store's version (one single-row read) and, when another worker or replica wrote since, reads
just what changed and swaps in an updated copy. So a write acknowledged anywhere is in the
next answer everywhere, and no request queries the articles table.
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from service.store import ArticleEditorial, ArticleSummary, Changes, OverlayEntry, SiteExclusions, Store
from service.store.changes import ARTICLE, EDITORIAL, OVERLAY, OVERLAY_ALL, SITE

log = logging.getLogger(__name__)

Key = tuple[int, str]  # (listed_at in microseconds, id): ascending order is oldest first
_LAST_ID = "\U0010ffff"
_PATCH_AT_MOST = 1000  # changed articles applied one by one; more: the catalog is read anew
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def sort_key(summary: ArticleSummary) -> Key:
    return (_microseconds(summary.listed_at), summary.id)


def _microseconds(moment: datetime) -> int:
    """``moment`` as whole microseconds since 1970: exact, and so ordered as the store orders it,
    on every date (a float timestamp of year 1 or 9999 tells apart only every ~10 µs)."""
    return (moment - _EPOCH) // _MICROSECOND


def _after(now: datetime) -> tuple[int, str]:
    """A key after every article listed at or before ``now``."""
    return (_microseconds(now), _LAST_ID)


@dataclass(frozen=True)
class Catalog:
    """Every stored article and the settings of the list rules, as of store ``version``."""

    version: int
    summaries: Mapping[str, ArticleSummary] = field(default_factory=dict)
    editorial: Mapping[str, ArticleEditorial] = field(default_factory=dict)
    site: SiteExclusions = field(default_factory=SiteExclusions)
    overlay: Mapping[str, tuple[OverlayEntry, ...]] = field(default_factory=dict)
    # Sorted keys of all articles, of each category and of each lower-cased tag.
    recency: list[Key] = field(default_factory=list)
    by_category: Mapping[str, list[Key]] = field(default_factory=dict)
    by_tag: Mapping[str, list[Key]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        version: int,
        summaries: Iterable[ArticleSummary],
        *,
        editorial: Mapping[str, ArticleEditorial],
        site: SiteExclusions,
        overlay: Mapping[str, Iterable[OverlayEntry]],
    ) -> Catalog:
        by_id = {summary.id: summary for summary in summaries}
        by_category: dict[str, list[Key]] = {}
        by_tag: dict[str, list[Key]] = {}
        for summary in by_id.values():
            key = sort_key(summary)
            if summary.category is not None:
                by_category.setdefault(summary.category, []).append(key)
            for tag in _tags_of(summary):
                by_tag.setdefault(tag, []).append(key)
        for keys in (*by_category.values(), *by_tag.values()):
            keys.sort()
        return cls(
            version=version,
            summaries=by_id,
            editorial=dict(editorial),
            site=site,
            overlay={article_id: tuple(entries) for article_id, entries in overlay.items()},
            recency=sorted(sort_key(summary) for summary in by_id.values()),
            by_category=by_category,
            by_tag=by_tag,
        )

    # -- reading ------------------------------------------------------------------------------

    def get(self, article_id: str) -> ArticleSummary | None:
        """A stored article, published or not."""
        return self.summaries.get(article_id)

    def published(self, article_id: str, now: datetime) -> ArticleSummary | None:
        """A stored article that is published by ``now``."""
        summary = self.summaries.get(article_id)
        if summary is None or summary.listed_at > now:
            return None
        return summary

    def newest(self, now: datetime) -> Iterator[ArticleSummary]:
        """Published articles, newest first (undated last, ties by id descending)."""
        return self._newest_of(self.recency, now)

    def newest_in_category(self, category: str, now: datetime) -> Iterator[ArticleSummary]:
        return self._newest_of(self.by_category.get(category, []), now)

    def sharing_tags(self, tags: Iterable[str], now: datetime) -> list[ArticleSummary]:
        """Published articles sharing any of ``tags``: most shared tags first, then newest."""
        shared: Counter[Key] = Counter()
        for tag in dict.fromkeys(tag.lower() for tag in tags):
            shared.update(self._published_keys(self.by_tag.get(tag, []), now))
        ranked = sorted(shared, key=lambda key: (shared[key], key), reverse=True)
        return [self.summaries[article_id] for _, article_id in ranked]

    def count_published(self, now: datetime) -> int:
        return bisect.bisect_right(self.recency, _after(now))

    def page(self, now: datetime, *, offset: int, limit: int) -> list[ArticleSummary]:
        """Published articles, newest first, ``limit`` of them after ``offset``."""
        end = self.count_published(now) - offset
        keys = self.recency[max(end - limit, 0) : max(end, 0)]
        return [self.summaries[article_id] for _, article_id in reversed(keys)]

    def next_publication(self, now: datetime) -> float | None:
        """When (a timestamp) the next scheduled article becomes published, if one is scheduled:
        lists built now are valid until then."""
        position = bisect.bisect_right(self.recency, _after(now))
        return None if position == len(self.recency) else self.recency[position][0] / 1e6

    def _published_keys(self, keys: list[Key], now: datetime) -> list[Key]:
        return keys[: bisect.bisect_right(keys, _after(now))]

    def _newest_of(self, keys: list[Key], now: datetime) -> Iterator[ArticleSummary]:
        for position in range(bisect.bisect_right(keys, _after(now)) - 1, -1, -1):
            yield self.summaries[keys[position][1]]

    # -- changing (copy on write: readers keep the snapshot they hold) ---------------------------

    def with_articles(self, version: int, changed: Mapping[str, ArticleSummary | None]) -> Catalog:
        """A copy in which each changed id has its new summary, or is gone (``None``)."""
        summaries = dict(self.summaries)
        recency = list(self.recency)
        by_category = dict(self.by_category)
        by_tag = dict(self.by_tag)
        copied: set[int] = set()

        def own(index: dict[str, list[Key]], name: str) -> list[Key]:
            keys = index.get(name, [])
            if id(keys) not in copied:
                keys = index[name] = list(keys)
                copied.add(id(keys))
            return keys

        for article_id, summary in changed.items():
            old = summaries.pop(article_id, None)
            if old is not None:
                key = sort_key(old)
                _remove(recency, key)
                if old.category is not None:
                    _remove(own(by_category, old.category), key)
                for tag in _tags_of(old):
                    _remove(own(by_tag, tag), key)
            if summary is not None:
                summaries[article_id] = summary
                key = sort_key(summary)
                bisect.insort(recency, key)
                if summary.category is not None:
                    bisect.insort(own(by_category, summary.category), key)
                for tag in _tags_of(summary):
                    bisect.insort(own(by_tag, tag), key)
        gone = {article_id for article_id, summary in changed.items() if summary is None}
        editorial, overlay = self.editorial, self.overlay
        if gone:  # as the store's foreign keys do: a deleted article takes its rows with it
            editorial = {key: value for key, value in editorial.items() if key not in gone}
            overlay = {
                key: tuple(entry for entry in entries if entry.neighbour_id not in gone)
                for key, entries in overlay.items()
                if key not in gone
            }
        return replace(
            self,
            version=version,
            summaries=summaries,
            recency=recency,
            by_category={name: keys for name, keys in by_category.items() if keys},
            by_tag={name: keys for name, keys in by_tag.items() if keys},
            editorial=editorial,
            overlay=overlay,
        )


def _tags_of(summary: ArticleSummary) -> list[str]:
    return list(dict.fromkeys(tag.lower() for tag in summary.tags))


def _remove(keys: list[Key], key: Key) -> None:
    position = bisect.bisect_left(keys, key)
    if position < len(keys) and keys[position] == key:
        del keys[position]


class StoreUnreachable(Exception):
    """The store failed a moment ago; it is not asked again until ``retry_seconds`` passed."""


class CatalogHolder:
    """Keeps this worker's catalog current with the store, at the cost of one read a request.

    When the store fails, requests for the next ``retry_seconds`` fail at once with
    :class:`StoreUnreachable` instead of each waiting for a timeout; then one request tries
    again. :meth:`last` is the catalog held before, for answers marked stale."""

    def __init__(self, store: Store, *, retry_seconds: float = 1.0, follow_seconds: float = 1.0) -> None:
        self.store = store
        self.retry_seconds = retry_seconds
        self.follow_seconds = follow_seconds  # see warm(); 0: requests alone keep it current
        # Called after a whole catalog is read (a gunicorn worker freezes it out of the
        # cyclic garbage collector's passes: gunicorn.conf.py).
        self.after_load: Callable[[], object] | None = None
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._follower_pid: int | None = None
        self._closed = threading.Event()

    def last(self) -> Catalog | None:
        """The catalog this worker holds, however old (None before the first read)."""
        return self._catalog

    def current(self) -> Catalog:
        """The catalog as of the store's version now (raises the store's errors, or
        :class:`StoreUnreachable` while the store is known to be down)."""
        if time.monotonic() < self._down_until:
            raise StoreUnreachable("the store failed less than a moment ago")
        try:
            version = self.store.changes.version()
        except SQLAlchemyError:
            self._down_until = time.monotonic() + self.retry_seconds
            raise
        catalog = self._catalog
        if catalog is not None and catalog.version == version:
            return catalog
        with self._lock:
            catalog = self._catalog
            if catalog is None or catalog.version != version:
                catalog = self._catalog = self._refresh(catalog)
        return catalog

    def warm(self) -> None:
        """In a serving process: follow the store in a background thread (every
        ``follow_seconds``), then read the catalog now.

        Requests still read the store's version and wait for what changed, but after a large
        write (100k articles imported: ~3 s of reading per worker) the follower has usually
        caught up before the next request comes, instead of that request and every one
        queued behind it waiting (seen as a p99 of seconds right after a bulk import)."""
        if self.follow_seconds > 0 and self._follower_pid != os.getpid():
            self._follower_pid = os.getpid()
            threading.Thread(target=self._follow_forever, name="catalog-follower", daemon=True).start()
        self.current()

    def close(self) -> None:
        """Stop following the store (before it is disposed of)."""
        self._closed.set()

    def _follow_forever(self) -> None:
        """Read what changed once the store's version stays put for a check: while writes
        stream in (a bulk import raises it every 1,000 articles), reading the whole catalog
        after each would cost every idle worker seconds a time for nothing."""
        seen = None
        while not self._closed.wait(self.follow_seconds):
            try:
                version, held = self.store.changes.version(), self._catalog
                if held is None or held.version != version:
                    if version == seen or held is None:
                        self.current()
                    seen = version
            except Exception as error:  # requests meet the same error and report it
                log.debug("catalog follower: %s", error)

    def knows(self, article_id: str) -> bool:
        """Whether ``article_id`` is stored: from the catalog held when it is there, else (it may
        have been written since) from the current one. A deletion since the catalog held is
        not seen: callers that write must let the store have the last word."""
        held = self._catalog
        if held is not None and held.get(article_id) is not None:
            return True
        return self.current().get(article_id) is not None

    def _refresh(self, catalog: Catalog | None) -> Catalog:
        if catalog is not None:
            changes = self.store.changes.changes_after(catalog.version)
            changed = 0 if changes is None else len(changes.keys.get(ARTICLE, ()))
            # Patching sorted lists costs per article (a memmove each); past some, reading all is cheaper.
            if changes is not None and changed <= _PATCH_AT_MOST:
                return self._apply(catalog, changes)
        return self.load()

    def load(self) -> Catalog:
        """Read the whole catalog from the store."""
        version = self.store.changes.head()  # first: what is read next is at least as new
        catalog = Catalog.build(
            version,
            self.store.articles.all_summaries(),
            editorial=self.store.editorial.for_articles(),
            site=self.store.editorial.site(),
            overlay=self.store.overlay.all(),
        )
        log.info("catalog loaded: %d articles at store version %d", len(catalog.summaries), version)
        if self.after_load is not None:
            self.after_load()
        return catalog

    def _apply(self, catalog: Catalog, changes: Changes) -> Catalog:
        keys = changes.keys
        article_ids = sorted(keys.get(ARTICLE, ()))
        if article_ids:
            found = self.store.articles.summaries(article_ids)
            catalog = catalog.with_articles(changes.version, {i: found.get(i) for i in article_ids})
        updates: dict[str, object] = {"version": changes.version}
        if EDITORIAL in keys:
            ids = keys[EDITORIAL]
            editorial = {k: v for k, v in catalog.editorial.items() if k not in ids}
            editorial.update(self.store.editorial.for_articles(ids))
            updates["editorial"] = editorial
        if SITE in keys:
            updates["site"] = self.store.editorial.site()
        if OVERLAY_ALL in keys:
            updates["overlay"] = {k: tuple(v) for k, v in self.store.overlay.all().items()}
        elif OVERLAY in keys:
            overlay = {k: v for k, v in catalog.overlay.items() if k not in keys[OVERLAY]}
            learned = self.store.overlay.for_articles(sorted(keys[OVERLAY]))
            overlay.update((k, tuple(v)) for k, v in learned.items())
            updates["overlay"] = overlay
        return replace(catalog, **updates)  # type: ignore[arg-type]
