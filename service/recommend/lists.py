"""One list under construction: the rules every list follows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from service.recommend.items import Item
from service.store import ArticleSummary, SiteExclusions


@dataclass
class ListBuilder:
    """Takes offered articles until full: never a blocked id, never two of one near-duplicate
    group, nothing site-wide excluded (except an editor's pins, which the editor chose one by
    one: near-duplicates too)."""

    limit: int
    blocked_ids: set[str]
    blocked_groups: set[object]
    group_of: Callable[[str], object]
    site: SiteExclusions
    items: list[Item] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.items) >= self.limit

    def offer(
        self, summary: ArticleSummary, make: Callable[[ArticleSummary], Item], *, editorial: bool = False
    ) -> bool:
        """Add ``make(summary)`` unless a list rule forbids ``summary``; ``make`` runs only if not."""
        group = self.group_of(summary.id)
        if self.full or summary.id in self.blocked_ids:
            return False
        if not editorial and (
            group in self.blocked_groups or self.site.excludes(summary.category, summary.tags)
        ):
            return False
        self.blocked_ids.add(summary.id)
        self.blocked_groups.add(group)
        self.items.append(make(summary))
        return True

    def fill(self, summaries: Iterable[ArticleSummary], make: Callable[[ArticleSummary], Item]) -> None:
        """Offer ``summaries`` (best first) until the list is full or they run out."""
        for summary in summaries:
            if self.full:
                return
            self.offer(summary, make)
