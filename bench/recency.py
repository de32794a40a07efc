"""The effect of ``max_age_days`` and of the recency decay on related posts, on a dated corpus.

As the service applies them: candidates older than ``max_age_days`` before *now* are left out
(a list may then need fallbacks, counted here as misses), and the decay multiplies a score by
``(1 - w) + w · 0.5^(age_days / half_life)``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from bench.corpora import Corpus
from bench.metrics import precision_at_k
from service.recommender import RelatedIndex


def recency_effects(corpus: Corpus, index: RelatedIndex, *, now: datetime | None = None) -> dict[str, float]:
    """precision@5 of the similar list with each recency setting (same index, same queries)."""
    now = now or datetime.now(UTC)
    ages = np.array(
        [(now - date).total_seconds() / 86400 if date else 0.0 for date in corpus.dates], dtype=np.float64
    )
    rows = [row for row in range(index.size) if corpus.labels[row]]

    def ranked(max_age: float | None = None, weight: float = 0.0, half_life: float = 365.0) -> np.ndarray:
        result = np.full((len(rows), 5), -1)
        for position, row in enumerate(rows):
            chosen = index.distinct_neighbours(row, index.n_neighbors, min_score=0.05)
            if max_age is not None:
                chosen = [column for column in chosen if ages[column] <= max_age]
            if weight > 0:
                factor = (1 - weight) + weight * 0.5 ** (ages[chosen] / half_life)
                scores = index.scores_[row][[list(index.neighbours_[row]).index(c) for c in chosen]] * factor
                chosen = [chosen[i] for i in np.argsort(-scores, kind="stable")]
            result[position, : min(5, len(chosen))] = chosen[:5]
        return result

    return {
        "plain": precision_at_k(corpus, rows, ranked()),
        "max_age_730d": precision_at_k(corpus, rows, ranked(max_age=730)),
        "max_age_1825d": precision_at_k(corpus, rows, ranked(max_age=1825)),
        "decay_w0.3_h365": precision_at_k(corpus, rows, ranked(weight=0.3)),
        "decay_w0.7_h365": precision_at_k(corpus, rows, ranked(weight=0.7)),
    }
