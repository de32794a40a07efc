"""The unit of text the index works on."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One article as the index sees it: text fields, editorial labels and its address."""

    id: str
    title: str
    body: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    category: str | None = None
    url: str | None = None  # where the site shows it: resolves other articles' links to it

    def content_hash(self) -> str:
        """A stable digest of everything the index reads, to tell when a row is stale."""
        payload = json.dumps([self.title, self.body, list(self.tags), self.category], ensure_ascii=False)
        return hashlib.blake2b(payload.encode("utf-8"), digest_size=12).hexdigest()
