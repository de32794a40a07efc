"""What each worker keeps of its answers, valid while what they were built from is unchanged.

An entry carries a *stamp*: the versions of the snapshots it was built from (store catalog,
index, popular list). A lookup says which stamp is current; an entry with another stamp, or
past its ``valid_until`` (the next scheduled publication, or its time to live), is computed
again. Two levels use it: whole encoded answers, and related lists (which outlive a change of
the popular list unless they fell back on it).

Entries, keys and values are plain tuples of strings, numbers and bytes: CPython stops
tracking such tuples (exact tuples, not named ones) in its cyclic garbage collector, so tens of
thousands of cached answers add nothing to a full collection. (Held as dataclasses, the 110k
objects of full caches made every full collection a 20-70 ms pause of the worker, measured in
process on the 100k-article index.)
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, NamedTuple, TypeVar

from cachetools import LRUCache

V = TypeVar("V")


class SnapshotCache(Generic[V]):
    """An LRU of values by key, each valid for one stamp and until a moment.

    Keys, values and stamps should be plain tuples of strings, numbers and bytes (or of such
    tuples): each entry is held as one more such tuple, out of the garbage collector's sight.
    """

    def __init__(self, *, size: int = 10_000, ttl_seconds: float = 30.0) -> None:
        self.ttl_seconds = ttl_seconds
        self.enabled = size > 0
        # key -> (value, stamp, valid until, as time.time())
        self._entries: LRUCache[Hashable, tuple[V, Hashable, float]] = LRUCache(maxsize=max(size, 1))
        self._lock = threading.Lock()

    def get(self, key: Hashable, is_current: Callable[[Hashable], bool]) -> V | None:
        """The value of ``key`` if its stamp passes ``is_current`` and it has not expired."""
        if not self.enabled:
            return None
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        value, stamp, valid_until = entry
        if valid_until <= time.time() or not is_current(stamp):
            return None
        return value

    def put(self, key: Hashable, value: V, stamp: Hashable, *, expires_at: float | None = None) -> None:
        valid_until = time.time() + self.ttl_seconds
        if expires_at is not None:
            valid_until = min(valid_until, expires_at)
        if self.enabled:
            with self._lock:
                self._entries[key] = (value, stamp, valid_until)


class EncodedAnswer(NamedTuple):
    """An answer's encoded bytes (JSON or HTML) and their strong validator."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> EncodedAnswer:
        return cls(body, hashlib.blake2b(body, digest_size=12).hexdigest())
