"""Neighbours of articles the index does not hold yet (or holds with older text).

Their text is read and vectorized once per worker, index version and content, not on every
request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import scipy.sparse as sp
from cachetools import LRUCache

from service.recommender import Document
from service.recommender.artifacts import IndexArtifact
from service.recommender.index import Neighbour
from service.store import ArticleSummary, Store


@dataclass(frozen=True)
class FreshMatch:
    candidates: list[Neighbour]  # best first
    vector: sp.csr_matrix  # the article's vector in the index's space


class FreshMatcher:
    """Computes and remembers :class:`FreshMatch` es; ``load`` reads an article's document."""

    def __init__(self, load: Callable[[str], Document | None], *, size: int = 2048) -> None:
        self.load = load
        self._cache: LRUCache[tuple[str, str, str], FreshMatch] = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    @classmethod
    def for_store(cls, store: Store, *, size: int = 2048) -> FreshMatcher:
        """A matcher that reads articles' text from ``store``."""

        def load(article_id: str) -> Document | None:
            article = store.articles.get(article_id)
            return None if article is None else article.to_document()

        return cls(load, size=size)

    def match(self, artifact: IndexArtifact, summary: ArticleSummary) -> FreshMatch | None:
        """The match of ``summary``'s current content; ``None`` if the article is gone."""
        key = (artifact.version, summary.id, summary.content_hash)
        with self._lock:
            found = self._cache.get(key)
        if found is not None:
            return found
        document = self.load(summary.id)
        if document is None:
            return None
        index = artifact.index
        vector, texts = index.transform_with_texts([document])
        neighbours = index.neighbours_of_vectors(
            vector, [document.id], titles=[document.title], texts=texts, bodies=[document.body]
        )[0]
        found = FreshMatch(neighbours, vector)
        if document.content_hash() == summary.content_hash:  # else it changed again meanwhile
            with self._lock:
                self._cache[key] = found
        return found
