"""Encoded answers kept per worker, valid while what they were built from is unchanged.

An entry is keyed by the request and stamped with a *generation*: the versions of every
snapshot the answer was built from (store catalog, index, popular list). An entry whose
generation differs from the current one, or that has passed its ``valid_until`` (the next
scheduled publication, or its time to live), is computed again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from cachetools import LRUCache


@dataclass(frozen=True)
class CachedAnswer:
    body: bytes
    etag: str
    generation: Hashable
    valid_until: float  # time.time()


class AnswerCache:
    """An LRU of :class:`CachedAnswer` by request key."""

    def __init__(self, *, size: int = 10_000, ttl_seconds: float = 30.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: LRUCache[Hashable, CachedAnswer] = LRUCache(maxsize=max(size, 1))
        self._lock = threading.Lock()
        self.enabled = size > 0

    def get(self, key: Hashable, generation: Hashable) -> CachedAnswer | None:
        if not self.enabled:
            return None
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry.generation != generation or entry.valid_until <= time.time():
            return None
        return entry

    def get_or_compute(
        self,
        key: Hashable,
        generation: Hashable,
        compute: Callable[[], tuple[bytes, str, float | None]],
    ) -> CachedAnswer:
        """The cached answer, or ``compute()`` → ``(body, etag, expires_at or None)`` stored."""
        entry = self.get(key, generation)
        if entry is not None:
            return entry
        body, etag, expires_at = compute()
        valid_until = time.time() + self.ttl_seconds
        if expires_at is not None:
            valid_until = min(valid_until, expires_at)
        entry = CachedAnswer(body, etag, generation, valid_until)
        if self.enabled:
            with self._lock:
                self._entries[key] = entry
        return entry
