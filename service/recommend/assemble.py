"""The one place an answer is assembled: related, then popular, then latest."""

from __future__ import annotations

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
) -> Recommendations:
    """The lists under ``article``. With ``request.distinct`` an article shows in one list only
    (related, then popular, then latest), and the later lists refill from further down."""
    lists: dict[str, list[Item]] = {}
    shown: set[str] = set()
    if "related" in request.sections:
        lists["related"] = RelatedList(snapshots, policy, fresh).items(article, request)
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


def _popular(snapshots: Snapshots, article: ArticleSummary, limit: int, shown: set[str]) -> list[Item]:
    views = snapshots.popular.views
    builder = snapshots.builder(limit, {article.id, *shown}, [snapshots.group_of(article.id)])
    builder.fill(popular_summaries(snapshots), lambda summary: Item(summary, views=views[summary.id]))
    return builder.items


def _ids(items: list[Item], distinct: bool) -> set[str]:
    return {item.summary.id for item in items} if distinct else set()
