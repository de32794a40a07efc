"""Who a reader is, without storing who they are: a salted hash of address and User-Agent.

A visitor is identified per UTC day by 64 bits of ``HMAC-SHA256(salt of the day, client address
+ User-Agent)``. The salt rotates daily, so the same reader on two days is two visitor-days and
no hash links one day to the next; the address itself is never stored. The salt is either
``HMAC-SHA256(VISITOR_SALT_SECRET, day)`` (nothing stored; every replica with the same secret
agrees) or, without a secret, a random salt per day kept in the store (``visitor_salts``) and
deleted two days later: after that, not even the store's owner can tell which address a hash was.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import date

from service.store.visitors import SaltRepository

_SALTS_KEPT = 3


class VisitorHasher:
    """Hashes ``(address, User-Agent)`` of a UTC day into a signed 64-bit visitor id."""

    def __init__(self, salts: SaltRepository, *, secret: str | None = None) -> None:
        self.salts = salts
        self.secret = secret.encode() if secret else None
        self._salts: dict[date, bytes] = {}
        self._lock = threading.Lock()

    def visitor(self, address: str | None, user_agent: str, day: date) -> int:
        message = f"{address or ''}\n{user_agent}".encode("utf-8", "surrogateescape")
        digest = hmac.new(self._salt(day), message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _salt(self, day: date) -> bytes:
        salt = self._salts.get(day)
        if salt is not None:
            return salt
        if self.secret is not None:
            salt = hmac.new(self.secret, day.isoformat().encode(), hashlib.sha256).digest()
        else:
            salt = self.salts.salt_for(day)  # one read (or write) per process and day
        with self._lock:
            self._salts[day] = salt
            for old in sorted(self._salts)[:-_SALTS_KEPT]:
                del self._salts[old]
        return salt
