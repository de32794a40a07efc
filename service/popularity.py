"""Each worker's most-viewed lists, one per window, re-read from the store in the background.

(``trending`` is a window too: its list is ordered by the trending score, see service/windows.py.)

``popular`` is the same for every article, so it is not queried per request. A list is served
for at most ``max_lag_seconds`` after the read it came from began (the contract lets
``popular`` lag acknowledged views by at most 2 s). Once it is half that old, the request that
notices starts a re-read in a background thread and is answered with the list held, so no
request waits for the store's ranking (30-120 ms on a large site, most of it the worker's GIL
if done on a request thread); only a list past its lag is re-read while the request waits.
Its ``epoch`` changes only when the list did, so cached answers stay valid while nothing is
viewed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from service.shared_lists import Rows, SharedLists, wall_age
from service.store import Store

log = logging.getLogger(__name__)

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

    def __init__(
        self,
        store: Store,
        *,
        max_lag_seconds: float = 1.8,
        depth: int = DEPTH,
        shared: SharedLists | None = None,
    ) -> None:
        self.store = store
        self.shared = shared  # where processes exchange lists (service/shared_lists.py)
        self.max_lag_seconds = max_lag_seconds
        self.refresh_after_seconds = max_lag_seconds / 2
        self.depth = depth
        self._lists: dict[str, tuple[float, PopularList]] = {}
        self._epoch = 0
        self._reading = threading.Lock()  # one read of the store at a time, per process
        self._closed = False

    def last(self, window: str) -> PopularList:
        """The list of ``window`` held, however old (empty before the first read)."""
        held = self._lists.get(window)
        return held[1] if held is not None else PopularList.of(0, ())

    def top(self, window: str, now: datetime) -> PopularList:
        """The list of ``window``, read at most ``max_lag_seconds`` ago; raises the store's
        errors only when the held list is too old and the store cannot be read."""
        held = self._lists.get(window)
        if held is not None:
            age = time.monotonic() - held[0]
            if age < self.refresh_after_seconds:
                return held[1]
            if age < self.max_lag_seconds:
                if not self._closed and self._reading.acquire(blocking=False):
                    self._refresh_in_background(window, now)
                return held[1]
        with self._reading:  # the read in progress, or this request's own
            return self._refresh(window, now, fresher_than=self.max_lag_seconds)

    def close(self, timeout: float = 10.0) -> None:
        """Start no more background reads and wait for the one in progress (before the store
        is disposed of)."""
        self._closed = True
        if self._reading.acquire(timeout=timeout):
            self._reading.release()

    def _refresh_in_background(self, window: str, now: datetime) -> None:
        """Re-read ``window`` in a new thread, which releases the read lock (held by the caller)."""

        def read() -> None:
            try:
                self._refresh(window, now, fresher_than=self.refresh_after_seconds)
            except Exception as error:  # a request re-reads it once the held list is too old
                log.warning("could not refresh the popular list %s: %s", window, error)
            finally:
                self._reading.release()

        try:
            threading.Thread(target=read, name=f"popular-{window}", daemon=True).start()
        except RuntimeError:  # no thread to be had: the next request past the lag reads it
            self._reading.release()

    def _refresh(self, window: str, now: datetime, *, fresher_than: float) -> PopularList:
        """The list of ``window`` if read less than ``fresher_than`` ago (by this thread, another
        or another process), else read now; another process reading it meanwhile is waited for."""
        held = self._lists.get(window)
        if held is not None and time.monotonic() - held[0] < fresher_than:
            return held[1]  # another thread refreshed it while this one waited
        if self.shared is None:
            return self._adopt(window, *self._read_store(window, now)[1:])
        shared = self._take_shared(window, fresher_than)
        if shared is not None:
            return shared
        with self.shared.reading(window):
            shared = self._take_shared(window, fresher_than)  # read while this one waited
            if shared is not None:
                return shared
            read_at, fetched_at, rows = self._read_store(window, now)
            self.shared.write(window, read_at, rows)
            return self._adopt(window, fetched_at, rows)

    def _read_store(self, window: str, now: datetime) -> tuple[float, float, Rows]:
        """``(time.time(), time.monotonic())`` as the read began (the list's lag counts from
        there), and the rows read."""
        read_at, fetched_at = time.time(), time.monotonic()
        return read_at, fetched_at, tuple(self.store.views.most_viewed(window, now=now, limit=self.depth))

    def _take_shared(self, window: str, fresher_than: float) -> PopularList | None:
        assert self.shared is not None
        found = self.shared.read(window)
        if found is None or (age := wall_age(found[0])) >= fresher_than:
            return None
        return self._adopt(window, time.monotonic() - age, found[1])

    def _adopt(self, window: str, fetched_at: float, rows: Rows) -> PopularList:
        held = self._lists.get(window)
        if held is not None and held[1].rows == rows:
            current = held[1]
        else:
            self._epoch += 1
            current = PopularList.of(self._epoch, rows)
        self._lists[window] = (fetched_at, current)
        return current
