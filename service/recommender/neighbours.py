"""Exact top-k cosine neighbours from sparse products in row blocks.

The rows of the matrix are L2-normalised, so a sparse dot product is the cosine. Each block
of rows is multiplied with the whole (transposed) matrix, and the k best columns are picked
with ``np.argpartition``: memory stays at one dense ``block_size × n`` block per worker,
never a dense n × n matrix. Blocks run through ``joblib.Parallel``, so the same code runs on
loky processes, threads, or a Dask cluster (``joblib.parallel_config(backend="dask")``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed

ProgressCallback = Callable[[int, int], None]


def top_k_rows(similarities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a dense similarity block, the columns of the ``k`` largest positive values.

    Returns ``(columns, scores)``, each ``rows × k``, best first; a row with fewer than ``k``
    positive similarities is padded with column ``-1`` and score ``0``.
    """
    n_rows, n_cols = similarities.shape
    k = min(k, n_cols)
    if k == 0:
        return np.full((n_rows, 0), -1, np.int32), np.zeros((n_rows, 0), np.float32)
    if k < n_cols:
        columns = np.argpartition(similarities, n_cols - k, axis=1)[:, n_cols - k :]
    else:
        columns = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    scores = np.take_along_axis(similarities, columns, axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")
    columns = np.take_along_axis(columns, order, axis=1).astype(np.int32)
    scores = np.take_along_axis(scores, order, axis=1).astype(np.float32)
    empty = scores <= 0
    columns[empty] = -1
    scores[empty] = 0.0
    return columns, scores


def blend_latent(
    columns: np.ndarray,
    scores: np.ndarray,
    query_latent: np.ndarray,
    latent: np.ndarray,
    weight: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank candidates by ``(1 - weight) · tf-idf cosine + weight · latent cosine``.

    ``columns``/``scores`` are per-row candidates (``-1`` pads), ``query_latent`` the rows'
    latent vectors and ``latent`` every document's; all latent vectors are L2-normalised.
    Candidates whose blended score is not positive are dropped.
    """
    valid = columns >= 0
    candidate_latent = latent[np.where(valid, columns, 0)]
    latent_scores = np.einsum("bd,bcd->bc", query_latent, candidate_latent)
    blended = np.where(valid, (1.0 - weight) * scores + weight * latent_scores, 0.0)
    order = np.argsort(-blended, axis=1, kind="stable")
    columns = np.take_along_axis(columns, order, axis=1)
    blended = np.take_along_axis(blended, order, axis=1).astype(np.float32)
    empty = blended <= 0
    columns[empty] = -1
    blended[empty] = 0.0
    return columns, blended


def _block_neighbours(
    rows: sp.csr_matrix,
    transposed: sp.csr_matrix,
    offset: int,
    k: int,
    *,
    latent: np.ndarray | None,
    latent_weight: float,
) -> tuple[np.ndarray, np.ndarray]:
    similarities = (rows @ transposed).toarray()
    block = np.arange(similarities.shape[0])
    similarities[block, block + offset] = 0.0  # an article is never its own neighbour
    columns, scores = top_k_rows(similarities, k)
    if latent is not None and latent_weight > 0:
        query_latent = latent[offset : offset + similarities.shape[0]]
        columns, scores = blend_latent(columns, scores, query_latent, latent, latent_weight)
    return columns, scores


def top_neighbours(
    matrix: sp.csr_matrix,
    k: int,
    *,
    block_size: int = 512,
    n_jobs: int | None = 1,
    progress: ProgressCallback | None = None,
    latent: np.ndarray | None = None,
    latent_weight: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` most similar other rows: ``(neighbours, scores)``, both ``n × k``.

    With ``latent`` (one L2-normalised row per document), the ``k`` tf-idf candidates of a row
    are re-ranked by the blend of :func:`blend_latent`.
    """
    n_rows = matrix.shape[0]
    k = max(0, min(k, n_rows - 1))
    neighbours = np.full((n_rows, k), -1, np.int32)
    scores = np.zeros((n_rows, k), np.float32)
    if n_rows == 0 or k == 0:
        return neighbours, scores
    transposed = matrix.T.tocsr()
    starts = range(0, n_rows, block_size)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_block_neighbours)(
            matrix[start : start + block_size],
            transposed,
            start,
            k,
            latent=latent,
            latent_weight=latent_weight,
        )
        for start in starts
    )
    for start, (block_neighbours, block_scores) in zip(starts, results):
        stop = start + block_neighbours.shape[0]
        neighbours[start:stop] = block_neighbours
        scores[start:stop] = block_scores
        if progress is not None:
            progress(stop, n_rows)
    return neighbours, scores
