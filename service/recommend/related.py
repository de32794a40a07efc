"""The related list: pinned, then similar, then fallbacks, each item with its ``reason``.

``similar`` articles come from the index (precomputed for indexed articles, computed once for
new ones) merged with what was learned since the build (the catalog's overlay), best first,
those below ``min_score`` left out. When fewer than ``limit`` remain, the list is filled from
the newest of the same category, articles sharing tags, popular and latest ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from service.recommend.fresh import FreshMatcher
from service.recommend.items import Item
from service.recommend.lists import ListBuilder
from service.recommend.request import RecommendationRequest, RelatedPolicy
from service.recommend.snapshots import Snapshots
from service.recommender.index import Neighbour, RelatedIndex, TermVector
from service.store import ArticleEditorial, ArticleSummary

_NO_EDITORIAL = ArticleEditorial()
# Up to this, a list reports the index's score as it is; above, compressed toward 1 (see
# reported_score). Cosines and their blends stay below it but for near-copies.
_SCORE_KNEE = 0.9


def reported_score(score: float) -> float:
    """The similarity a list reports, in [0, 1): ``score`` itself up to 0.9, then compressed
    smoothly toward 1. The title boosts multiply a blend past 1 (the contract's ``score`` is a
    similarity); the curve rises strictly, so the order and the ties stay those of ``score``."""
    if score <= _SCORE_KNEE:
        return score
    room = 1.0 - _SCORE_KNEE
    return 1.0 - room * math.exp(-(score - _SCORE_KNEE) / room)


@dataclass
class Candidates:
    """An article's similar candidates, corrected by what was learned since the build."""

    ranked: Iterable[Neighbour]  # best first; may be consumed once only
    learned: set[str]  # ids whose scores were learned since the build
    vector: TermVector | None  # the article's current vector, if it has one
    near_duplicates: list[Neighbour]  # candidates of the same story


