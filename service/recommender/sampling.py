"""At most so many rows of a matrix, drawn at random and kept in their order."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import scipy.sparse as sp

Rows = TypeVar("Rows", np.ndarray, sp.csr_matrix)


def sample_rows(matrix: Rows, at_most: int, rng: np.random.Generator) -> Rows:
    """``matrix`` itself when it has at most ``at_most`` rows, else that many of them drawn with
    ``rng`` (nothing drawn from it otherwise)."""
    n_rows = matrix.shape[0]
    if n_rows <= at_most:
        return matrix
    return matrix[np.sort(rng.choice(n_rows, at_most, replace=False))]
