"""What each worker keeps of its answers, valid while what they were built from is unchanged.

An entry carries a *stamp*: the versions of the snapshots it was built from (store catalog,
index, popular list). A lookup says which stamp is current; an entry with another stamp, or
past its ``valid_until`` (the next scheduled publication, or its time to live), is computed
again. Two levels use it: whole encoded answers, and related lists (which outlive a change of
the popular list unless they fell back on it).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import LRUCache

V = TypeVar("V")


@dataclass(frozen=True)
class Entry(Generic[V]):
    value: V
    stamp: Hashable
    valid_until: float  # time.time()


class SnapshotCache(Generic[V]):
    """An LRU of values by key, each valid for one stamp and until a moment."""

    def __init__(self, *, size: int = 10_000, ttl_seconds: float = 30.0) -> None:
        self.ttl_seconds = ttl_seconds
        self.enabled = size > 0
        self._entries: LRUCache[Hashable, Entry[V]] = LRUCache(maxsize=max(size, 1))
        self._lock = threading.Lock()

    def get(self, key: Hashable, is_current: Callable[[Hashable], bool]) -> V | None:
        """The value of ``key`` if its stamp passes ``is_current`` and it has not expired."""
        if not self.enabled:
            return None
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry.valid_until <= time.time() or not is_current(entry.stamp):
            return None
        return entry.value

    def put(self, key: Hashable, value: V, stamp: Hashable, *, expires_at: float | None = None) -> None:
        valid_until = time.time() + self.ttl_seconds
        if expires_at is not None:
            valid_until = min(valid_until, expires_at)
        if self.enabled:
            with self._lock:
                self._entries[key] = Entry(value, stamp, valid_until)


@dataclass(frozen=True)
class EncodedAnswer:
    """An answer's encoded bytes (JSON or HTML) and their strong validator."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> EncodedAnswer:
        return cls(body, hashlib.blake2b(body, digest_size=12).hexdigest())
