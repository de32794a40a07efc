"""How much topical structure a corpus has: what its first latent components explain beyond chance.

A corpus of a few broad subjects (news sections, health pages, documentation) is summarised by a
few dozen components; one of thousands of small unrelated subjects (reviews of thousands of
films) is not. The share of the variance the first components explain says which, but it also
grows as the corpus shrinks: 64 components explain 31 % of 300 film reviews and 5 % of 10,000,
chance alone nearly all of it. So the measure here subtracts what the same components explain
of the same rows with each word's weights scattered over random rows (the same words, the same
weights, no company kept): film reviews keep 0.002 to 0.009 at any size, the topical
corpora 0.025 (20newsgroups) to 0.14.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from service.recommender.sampling import sample_rows

# Rows the measure reads at most: beyond a few thousand it no longer changes, and its cost is
# the square of the rows (a Gram matrix and its eigenvalues; about 1 s at 2,000).
_SAMPLE = 2_000


def latent_structure(matrix: sp.csr_matrix, n_components: int, *, random_state: int = 0) -> float:
    """The share of the (L2-normalised) rows' variance that their first ``n_components``
    principal components explain, less the share they explain of the rows with each column's
    entries moved to random rows; 0.0 for fewer rows than components."""
    rng = np.random.default_rng(random_state)
    matrix = sample_rows(matrix, _SAMPLE, rng)
    if matrix.shape[0] <= n_components + 1:
        return 0.0
    return _explained(matrix, n_components) - _explained(_scattered(matrix, rng), n_components)


def _scattered(matrix: sp.csr_matrix, rng: np.random.Generator) -> sp.csr_matrix:
    """``matrix`` with every entry of a column moved to a random row, rows L2-normalised again."""
    columns = sp.csc_matrix(matrix, copy=True)
    columns.indices = rng.integers(0, matrix.shape[0], size=columns.nnz).astype(columns.indices.dtype)
    scattered = columns.tocsr()
    scattered.sum_duplicates()
    return normalize(scattered)


def _explained(matrix: sp.csr_matrix, n_components: int) -> float:
    """The share of the column-centred rows' variance the first ``n_components`` components hold."""
    gram = (matrix @ matrix.T).toarray().astype(np.float64)
    gram -= gram.mean(axis=0, keepdims=True)
    gram -= gram.mean(axis=1, keepdims=True)
    eigenvalues = np.linalg.eigvalsh(gram)  # ascending
    total = float(eigenvalues.sum())
    return float(eigenvalues[-n_components:].sum()) / total if total > 0 else 0.0
