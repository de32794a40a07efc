"""Topic clusters: how often two articles fall in the same k-means cluster over several runs.

K-means runs at a few coarse sizes (5 to 40 clusters, several seeds each) over the articles'
latent (LSA) vectors label every article once per run. The share of runs in which two articles
share a label is their *agreement*: 1 for articles always clustered together, 0 for articles
never together. Many runs at several sizes make it a graded, stable measure of being on the
same broad subject, which single words and even the latent cosine blur (an article on a
company's phone shares words with both business and technology news).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans

from service.recommender.sampling import sample_rows


@dataclass
class TopicClusters:
    """Each run's cluster centres and the indexed articles' labels (``n × runs``)."""

    centres: list[np.ndarray]
    labels: np.ndarray

    @classmethod
    def fit(
        cls,
        latent: np.ndarray,
        sizes: Sequence[int],
        runs_per_size: int,
        *,
        sample: int,
        random_state: int,
    ) -> TopicClusters | None:
        """Cluster ``latent`` (one L2-normalised row per article) ``runs_per_size`` times at
        each of ``sizes`` smaller than the corpus, on at most ``sample`` rows; ``None`` when no
        size fits."""
        rows = sample_rows(latent, sample, np.random.default_rng(random_state))
        centres: list[np.ndarray] = []
        for size_number, size in enumerate(size for size in sizes if 1 < size < rows.shape[0]):
            for run in range(runs_per_size):
                seed = random_state + 1000 * size_number + run
                model = KMeans(size, n_init=1, random_state=seed).fit(rows)
                centres.append(model.cluster_centers_.astype(np.float32))
        return cls(centres, _nearest(centres, latent)) if centres else None

    def assign(self, latent: np.ndarray) -> np.ndarray:
        """Each row's nearest centre in every run (``rows × runs``), as k-means would predict."""
        return _nearest(self.centres, latent)

    def indexed_agreement(self, start: int, stop: int, columns: np.ndarray) -> np.ndarray:
        """:meth:`agreement` of indexed articles ``start:stop`` with their candidates ``columns``."""
        return self.agreement(self.labels[start:stop], columns)

    def agreement(self, query_labels: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Share of runs in which ``query_labels[i]`` and indexed article ``columns[i, j]``
        share a cluster (``-1`` pads give 0)."""
        valid = columns >= 0
        candidate_labels = self.labels[np.where(valid, columns, 0)]  # rows × candidates × runs
        shared = (candidate_labels == query_labels[:, None, :]).mean(axis=2, dtype=np.float32)
        return np.where(valid, shared, 0.0).astype(np.float32)


def _nearest(runs: list[np.ndarray], latent: np.ndarray) -> np.ndarray:
    """Per row of ``latent``, the nearest of each run's centres (``rows × runs``)."""
    labels = np.empty((latent.shape[0], len(runs)), np.int16)
    for run, centres in enumerate(runs):
        # argmin |x - c|² = argmax (x·c - |c|²/2)
        closeness = latent @ centres.T - 0.5 * np.einsum("kd,kd->k", centres, centres)
        labels[:, run] = np.argmax(closeness, axis=1)
    return labels
