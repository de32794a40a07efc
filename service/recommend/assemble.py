"""The one place an answer is assembled: related, then popular, then latest."""

from __future__ import annotations

import marshal
from collections.abc import Hashable

from service.answer_cache import SnapshotCache
from service.recommend.fresh import FreshMatcher
from service.recommend.items import Item, Recommendations
from service.recommend.related import RelatedList, popular_summaries
from service.recommend.request import RecommendationRequest, RelatedPolicy, ordered_sections
from service.recommend.snapshots import Snapshots
from service.store import ArticleSummary


def recommend(
    snapshots: Snapshots,
    article: ArticleSummary,
    request: RecommendationRequest,
    *,
    policy: RelatedPolicy,
    fresh: FreshMatcher,
    related_cache: SnapshotCache[bytes] | None = None,
) -> Recommendations:
    """The lists under ``article``. With ``request.distinct`` an article shows in one list only
    (related, then popular, then latest), and the later lists refill from further down."""
    lists: dict[str, list[Item]] = {}
    shown: set[str] = set()
    if "related" in request.sections:
        lists["related"] = _related(
            snapshots, article, request, policy=policy, fresh=fresh, cache=related_cache
        )
        shown |= _ids(lists["related"], request.distinct)
    if "popular" in request.sections:
        lists["popular"] = _popular(snapshots, article, request.limit, shown)
        shown |= _ids(lists["popular"], request.distinct)
    if "latest" in request.sections:
        builder = snapshots.builder(request.limit, {article.id, *shown}, [snapshots.group_of(article.id)])
        builder.fill(snapshots.catalog.newest(snapshots.now), Item)
        lists["latest"] = builder.items
    ordered = {section: lists[section] for section in ordered_sections(request.sections)}
    return Recommendations(article, ordered, snapshots.artifact)


def _related(
    snapshots: Snapshots,
    article: ArticleSummary,
    request: RecommendationRequest,
    *,
    policy: RelatedPolicy,
    fresh: FreshMatcher,
    cache: SnapshotCache[bytes] | None,
) -> list[Item]:
    """``related``, kept across requests until the catalog or index changes, or the popular list
    does when the related list had to fall back on it."""
    key = (article.id, request.limit, request.window, request.max_age_days)
    base = (snapshots.catalog.version, snapshots.artifact and snapshots.artifact.version)

    def is_current(stamp: Hashable) -> bool:
        # (*base, None) when the list did not use the popular list, (*base, epoch) when it did
        return stamp in ((*base, None), (*base, snapshots.popular.epoch))

    found = None if cache is None else cache.get(key, is_current)
    held_items = None if found is None else _unheld(found, snapshots)
    if held_items is not None:
        return held_items
    related = RelatedList(snapshots, policy, fresh)
    items = related.items(article, request)
    if cache is not None:
        epoch = snapshots.popular.epoch if related.used_popular else None
        expires_at = snapshots.catalog.next_publication(snapshots.now)
        cache.put(key, _held(items), (*base, epoch), expires_at=expires_at)
    return items


def _held(items: list[Item]) -> bytes:
    """A related list as the cache holds it: one bytes object, out of the garbage collector's
    sight (see service/answer_cache.py); the summaries are looked up again when it is read.
    Values are made plain Python first: marshal would write a numpy scalar as its raw bytes."""
    return marshal.dumps(
        [
            (
                item.summary.id,
                None if item.score is None else float(item.score),
                item.reason,
                None if item.terms is None else tuple(str(term) for term in item.terms),
                None if item.views is None else int(item.views),
            )
            for item in items
        ]
    )


def _unheld(held: bytes, snapshots: Snapshots) -> list[Item] | None:
    """The items of a held list, or ``None`` if an article is gone from the catalog."""
    items = []
    for article_id, score, reason, terms, views in marshal.loads(held):
        summary = snapshots.catalog.get(article_id)
        if summary is None:
            return None
        items.append(Item(summary, score, reason, terms, views))
    return items


def _popular(snapshots: Snapshots, article: ArticleSummary, limit: int, shown: set[str]) -> list[Item]:
    views = snapshots.popular.views
    builder = snapshots.builder(limit, {article.id, *shown}, [snapshots.group_of(article.id)])
    builder.fill(popular_summaries(snapshots), lambda summary: Item(summary, views=views[summary.id]))
    return builder.items


def _ids(items: list[Item], distinct: bool) -> set[str]:
    return {item.summary.id for item in items} if distinct else set()
