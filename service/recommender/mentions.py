"""Title mentions: an article that names another article's title is related to it.

A help page that says "see Reset your password", a documentation page that mentions
"Web Audio API", a blog post that refers to an earlier post by its title: the text names the
other page, as an editor's "related" link would. So two articles are joined when one's text
holds the other's whole title as a run of words (analysed as the index analyses text: case,
stop words and CJK bigrams alike), either way round. A title many articles mention (a site's
"JavaScript" or "Overview") joins nothing: a mention counts only while the title is named by
at most ``max_share`` of the articles (at least one), and weighs ``log(n / mentioned) /
log(n)``: 1 for a title one article names, less the more do.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from service.recommender.duplicates import NearDuplicates
from service.recommender.neighbours import find_sorted, move_to

Analyser = Callable[[str], list[str]]
# The strength of a mention of a title only one article names (log(n / 1) / log(n)).
_NAMED_ONCE = 1.0 - 1e-6
# Titles of more words are not looked for: texts seldom name them whole, and each length a
# title's first word begins costs a look at every place that word stands in a text.
MAX_TITLE_WORDS = 12


@dataclass
class TitleFinder:
    """Finds the titles a text names: each title (as analysed words) with its articles and
    their weights, and per first word the lengths of the titles it begins."""

    rows_of: dict[tuple[str, ...], list[tuple[int, float]]]
    lengths: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, titles: Iterable[tuple[tuple[str, ...], int, float]]) -> TitleFinder:
        """From (analysed title, row, weight) triples; a title of stop words only names nothing,
        nor one of more than ``MAX_TITLE_WORDS`` words."""
        rows_of: dict[tuple[str, ...], list[tuple[int, float]]] = defaultdict(list)
        lengths: dict[str, set[int]] = defaultdict(set)
        for title, row, weight in titles:
            if 0 < len(title) <= MAX_TITLE_WORDS:
                rows_of[title].append((row, weight))
                lengths[title[0]].add(len(title))
        return cls(dict(rows_of), {first: tuple(sorted(found)) for first, found in lengths.items()})

    def named(self, words: list[str]) -> Iterator[tuple[int, float]]:
        """Each (row, weight) whose title runs somewhere in ``words``."""
        for place, word in enumerate(words):
            for length in self.lengths.get(word, ()):
                yield from self.rows_of.get(tuple(words[place : place + length]), ())


@dataclass
class TitleMentions:
    """The indexed articles' mentions of each other's titles, and their titles to find in new text."""

    size: int  # indexed articles
    finder: TitleFinder  # the titles that count, with their weights
    pairs: np.ndarray  # sorted keys ``row * size + column``, both ways round
    weights: np.ndarray  # the weight of each pair (float32)

    @classmethod
    def fit(
        cls, titles: Sequence[str], texts: Sequence[str], analyse: Analyser, max_share: float
    ) -> TitleMentions | None:
        """From the indexed articles' titles and texts; ``None`` when no title is mentioned rarely
        enough to count."""
        size = len(titles)
        analysed = [tuple(analyse(title)) for title in titles]
        every = TitleFinder.of((title, row, 1.0) for row, title in enumerate(analysed))
        mentioning: list[set[int]] = [set() for _ in range(size)]  # per title's row, who names it
        for row, text in enumerate(texts):
            for named, _ in every.named(analyse(text)):
                if named != row:
                    mentioning[named].add(row)
        limit = max(1, int(max_share * size))
        weight = [
            math.log(size / len(found)) / math.log(size) if 0 < len(found) <= limit and size > 1 else 0.0
            for found in mentioning
        ]
        pairs: dict[int, float] = {}
        for named, found in enumerate(mentioning):
            if weight[named] > 0:
                for row in found:
                    for key in (row * size + named, named * size + row):
                        pairs[key] = max(pairs.get(key, 0.0), weight[named])
        if not pairs:
            return None
        keys = np.fromiter(pairs, np.int64, len(pairs))
        order = np.argsort(keys)
        values = np.fromiter(pairs.values(), np.float32, len(pairs))
        # For new text: a title no indexed article names would be named once (weight 1).
        unnamed = 1.0 if size > 1 else 0.0
        new_weight = [weight[row] if mentioning[row] else unnamed for row in range(size)]
        counted = TitleFinder.of(
            (title, row, new_weight[row]) for row, title in enumerate(analysed) if new_weight[row] > 0
        )
        return cls(size, counted, keys[order], values[order])

    def indexed_strength(self, start: int, stop: int, columns: np.ndarray) -> np.ndarray:
        """The weight of the mention between indexed article ``start + i`` and each candidate
        ``columns[i, j]`` (0 for none and for ``-1`` pads)."""
        rows = np.arange(start, stop, dtype=np.int64)[:, None]
        return self._lookup(rows * self.size + columns, columns >= 0)

    def named_in(self, texts: Sequence[str], analyse: Analyser) -> list[dict[int, float]]:
        """Per text (of an article scored on the fly): the indexed articles whose titles it
        names, with their weights (a title no indexed article names weighs as named once; one
        named too often, nothing)."""
        return [dict(self.finder.named(analyse(text))) for text in texts]

    def strength(
        self, named: Sequence[dict[int, float]], columns: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """For articles scored on the fly: the weight of each candidate ``columns[i, j]`` whose
        title article ``i``'s text names (``named``, from :meth:`named_in`), or, for an indexed
        article (``rows[i]`` ≥ 0, else -1), that the build joined to it either way. A new
        article's title named by indexed articles is only found by the next build."""
        found = np.zeros(columns.shape, np.float32)
        for position, titles in enumerate(named):
            if titles:
                found[position] = [titles.get(column, 0.0) for column in columns[position].tolist()]
        indexed = rows >= 0
        keys = np.where(indexed, rows, 0)[:, None].astype(np.int64) * self.size + columns
        known = self._lookup(keys, indexed[:, None] & (columns >= 0))
        return np.where(columns >= 0, np.maximum(found, known), 0.0).astype(np.float32)

    def _lookup(self, keys: np.ndarray, valid: np.ndarray) -> np.ndarray:
        places, found = find_sorted(self.pairs, keys)
        return np.where(valid & found, self.weights[places], 0.0).astype(np.float32)


def second_with_mention(
    columns: np.ndarray,
    scores: np.ndarray,
    cosines: np.ndarray,
    strength: np.ndarray,
    *,
    duplicates: NearDuplicates,
    min_share: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's first candidate joined by a mention of strength 1 (a title only the other
    article names) second, unless it is first or second already, a near-duplicate, or scored
    below ``min_share`` of the row's best; it takes the score of the one it passes, if higher,
    so that scores still fall along the list. ``strength``: per candidate, as
    :meth:`TitleMentions.indexed_strength` gives it. ``-1`` pads stay last.
    """
    if columns.size == 0:
        return columns, scores, cosines
    valid = columns >= 0
    best = scores.max(axis=1, initial=0.0, keepdims=True)
    eligible = (
        valid & ~duplicates.mask(columns, cosines) & (strength >= _NAMED_ONCE) & (scores >= min_share * best)
    )
    place = np.argmax(eligible, axis=1)
    rows = np.flatnonzero(eligible.any(axis=1) & (place >= 2))
    if not len(rows):
        return columns, scores, cosines
    columns, scores, cosines = move_to(columns, scores, cosines, rows=rows, places=place[rows], position=1)
    scores[rows, 1] = np.maximum(scores[rows, 1], scores[rows, 2])
    return columns, scores, cosines
