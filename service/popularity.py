"""Each worker's most-viewed lists, one per window, read from the store at most once a second.

(``trending`` is a window too: its list is ordered by the trending score, see service/windows.py.)

``popular`` is the same for every article, so it is not queried per request: a list is
refreshed when it is older than ``refresh_seconds`` (the contract lets ``popular`` lag
acknowledged views by at most 2 s). While one thread refreshes, the others serve the list
they have. Its ``epoch`` changes only when the list did, so cached answers stay valid while
nothing is viewed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from service.store import Store

# How many of the most viewed articles a worker keeps per window: far more than a list
# shows, so that list rules (distinct lists, exclusions) still leave enough.
DEPTH = 1000


@dataclass(frozen=True)
class PopularList:
    """The most viewed articles of a window, ``(id, views)`` best first."""

    epoch: int
    rows: tuple[tuple[str, int], ...]
    views: dict[str, int] = field(default_factory=dict)  # the rows, by id

    @classmethod
    def of(cls, epoch: int, rows: tuple[tuple[str, int], ...]) -> PopularList:
        return cls(epoch, rows, dict(rows))


class Popularity:
    """The current :class:`PopularList` of each window."""

    def __init__(self, store: Store, *, refresh_seconds: float = 1.0, depth: int = DEPTH) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self.depth = depth
        self._lists: dict[str, tuple[float, PopularList]] = {}
        self._epoch = 0
        self._lock = threading.Lock()

    def last(self, window: str) -> PopularList:
        """The list of ``window`` held, however old (empty before the first read)."""
        held = self._lists.get(window)
        return held[1] if held is not None else PopularList.of(0, ())

    def top(self, window: str, now: datetime) -> PopularList:
        held = self._lists.get(window)
        if held is not None and time.monotonic() - held[0] < self.refresh_seconds:
            return held[1]
        # One thread reads the store; the others serve what is held (or wait for a first list).
        if not self._lock.acquire(blocking=held is None):
            assert held is not None
            return held[1]
        try:
            return self._refresh(window, now)
        finally:
            self._lock.release()

    def _refresh(self, window: str, now: datetime) -> PopularList:
        held = self._lists.get(window)
        if held is not None and time.monotonic() - held[0] < self.refresh_seconds:
            return held[1]  # another thread refreshed it while this one waited
        fetched_at = time.monotonic()
        rows = tuple(self.store.views.most_viewed(window, now=now, limit=self.depth))
        if held is not None and held[1].rows == rows:
            current = held[1]
        else:
            self._epoch += 1
            current = PopularList.of(self._epoch, rows)
        self._lists[window] = (fetched_at, current)
        return current
