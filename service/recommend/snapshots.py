"""What one answer is built from: the catalog, the index and the popular list, as of one moment."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from service.catalog import Catalog
from service.popularity import PopularList
from service.recommend.lists import ListBuilder
from service.recommender.artifacts import IndexArtifact


@dataclass(frozen=True)
class Snapshots:
    """Immutable inputs of an answer: equal snapshots and requests give equal answers."""

    catalog: Catalog
    artifact: IndexArtifact | None
    popular: PopularList
    now: datetime

    def group_of(self, article_id: str) -> object:
        """A key shared by near-duplicates: the index's group, else the id itself."""
        if self.artifact is not None:
            group = self.artifact.index.group_of(article_id)
            if group is not None:
                return group
        return article_id

    def builder(self, limit: int, blocked: Iterable[str], own_groups: Iterable[object] = ()) -> ListBuilder:
        return ListBuilder(limit, set(blocked), set(own_groups), self.group_of, self.catalog.site)
