"""Shared titles: articles whose whole titles are the same, reply prefixes and punctuation aside.

A forum thread's posts ("Re: …"), a story filed again as it develops, one condition written up
on two pages of a health site: where titles repeat, the articles behind one title are nearly
always related, more often than any list of similar words can tell. Titles that no other
article has (most of them, on most sites) are not kept, nor titles of fewer than two words
that are not stop words ("Wow" heads reviews of many films, "Overview" pages of many products)
unless a reply ("Re: Clipper") says that the title is a thread's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_WORD = re.compile(r"\w+")
# "Re:", "Fwd:", "AW:" (German), "SV:" (Scandinavian), repeated: the title a reply quotes.
_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|fwd?|aw|sv)\s*:\s*)+", re.IGNORECASE)


# Titles with fewer words than this that are not stop words are too generic to join articles.
MIN_TITLE_WORDS = 2


def title_key(title: str) -> str:
    """The title's words, lower-cased, without reply prefixes ("" for a title without words)."""
    return " ".join(_WORD.findall(_REPLY_PREFIX.sub("", title).lower()))


def _specific(key: str) -> bool:
    """Whether a title key has at least ``MIN_TITLE_WORDS`` words that are not stop words."""
    return sum(word not in ENGLISH_STOP_WORDS for word in key.split()) >= MIN_TITLE_WORDS


@dataclass
class SharedTitles:
    """The titles at least two indexed articles share, and each article's (``-1``: none)."""

    keys: dict[str, int]
    groups: np.ndarray

    @classmethod
    def fit(cls, titles: Sequence[str]) -> SharedTitles | None:
        """From the indexed articles' titles; ``None`` when no two share one."""
        article_keys = [title_key(title) for title in titles]
        counts = Counter(article_keys)
        # A reply ("Re: Clipper") says the title is a thread's, however short.
        replied = {key for key, title in zip(article_keys, titles) if _REPLY_PREFIX.match(title)}
        shared = sorted(
            key for key, count in counts.items() if key and count > 1 and (_specific(key) or key in replied)
        )
        if not shared:
            return None
        keys = {key: group for group, key in enumerate(shared)}
        return cls(keys, np.array([keys.get(key, -1) for key in article_keys], dtype=np.int32))

    def groups_of(self, titles: Sequence[str]) -> np.ndarray:
        """The shared title of each of ``titles`` (articles not indexed, or indexed again)."""
        return np.array([self.keys.get(title_key(title), -1) for title in titles], dtype=np.int32)

    def indexed_same(self, start: int, stop: int, columns: np.ndarray) -> np.ndarray:
        """:meth:`same` for indexed articles ``start:stop`` and their candidates ``columns``."""
        return self.same(self.groups[start:stop], columns)

    def same(self, query_groups: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """1 where ``columns[i, j]`` (an indexed article) shares a title with query ``i``, else 0."""
        valid = columns >= 0
        candidate_groups = self.groups[np.where(valid, columns, 0)]
        same = valid & (query_groups[:, None] >= 0) & (candidate_groups == query_groups[:, None])
        return same.astype(np.float32)
