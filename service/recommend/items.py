"""The records an answer is made of; the web layer shapes them into JSON."""

from __future__ import annotations

from dataclasses import dataclass

from service.recommender.artifacts import IndexArtifact
from service.store import ArticleSummary


@dataclass(frozen=True, slots=True)
class Item:
    """One article in a list, with what that list says of it."""

    summary: ArticleSummary
    score: float | None = None  # related: the similarity (0 for fallbacks)
    reason: str | None = None  # related: why it is there
    terms: tuple[str, ...] | None = None  # related "similar": the words that matched most
    views: int | None = None  # popular: views in the window


@dataclass(frozen=True)
class Recommendations:
    """The lists under one article, in the contract's order, and the index they came from."""

    article: ArticleSummary
    lists: dict[str, list[Item]]
    artifact: IndexArtifact | None
    stale: bool = False  # built from what was held while the store could not be read