class RelatedList:
    """Builds ``related`` for one article from one set of snapshots."""

    def __init__(self, snapshots: Snapshots, policy: RelatedPolicy, fresh: FreshMatcher) -> None:
        self.snapshots = snapshots
        self.policy = policy
        self.fresh = fresh
        self.used_popular = False  # whether the list fell back on the popular list

    def items(self, article: ArticleSummary, request: RecommendationRequest) -> list[Item]:
        snapshots = self.snapshots
        if snapshots.artifact is None:
            return []  # the contract: no related posts before the first index
        catalog = snapshots.catalog
        editorial = catalog.editorial.get(article.id, _NO_EDITORIAL)
        max_age = request.max_age_days or self.policy.max_age_days
        oldest = None if max_age is None else snapshots.now - timedelta(days=max_age)
        candidates = self._candidates(article)
        own_groups = {snapshots.group_of(article.id)} | {
            snapshots.group_of(candidate.id) for candidate in candidates.near_duplicates
        }
        builder = snapshots.builder(request.limit, {article.id, *editorial.excluded}, own_groups)
        if editorial.pinned:
            ranked = list(candidates.ranked)
            candidates.ranked = ranked
            scores = {candidate.id: candidate.score for candidate in ranked}
            for pinned_id in editorial.pinned:  # first, in the editor's order
                summary = catalog.published(pinned_id, snapshots.now)
                if summary is not None:
                    builder.offer(
                        summary,
                        lambda s: Item(s, reported_score(scores.get(s.id, 0.0)), "pinned"),
                        editorial=True,
                    )
        self._add_similar(builder, candidates, oldest)
        self._add_fallbacks(builder, article, oldest)
        return builder.items

    def _candidates(self, article: ArticleSummary) -> Candidates:
        artifact = self.snapshots.artifact
        assert artifact is not None
        index = artifact.index
        row = index.row_of(article.id)
        learned = self.snapshots.catalog.overlay.get(article.id, ())
        found: list[Neighbour]
        vector: TermVector | None
        if row is not None and index.content_hashes_[row] == article.content_hash:
            vector = index.row_vector(row)
            if not learned:
                # Ranked already, and its near-duplicates share its group: nothing to merge.
                return Candidates(index.iter_neighbours(row), set(), vector, [])
            found = index.neighbours(row)
        else:
            match = self.fresh.match(artifact, article)
            found = [] if match is None else match.candidates
            vector = None if match is None else TermVector.of(match.vector)
        merged = {candidate.id: candidate for candidate in found if candidate.id != article.id}
        merged.update((e.neighbour_id, Neighbour(e.neighbour_id, e.score, e.cosine)) for e in learned)
        ranked = sorted(merged.values(), key=lambda candidate: -candidate.score)
        duplicates = index.near_duplicates_of(article.title, ranked)
        return Candidates(ranked, {entry.neighbour_id for entry in learned}, vector, duplicates)

    def _add_similar(self, builder: ListBuilder, candidates: Candidates, oldest: datetime | None) -> None:
        if builder.full:
            return
        artifact = self.snapshots.artifact
        assert artifact is not None
        index = artifact.index
        scored = self._scored(index, candidates.ranked, candidates.learned, oldest)
        if self.policy.recency_weight > 0:  # the decay reorders
            scored = iter(sorted(scored, key=lambda pair: -pair[0]))
        first = len(builder.items)
        for score, summary in scored:
            if builder.full:
                break
            builder.offer(summary, partial(Item, score=reported_score(score), reason="similar", terms=()))
        added = builder.items[first:]
        if candidates.vector is not None and added:  # the words that matched, in one pass
            terms = index.shared_terms_many(candidates.vector, [item.summary.id for item in added])
            builder.items[first:] = [replace(item, terms=tuple(words)) for item, words in zip(added, terms)]

    def _scored(
        self, index: RelatedIndex, candidates: Iterable[Neighbour], learned: set[str], oldest: datetime | None
    ) -> Iterator[tuple[float, ArticleSummary]]:
        catalog, now = self.snapshots.catalog, self.snapshots.now
        for candidate in candidates:
            summary = catalog.published(candidate.id, now)
            if summary is None or (
                oldest is not None and summary.published_at and summary.published_at < oldest
            ):
                continue
            row = index.row_of(candidate.id)
            stale = row is not None and index.content_hashes_[row] != summary.content_hash
            if stale and candidate.id not in learned:
                continue  # its score was computed for text it no longer has
            score = candidate.score * self._recency_factor(summary.published_at)
            if score >= self.policy.min_score:
                yield score, summary

    def _recency_factor(self, published_at: datetime | None) -> float:
        weight = self.policy.recency_weight
        if weight <= 0 or published_at is None:
            return 1.0
        age_days = max((self.snapshots.now - published_at).total_seconds() / 86400, 0.0)
        return (1.0 - weight) + weight * 0.5 ** (age_days / self.policy.recency_half_life_days)

    def _popular(self) -> Iterator[ArticleSummary]:
        self.used_popular = True
        return popular_summaries(self.snapshots)

    def _add_fallbacks(self, builder: ListBuilder, article: ArticleSummary, oldest: datetime | None) -> None:
        catalog, now = self.snapshots.catalog, self.snapshots.now

        def fresh(summaries: Iterable[ArticleSummary]) -> Iterator[ArticleSummary]:
            return (
                s for s in summaries if oldest is None or s.published_at is None or s.published_at >= oldest
            )

        sources: list[tuple[str, Callable[[], Iterable[ArticleSummary]]]] = []
        if article.category:
            category = article.category
            sources.append(("same_category", lambda: catalog.newest_in_category(category, now)))
        if article.tags:
            tags = article.tags
            sources.append(("shared_tags", lambda: catalog.sharing_tags(tags, now)))
        sources.append(("popular", self._popular))
        sources.append(("latest", lambda: catalog.newest(now)))
        for reason, source in sources:
            if builder.full:
                return
            builder.fill(fresh(source()), _fallback(reason))


def popular_summaries(snapshots: Snapshots) -> Iterator[ArticleSummary]:
    """The popular list's articles that are (still) published, most viewed first."""
    for article_id, _views in snapshots.popular.rows:
        summary = snapshots.catalog.published(article_id, snapshots.now)
        if summary is not None:
            yield summary


def _fallback(reason: str) -> Callable[[ArticleSummary], Item]:
    return lambda summary: Item(summary, 0.0, reason)
