"""Assembling the three lists under an article: related, latest and popular.

Rules every list follows: never the article itself, never an unpublished or deleted article,
never the same article or the same story (a near-duplicate group) twice, nothing site-wide
excluded. With ``distinct`` an article shows in at most one list (related, then popular,
then latest), and lists refill from further down.

``related`` is built in order from: pinned ids; ``similar`` articles from the index (with the
terms that matched) whose score reaches ``min_score``; then, when fewer than ``limit``, the
newest of the same category, articles sharing tags, popular and latest ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from service.articles import Article, isoformat
from service.recommender.artifacts import IndexArtifact
from service.recommender.index import Neighbour
from service.store import ArticleEditorial, ArticleSummary, SiteExclusions, Store
from service.windows import window_start

SECTIONS = ("related", "latest", "popular")
# Fetch this many more rows than missing, to leave room for rows the list rules drop.
_SLACK = 10
_MAX_FETCH = 2000


@dataclass(frozen=True)
class RelatedPolicy:
    """Site-wide settings of ``related`` (from config)."""

    min_score: float = 0.05
    recency_weight: float = 0.0
    recency_half_life_days: float = 180.0
    max_age_days: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RelatedPolicy:
        max_age = config.get("MAX_AGE_DAYS")
        return cls(
            min_score=float(config["MIN_SCORE"]),
            recency_weight=float(config["RECENCY_WEIGHT"]),
            recency_half_life_days=float(config["RECENCY_HALF_LIFE_DAYS"]),
            max_age_days=None if max_age in (None, "", 0) else int(max_age),
        )


@dataclass(frozen=True)
class RecommendationRequest:
    article_id: str
    sections: tuple[str, ...] = SECTIONS
    limit: int = 5
    window: str = "7d"
    max_age_days: int | None = None
    distinct: bool = True


@dataclass
class ListBuilder:
    """One list under construction: what it may still take, and what it holds."""

    limit: int
    blocked_ids: set[str]
    blocked_groups: set[object]
    group_of: Callable[[str], object]
    site: SiteExclusions
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.items) >= self.limit

    def offer(self, summary: ArticleSummary, extra: dict[str, Any], *, editorial: bool = False) -> bool:
        """Add ``summary`` unless a list rule forbids it; pinned (``editorial``) items skip site rules."""
        group = self.group_of(summary.id)
        if self.full or summary.id in self.blocked_ids or group in self.blocked_groups:
            return False
        if not editorial and self.site.excludes(summary.category, summary.tags):
            return False
        self.blocked_ids.add(summary.id)
        self.blocked_groups.add(group)
        self.items.append({**summary.to_json(), **extra})
        return True

    def fill_from(
        self,
        fetch: Callable[[int], Sequence[ArticleSummary]],
        extra: Callable[[ArticleSummary], dict[str, Any]],
    ) -> None:
        """Offer rows of ``fetch(n)`` (best first) until full, asking for more while rows are dropped."""
        wanted = self.limit - len(self.items) + len(self.blocked_ids) + _SLACK
        seen: set[str] = set()
        while not self.full:
            rows = fetch(wanted)
            for summary in rows:
                if summary.id not in seen:
                    seen.add(summary.id)
                    self.offer(summary, extra(summary))
            if len(rows) < wanted or wanted >= _MAX_FETCH:
                return
            wanted = min(wanted * 4, _MAX_FETCH)


class Recommender:
    """Builds recommendation answers from the store and the current index."""

    def __init__(
        self, store: Store, artifact: IndexArtifact | None, policy: RelatedPolicy, *, now: datetime
    ) -> None:
        self.store = store
        self.artifact = artifact
        self.policy = policy
        self.now = now
        self.site = store.editorial.site()

    def group_of(self, article_id: str) -> object:
        """A key shared by near-duplicates: the index's group, else the id itself."""
        if self.artifact is not None:
            group = self.artifact.index.group_of(article_id)
            if group is not None:
                return group
        return article_id

    def builder(self, limit: int, blocked: Iterable[str], own_groups: Iterable[object] = ()) -> ListBuilder:
        return ListBuilder(limit, set(blocked), set(own_groups), self.group_of, self.site)

    # -- the answer ------------------------------------------------------------------------

    def recommend(self, article: Article, request: RecommendationRequest) -> dict[str, Any]:
        """The recommendations body of CONTRACT.md (with its documented extensions)."""
        answer: dict[str, Any] = {"article": {"id": article.id, "title": article.title, "url": article.url}}
        shown: set[str] = set()
        if "related" in request.sections:
            answer["related"] = self.related(article, request)
        if request.distinct:
            shown = {item["id"] for item in answer.get("related", [])}
        if "popular" in request.sections:
            answer["popular"] = self.popular(article, request.limit, request.window, shown)
            if request.distinct:
                shown |= {item["id"] for item in answer["popular"]}
        if "latest" in request.sections:
            answer["latest"] = self.latest(article, request.limit, shown)
        answer["index"] = index_info(self.artifact)
        return {key: answer[key] for key in ("article", *SECTIONS, "index") if key in answer}

    def latest(self, article: Article, limit: int, shown: set[str]) -> list[dict[str, Any]]:
        builder = self.builder(limit, {article.id, *shown}, [self.group_of(article.id)])
        builder.fill_from(lambda n: self.store.articles.latest(limit=n, now=self.now), lambda _: {})
        return builder.items

    def popular(self, article: Article, limit: int, window: str, shown: set[str]) -> list[dict[str, Any]]:
        builder = self.builder(limit, {article.id, *shown}, [self.group_of(article.id)])
        viewed: dict[str, int] = {}

        def fetch(n: int) -> list[ArticleSummary]:
            rows = self.store.views.popular(since=window_start(window, self.now), now=self.now, limit=n)
            viewed.update((row.article.id, row.views) for row in rows)
            return [row.article for row in rows]

        builder.fill_from(fetch, lambda summary: {"views": viewed[summary.id]})
        return builder.items

    # -- related -----------------------------------------------------------------------------

    def related(self, article: Article, request: RecommendationRequest) -> list[dict[str, Any]]:
        if self.artifact is None:
            return []  # the contract: no related posts before the first index
        editorial = self.store.editorial.for_article(article.id)
        max_age = request.max_age_days or self.policy.max_age_days
        oldest = None if max_age is None else self.now - timedelta(days=max_age)
        candidates, learned = self._similar_candidates(article)
        threshold = self.artifact.index.duplicate_threshold
        own_groups = {self.group_of(article.id)} | {
            self.group_of(candidate.id) for candidate in candidates if candidate.cosine >= threshold
        }
        builder = self.builder(request.limit, {article.id, *editorial.excluded}, own_groups)
        scores = {candidate.id: candidate.score for candidate in candidates}
        self._add_pinned(builder, editorial, scores)
        self._add_similar(builder, article, candidates, learned, oldest)
        self._add_fallbacks(builder, article, request.window, oldest)
        return builder.items

    def _similar_candidates(self, article: Article) -> tuple[list[Neighbour], set[str]]:
        """Scored candidates, best first: the index's, corrected by what was learned since the
        build; and the ids that were learned."""
        if self.artifact is None:
            return [], set()
        index = self.artifact.index
        row = index.row_of(article.id)
        if row is not None and index.content_hashes_[row] == article.content_hash():
            candidates = index.neighbours(row)
        else:
            candidates = index.similar_to(article.to_document())
        learned = {entry.neighbour_id: entry for entry in self.store.overlay.for_article(article.id)}
        merged = {candidate.id: candidate for candidate in candidates if candidate.id != article.id}
        merged.update(
            (entry.neighbour_id, Neighbour(entry.neighbour_id, entry.score, entry.cosine))
            for entry in learned.values()
        )
        return sorted(merged.values(), key=lambda candidate: -candidate.score), set(learned)

    def _add_pinned(
        self, builder: ListBuilder, editorial: ArticleEditorial, scores: dict[str, float]
    ) -> None:
        pinned = self.store.articles.published_summaries(editorial.pinned, now=self.now)
        for article_id in editorial.pinned:
            if article_id in pinned:
                extra = {"score": round(scores.get(article_id, 0.0), 4), "reason": "pinned"}
                builder.offer(pinned[article_id], extra, editorial=True)

    def _add_similar(
        self,
        builder: ListBuilder,
        article: Article,
        candidates: list[Neighbour],
        learned_ids: set[str],
        oldest: datetime | None,
    ) -> None:
        if self.artifact is None or builder.full:
            return
        index = self.artifact.index
        vector = index.vector_of(article.to_document())
        decayed = self.policy.recency_weight > 0
        ranked: list[tuple[float, ArticleSummary]] = []

        def offer(score: float, summary: ArticleSummary) -> None:
            terms = index.shared_terms(vector, summary.id)
            builder.offer(summary, {"score": round(score, 4), "reason": "similar", "terms": terms})

        for start in range(0, len(candidates), 32):
            chunk = candidates[start : start + 32]
            found = self.store.articles.published_summaries([c.id for c in chunk], now=self.now)
            for candidate in chunk:
                summary = found.get(candidate.id)
                if summary is None or (
                    oldest is not None and summary.published_at and summary.published_at < oldest
                ):
                    continue
                row = index.row_of(candidate.id)
                stale = row is not None and index.content_hashes_[row] != summary.content_hash
                if stale and candidate.id not in learned_ids:
                    continue  # its score was computed for text it no longer has
                score = candidate.score * self._recency_factor(summary.published_at)
                if score < self.policy.min_score:
                    continue
                if decayed:
                    ranked.append((score, summary))  # the decay reorders: offer once all are known
                else:
                    offer(score, summary)  # candidates come best first
            if builder.full:
                return
        for score, summary in sorted(ranked, key=lambda pair: -pair[0]):
            offer(score, summary)

    def _recency_factor(self, published_at: datetime | None) -> float:
        weight = self.policy.recency_weight
        if weight <= 0 or published_at is None:
            return 1.0
        age_days = max((self.now - published_at).total_seconds() / 86400, 0.0)
        return (1.0 - weight) + weight * 0.5 ** (age_days / self.policy.recency_half_life_days)

    def _add_fallbacks(
        self, builder: ListBuilder, article: Article, window: str, oldest: datetime | None
    ) -> None:
        def fresh(rows: Sequence[ArticleSummary]) -> list[ArticleSummary]:
            return [r for r in rows if oldest is None or r.published_at is None or r.published_at >= oldest]

        articles = self.store.articles
        sources: list[tuple[str, Callable[[int], Sequence[ArticleSummary]]]] = []
        if article.category:
            category = article.category
            sources.append(
                ("same_category", lambda n: fresh(articles.in_category(category, limit=n, now=self.now)))
            )
        if article.tags:
            tags = article.tags
            sources.append(
                ("shared_tags", lambda n: fresh(articles.sharing_tags(tags, limit=n, now=self.now)))
            )
        since = window_start(window, self.now)
        sources.append(
            (
                "popular",
                lambda n: [
                    row.article for row in self.store.views.popular(since=since, now=self.now, limit=n)
                ],
            )
        )
        sources.append(("latest", lambda n: articles.latest(limit=n, now=self.now)))
        for reason, fetch in sources:
            if builder.full:
                return
            builder.fill_from(fetch, _fallback(reason))


def _fallback(reason: str) -> Callable[[ArticleSummary], dict[str, Any]]:
    return lambda _summary: {"score": 0.0, "reason": reason}


def index_info(artifact: IndexArtifact | None) -> dict[str, Any] | None:
    if artifact is None:
        return None
    return {"version": artifact.version, "built_at": isoformat(artifact.built_at)}


def parse_sections(value: str | None) -> Sequence[str]:
    """Validate the ``sections`` parameter; raises ``ValueError`` with a reason."""
    if value is None:
        return SECTIONS
    names = [name.strip() for name in value.split(",")]
    unknown = [name for name in names if name not in SECTIONS]
    if not value.strip() or unknown:
        raise ValueError(f"sections must be a non-empty comma-separated subset of {', '.join(SECTIONS)}")
    return tuple(dict.fromkeys(names))
