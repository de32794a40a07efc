"""Term weights of the text block: term frequency × inverse document frequency, L2-normalised."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

TERM_FREQUENCIES = ("log", "bm25")


class TermWeights:
    """Weights term counts as ``tf(count, length) · idf(term)``; each row is then L2-normalised.

    ``term_frequency="log"`` is scikit-learn's sublinear tf, ``1 + ln(count)``.
    ``term_frequency="bm25"`` is the saturating tf of Okapi BM25,
    ``count · (k1 + 1) / (count + k1 · (1 - b + b · length / mean length))``, ``length`` being a
    document's number of counted words: each repetition of a word adds less than the one
    before, and sooner so in a short article than in a long one, where repetitions are
    expected (``b`` sets how much length matters). The idf is scikit-learn's smoothed idf,
    ``ln((1 + n) / (1 + df)) + 1``, in both cases.
    """

    def __init__(self, *, term_frequency: str = "log", k1: float = 1.2, b: float = 0.75) -> None:
        if term_frequency not in TERM_FREQUENCIES:
            raise ValueError(f"term_frequency must be one of {TERM_FREQUENCIES}, not {term_frequency!r}")
        self.term_frequency = term_frequency
        self.k1 = k1
        self.b = b

    def fit(self, counts: sp.csr_matrix) -> TermWeights:
        """Learn the idf of every column and the mean document length."""
        n_documents = counts.shape[0]
        document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf_ = (np.log((1 + n_documents) / (1 + document_frequency)) + 1).astype(np.float32)
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        self.mean_length_ = float(lengths.mean()) if n_documents else 1.0
        return self

    def transform(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """The weighted, L2-normalised rows of ``counts`` (float32 CSR)."""
        weights = sp.csr_matrix(counts, dtype=np.float32, copy=True)
        counted = weights.data
        if self.term_frequency == "log":
            np.log(counted, out=counted)
            counted += 1.0
        else:
            lengths = np.asarray(weights.sum(axis=1)).ravel()
            saturation = self.k1 * (1.0 - self.b + self.b * lengths / max(self.mean_length_, 1e-9))
            per_entry = np.repeat(saturation, np.diff(weights.indptr)).astype(np.float32)
            counted *= (self.k1 + 1.0) / (counted + per_entry)
        counted *= self.idf_[weights.indices]
        return normalize(weights, norm="l2", copy=False)
