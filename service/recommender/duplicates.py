"""Near-duplicates: the same article filed twice, which a list shows once.

Two articles are near-duplicates when their tf-idf cosine reaches ``threshold`` (0.95: the text
all but identical, "Labour's Cunningham to stand down" filed again as "Jack Cunningham to stand
down"), or ``title_threshold`` (0.8) under the same title (reply prefixes, case and punctuation
aside): a story filed again with a few sentences changed. Templated pages under different
titles are not: ``acos()`` and ``asin()`` on a documentation site, two types of one syndrome on a
health site, each a page a reader of the other may want (and the one an editor links).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.recommender.text import title_text
from service.recommender.titles import title_key

NO_TITLE = 0  # the fingerprint of a title without words: the same as no other


def title_fingerprints(titles: Sequence[str]) -> np.ndarray:
    """A stable 63-bit fingerprint of each title's :func:`title_key` (the same in every process)."""
    fingerprints = np.zeros(len(titles), dtype=np.int64)
    for place, title in enumerate(titles):
        key = title_key(title_text(title))
        if key:
            digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
            fingerprints[place] = (int.from_bytes(digest, "little") >> 1) or 1
    return fingerprints


@dataclass(frozen=True)
class NearDuplicates:
    """Which candidates are near-duplicates of the article whose list they are in.

    ``titles`` holds the fingerprint of each indexed article, ``list_titles`` that of each list's
    own article (either None: by cosine alone); ``title_threshold`` None: by cosine alone.
    """

    threshold: float
    title_threshold: float | None = None
    titles: np.ndarray | None = None
    list_titles: np.ndarray | None = None

    def mask(self, columns: np.ndarray, cosines: np.ndarray) -> np.ndarray:
        """True where candidate ``columns[i, j]`` (cosine ``cosines[i, j]``) duplicates list ``i``'s
        article; ``-1`` pads never do."""
        valid = columns >= 0
        duplicate = valid & (cosines >= self.threshold)
        if self.title_threshold is None or self.titles is None or self.list_titles is None:
            return duplicate
        own = self.list_titles[:, None]
        same_title = (own != NO_TITLE) & (self.titles[np.where(valid, columns, 0)] == own)
        return duplicate | (valid & same_title & (cosines >= self.title_threshold))
