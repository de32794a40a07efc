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
from sklearn.preprocessing import normalize

from service.recommender.duplicates import NearDuplicates

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
    query_latent: np.ndarray | None,
    latent: np.ndarray | None,
    weight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-rank candidates by ``(1 - weight) · tf-idf cosine + weight · latent cosine``.

    ``columns``/``scores`` are per-row candidates (``-1`` pads), ``query_latent`` the rows'
    latent vectors and ``latent`` every document's; all latent vectors are L2-normalised.
    Candidates whose blended score is not positive are dropped. Returns ``(columns,
    blended scores, tf-idf cosines)``, best blended first. Without latent vectors (or with
    ``weight`` 0) the candidates and their cosines are returned as they are.
    """
    if query_latent is None or latent is None or weight <= 0:
        return columns, scores, scores.copy()
    valid = columns >= 0
    candidate_latent = latent[np.where(valid, columns, 0)]
    latent_scores = np.einsum("bd,bcd->bc", query_latent, candidate_latent)
    blended = np.where(valid, (1.0 - weight) * scores + weight * latent_scores, 0.0)
    order = np.argsort(-blended, axis=1, kind="stable")
    columns = np.take_along_axis(columns, order, axis=1)
    blended = np.take_along_axis(blended, order, axis=1).astype(np.float32)
    cosines = np.take_along_axis(scores, order, axis=1).astype(np.float32)
    empty = blended <= 0
    columns[empty] = -1
    blended[empty] = 0.0
    cosines[empty] = 0.0
    return columns, blended, cosines


def top_terms(matrix: sp.csr_matrix, per_row: int) -> sp.csr_matrix:
    """Each row cut to its ``per_row`` largest entries (the terms that define it most)."""
    matrix = matrix.tocsr()
    lengths = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    order = np.lexsort((-matrix.data, rows))  # by row, then by weight descending
    rank = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], lengths)
    keep = np.zeros(matrix.nnz, dtype=bool)
    keep[order[rank < per_row]] = True
    pruned = sp.csr_matrix(
        (
            matrix.data[keep],
            matrix.indices[keep],
            np.concatenate([[0], np.cumsum(np.minimum(lengths, per_row))]),
        ),
        shape=matrix.shape,
    )
    pruned.sort_indices()
    return pruned


def exact_scores(matrix: sp.csr_matrix, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Cosines of ``rows[i]`` with each of ``columns[i]`` (``-1`` pads score 0)."""
    valid = columns >= 0
    left = matrix[np.repeat(rows, columns.shape[1])[valid.ravel()]]
    right = matrix[columns[valid]]
    scores = np.zeros(columns.shape, dtype=np.float32)
    scores[valid] = np.asarray(left.multiply(right).sum(axis=1)).ravel()
    return scores


def _pool_from_sparse(similarities: sp.csr_matrix, offset: int, pool: int) -> np.ndarray:
    """Per row of a sparse block, the columns of its ``pool`` largest values (not itself)."""
    columns = np.full((similarities.shape[0], pool), -1, np.int32)
    for row in range(similarities.shape[0]):
        start, stop = similarities.indptr[row], similarities.indptr[row + 1]
        found, values = similarities.indices[start:stop], similarities.data[start:stop]
        own = found == row + offset
        if own.any():
            found, values = found[~own], values[~own]
        if len(found) > pool:
            found = found[np.argpartition(values, len(found) - pool)[len(found) - pool :]]
        columns[row, : len(found)] = found
    return columns


def _block_pruned(
    matrix: sp.csr_matrix,
    searchable: sp.csr_matrix,
    postings: sp.csr_matrix,
    offset: int,
    k: int,
    *,
    query_terms: int,
    pool: int,
    latent: np.ndarray | None,
    latent_weight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbours of the block of rows from ``offset`` whose searchable terms are ``searchable``:
    candidates from their ``query_terms`` strongest, the best ``pool`` scored exactly."""
    queries = top_terms(searchable, query_terms)
    candidates = _pool_from_sparse((queries @ postings).tocsr(), offset, pool)
    rows = np.arange(offset, offset + queries.shape[0])
    scores = exact_scores(matrix, rows, candidates)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    columns = np.take_along_axis(candidates, order, axis=1)
    scores = np.take_along_axis(scores, order, axis=1)
    columns[scores <= 0] = -1
    scores[scores <= 0] = 0.0
    query_latent = None if latent is None else latent[rows]
    return blend_latent(columns, scores, query_latent, latent, latent_weight)


def _block_neighbours(
    rows: sp.csr_matrix,
    transposed: sp.csr_matrix,
    offset: int,
    k: int,
    *,
    latent: np.ndarray | None,
    latent_weight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    similarities = (rows @ transposed).toarray()
    block = np.arange(similarities.shape[0])
    similarities[block, block + offset] = 0.0  # an article is never its own neighbour
    columns, scores = top_k_rows(similarities, k)
    query_latent = None if latent is None else latent[offset : offset + similarities.shape[0]]
    return blend_latent(columns, scores, query_latent, latent, latent_weight)


def find_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``keys`` stands in the non-empty ``sorted_keys`` (clipped to its last place),
    and whether it is there."""
    places = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return places, sorted_keys[places] == keys


def merge_candidates(
    columns: np.ndarray,
    scores: np.ndarray,
    cosines: np.ndarray,
    rows: np.ndarray,
    extra: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row ``rows[i]``'s candidates with ``extra`` (columns, scores, cosines; row ``i``'s
    are not in its list yet, ``-1`` pads) merged in by score: every extra one kept (as many as
    the lists are wide), in place of the lowest of the others."""
    columns, scores, cosines = columns.copy(), scores.copy(), cosines.copy()
    if not len(rows):
        return columns, scores, cosines
    width = columns.shape[1]
    merged = [
        np.concatenate([own[rows], more], axis=1)
        for own, more in zip((columns, scores, cosines), extra, strict=True)
    ]
    valid = merged[0] >= 0
    is_extra = np.zeros(merged[0].shape, dtype=bool)
    is_extra[:, width:] = True
    kept = np.lexsort((-merged[1], ~(valid & is_extra), ~valid), axis=1)[:, :width]
    kept_parts = [np.take_along_axis(part, kept, axis=1) for part in merged]
    key = np.where(kept_parts[0] >= 0, kept_parts[1], -np.inf)
    order = np.argsort(-key, axis=1, kind="stable")
    columns[rows], scores[rows], cosines[rows] = (
        np.take_along_axis(part, order, axis=1) for part in kept_parts
    )
    return columns, scores, cosines


def top_neighbours(
    matrix: sp.csr_matrix,
    k: int,
    *,
    block_size: int = 512,
    n_jobs: int | None = 1,
    progress: ProgressCallback | None = None,
    latent: np.ndarray | None = None,
    latent_weight: float = 0.0,
    query_terms: int | None = None,
    candidate_max_df: float = 0.05,
    pool: int = 128,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's ``k`` most similar other rows: ``(neighbours, scores, cosines)``, each ``n × k``.

    ``scores`` rank the neighbours; ``cosines`` are their tf-idf cosines (the same values
    without ``latent``).

    With ``query_terms`` unset the search is exact: every row is multiplied with the whole
    matrix. With ``query_terms=m``, candidates come from each row's ``m`` strongest terms
    among those in at most ``candidate_max_df`` of the documents (an inverted-index search
    that skips the long posting lists of common words); the best ``pool`` candidates are
    then scored exactly. With ``latent`` (one L2-normalised row per document), the ``k``
    best are re-ranked by the blend of :func:`blend_latent`.
    """
    n_rows = matrix.shape[0]
    k = max(0, min(k, n_rows - 1))
    neighbours = np.full((n_rows, k), -1, np.int32)
    scores = np.zeros((n_rows, k), np.float32)
    cosines = np.zeros((n_rows, k), np.float32)
    if n_rows == 0 or k == 0:
        return neighbours, scores, cosines
    starts = range(0, n_rows, block_size)
    if query_terms is None:
        transposed = matrix.T.tocsr()
        tasks = (
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
    else:
        document_frequency = np.bincount(matrix.indices, minlength=matrix.shape[1])
        rare = (document_frequency <= max(candidate_max_df * n_rows, 2)).astype(np.float32)
        searchable = (matrix @ sp.diags(rare)).tocsr()
        searchable.eliminate_zeros()
        postings = searchable.T.tocsr()
        tasks = (
            delayed(_block_pruned)(
                matrix,
                searchable[start : start + block_size],
                postings,
                start,
                k,
                query_terms=query_terms,
                pool=max(pool, k),
                latent=latent,
                latent_weight=latent_weight,
            )
            for start in starts
        )
    results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    for start, (block_neighbours, block_scores, block_cosines) in zip(starts, results):
        stop = start + block_neighbours.shape[0]
        neighbours[start:stop] = block_neighbours
        scores[start:stop] = block_scores
        cosines[start:stop] = block_cosines
        if progress is not None:
            progress(stop, n_rows)
    return neighbours, scores, cosines


# More near-duplicates joined than this are not one story filed again (the development corpora's
# largest group: 7 posts, a newsgroup crosspost) but a site's template (daily notices alike but
# for a date): as one group, every list under any of them would lose all of them, `latest` too.
DUPLICATE_GROUP_MAX = 10


def duplicate_groups(neighbours: np.ndarray, duplicate: np.ndarray) -> np.ndarray:
    """Near-duplicate groups: rows joined (transitively) where ``duplicate[row, j]`` says that
    ``neighbours[row, j]`` duplicates ``row`` (see :class:`~service.recommender.duplicates.NearDuplicates`).

    Returns one group id per row: the smallest row of its group (its own row when alone, or
    when its group would hold more than ``DUPLICATE_GROUP_MAX`` rows).
    """
    parent = np.arange(neighbours.shape[0])

    def root(row: int) -> int:
        while parent[row] != row:
            parent[row] = parent[parent[row]]
            row = parent[row]
        return int(row)

    for row, column in zip(*np.nonzero(duplicate & (neighbours >= 0))):
        a, b = root(int(row)), root(int(neighbours[row, column]))
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups = np.array([root(row) for row in range(len(parent))], dtype=np.int32)
    sizes = np.bincount(groups, minlength=len(groups))
    too_large = sizes[groups] > DUPLICATE_GROUP_MAX
    groups[too_large] = np.flatnonzero(too_large)
    return groups


def neighbour_graph(
    neighbours: np.ndarray,
    scores: np.ndarray,
    k: int,
    *,
    own: np.ndarray | None = None,
    n_columns: int | None = None,
) -> sp.csr_matrix:
    """Each row's ``k`` best neighbours as a sparse row of their scores, plus itself with weight 1.

    Rows are L2-normalised, so the dot product of two rows is the cosine of their neighbour
    lists: how much two articles are near the same articles (shared nearest neighbours).
    ``neighbours`` and ``scores`` are ranked best first, ``-1`` pads; ``own`` is each row's own
    column (``-1``: a document that is not indexed), by default the row itself.
    """
    n_rows = neighbours.shape[0]
    n_columns = n_rows if n_columns is None else n_columns
    own = np.arange(n_rows) if own is None else np.asarray(own)
    k = min(k, neighbours.shape[1])
    columns, weights = neighbours[:, :k], np.maximum(scores[:, :k], 0.0)
    kept = (columns >= 0) & (weights > 0)
    indexed = own >= 0
    graph = sp.csr_matrix(
        (
            np.concatenate([weights[kept], np.ones(int(indexed.sum()))]).astype(np.float32),
            (
                np.concatenate([np.repeat(np.arange(n_rows), kept.sum(axis=1)), np.flatnonzero(indexed)]),
                np.concatenate([columns[kept], own[indexed]]),
            ),
        ),
        shape=(n_rows, n_columns),
    )
    return normalize(graph, norm="l2", copy=False) if n_rows and n_columns else graph


def pair_products(left: sp.csr_matrix, right_transposed: sp.csr_matrix, columns: np.ndarray) -> np.ndarray:
    """``left[i] · right[columns[i, j]]`` for every ``i, j`` (``-1`` pads give 0), from one product.

    ``right_transposed`` is ``right.T`` as CSR. The product of sparse neighbour rows has few
    entries (the rows sharing a neighbour); it is masked to the wanted pairs before their
    values are looked up, which is cheaper than sorting it whole.
    """
    n_rows, width = columns.shape[0], right_transposed.shape[1]
    valid = columns >= 0
    wanted = sp.csr_matrix(
        (
            np.ones(int(valid.sum()), np.float32),
            (np.repeat(np.arange(n_rows), valid.sum(axis=1)), columns[valid]),
        ),
        shape=(n_rows, width),
    )
    products = (left @ right_transposed).multiply(wanted).tocsr()
    products.sum_duplicates()  # sorted, unique columns per row (at most k a row: cheap)
    result = np.zeros(columns.shape, np.float32)
    if products.nnz == 0:
        return result
    stride = np.int64(width)
    keys = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(products.indptr)) * stride
    keys += products.indices
    targets = np.arange(n_rows, dtype=np.int64)[:, None] * stride + np.maximum(columns, 0)
    at = np.minimum(np.searchsorted(keys, targets), products.nnz - 1)
    found = valid & (keys[at] == targets)
    result[found] = products.data[at[found]]
    return result


def candidate_products(queries: sp.csr_matrix, rows: sp.csr_matrix, columns: np.ndarray) -> np.ndarray:
    """``queries[i] · rows[columns[i, j]]`` (``-1`` pads give 0), one query at a time.

    For a few queries against a large ``rows``: only the candidates' rows are read, where
    :func:`pair_products` would multiply the whole matrix.
    """
    result = np.zeros(columns.shape, np.float32)
    for position in range(columns.shape[0]):
        valid = np.flatnonzero(columns[position] >= 0)
        if len(valid):
            products = rows[columns[position, valid]] @ queries[position].T
            result[position, valid] = products.toarray().ravel()
    return result


def blend_similarity(
    columns: np.ndarray,
    scores: np.ndarray,
    cosines: np.ndarray,
    shared: np.ndarray,
    weight: float,
    *,
    multiply: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-rank by ``(1 - weight) · score + weight · shared``, best first (``shared``: a
    similarity per candidate, such as the shared-neighbour or the embedding cosine).

    With ``multiply``, by ``score · (1 - weight + weight · shared)`` instead: a candidate keeps
    its score where ``shared`` is 1 and loses up to ``weight`` of it where ``shared`` is 0,
    whatever the scale of the scores (on a site where every cosine is small, an added term
    would outweigh them all)."""
    valid = columns >= 0
    if multiply:
        blended = scores * (1.0 - weight + weight * shared)
    else:
        blended = (1.0 - weight) * scores + weight * shared
    blended = np.where(valid, blended, 0.0).astype(np.float32)
    order = np.argsort(-blended, axis=1, kind="stable")
    columns = np.take_along_axis(columns, order, axis=1)
    blended = np.take_along_axis(blended, order, axis=1)
    cosines = np.take_along_axis(cosines, order, axis=1)
    empty = (columns < 0) | (blended <= 0)
    columns[empty] = -1
    blended[empty] = 0.0
    cosines[empty] = 0.0
    return columns, blended, cosines


# The similarity of rows ``start:stop`` to each of their candidate ``columns``.
CandidateSimilarity = Callable[[int, int, np.ndarray], np.ndarray]


def rerank_in_blocks(
    neighbours: np.ndarray,
    scores: np.ndarray,
    cosines: np.ndarray,
    similarity: CandidateSimilarity,
    weight: float,
    *,
    multiply: bool = False,
    block_size: int = 4096,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row's candidates re-ranked by :func:`blend_similarity` with ``similarity``, a block of
    rows at a time (the inputs are not changed), on ``n_jobs`` threads of this process whatever
    joblib's backend (the similarities read large arrays; they are sparse products and array
    work, which run outside the GIL)."""

    def rerank(start: int) -> tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        stop = min(start + block_size, neighbours.shape[0])
        other = similarity(start, stop, neighbours[start:stop])
        return start, blend_similarity(
            neighbours[start:stop], scores[start:stop], cosines[start:stop], other, weight, multiply=multiply
        )

    reranked = (neighbours.copy(), scores.copy(), cosines.copy())
    blocks = Parallel(n_jobs=n_jobs, backend="threading", return_as="generator")(
        delayed(rerank)(start) for start in range(0, neighbours.shape[0], block_size)
    )
    for start, parts in blocks:
        for whole, part in zip(reranked, parts, strict=True):
            whole[start : start + len(part)] = part
    return reranked


def rerank_by_vectors(
    neighbours: np.ndarray,
    scores: np.ndarray,
    cosines: np.ndarray,
    vectors: np.ndarray,
    weight: float,
    *,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates re-ranked with the cosine of their L2-normalised ``vectors`` (one per row,
    such as sentence embeddings)."""

    def cosine(start: int, stop: int, columns: np.ndarray) -> np.ndarray:
        candidates = vectors[np.where(columns >= 0, columns, 0)]
        return np.einsum("bd,bcd->bc", vectors[start:stop], candidates)

    return rerank_in_blocks(neighbours, scores, cosines, cosine, weight, n_jobs=n_jobs)


def rerank_shared(
    neighbours: np.ndarray,
    scores: np.ndarray,
    cosines: np.ndarray,
    graph: sp.csr_matrix,
    weight: float,
    *,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates re-ranked with their shared neighbours (rows of ``graph``)."""
    transposed = graph.T.tocsr()

    def shared(start: int, stop: int, columns: np.ndarray) -> np.ndarray:
        return pair_products(graph[start:stop], transposed, columns)

    return rerank_in_blocks(neighbours, scores, cosines, shared, weight, n_jobs=n_jobs)


def blend_closest(
    columns: np.ndarray, scores: np.ndarray, cosines: np.ndarray, duplicates: NearDuplicates, weight: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-rank by :func:`blend_similarity` with each candidate's closeness by words: its tf-idf
    cosine over the row's highest one that is not a near-duplicate (at most 1), times the row's
    best score, so that the blend keeps the scale of the scores.

    Relative to the row's closest match, it weighs the same on a site whose cosines are all small;
    where "related" is narrow it keeps the specific matches near the top of a list that the
    re-rankings ordered by subject. Near-duplicates count as close as the closest match.
    """
    if columns.size == 0 or weight <= 0:
        return columns, scores, cosines
    valid = columns >= 0
    served = valid & ~duplicates.mask(columns, cosines)
    closest = np.where(served, cosines, 0.0).max(axis=1, keepdims=True)
    best = np.where(valid, scores, 0.0).max(axis=1, keepdims=True)
    closeness = np.minimum(cosines / np.where(closest > 0, closest, 1.0), 1.0)
    return blend_similarity(columns, scores, cosines, np.where(valid, best * closeness, 0.0), weight)


def favour_closest(
    columns: np.ndarray,
    scores: np.ndarray,
    cosines: np.ndarray,
    duplicates: NearDuplicates,
    *,
    weight: float,
    lead: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The last steps of every list: :func:`blend_closest` at ``weight``, then
    :func:`lead_with_closest` at the share ``lead`` (None: no lead)."""
    columns, scores, cosines = blend_closest(columns, scores, cosines, duplicates, weight)
    if lead is None:
        return columns, scores, cosines
    return lead_with_closest(columns, scores, cosines, duplicates, lead)


def lead_with_closest(
    columns: np.ndarray, scores: np.ndarray, cosines: np.ndarray, duplicates: NearDuplicates, min_share: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's closest match by words first, scored as the row's best score among the
    candidates that can be served: the candidate of highest tf-idf cosine that is not one of
    ``duplicates`` (a near-duplicate is never served), when its own score is at least
    ``min_share`` of the row's best.

    The re-rankings move candidates by subject; where "related" is narrow (an editor's link, the
    same condition described on another page) the one specific match can fall out of the first
    five. Kept first, it is in every list whatever its length; unless the re-rankings scored it
    far below the best (``min_share``), a match of words on another subject. ``-1`` pads stay last.
    """
    if columns.size == 0:
        return columns, scores, cosines
    served = (columns >= 0) & ~duplicates.mask(columns, cosines)
    usable = np.where(served, cosines, 0.0)
    everyone = np.arange(len(columns))
    closest = np.argmax(usable, axis=1)
    best = scores.max(axis=1, initial=0.0)
    leads = (usable[everyone, closest] > 0) & (scores[everyone, closest] >= min_share * best)
    rows = np.flatnonzero(leads)
    # Tied with the best that can be served: a near-duplicate's score (never served) would
    # put the lead above every other item of the list, and above the cosine scale.
    best_served = np.where(served, scores, 0.0).max(axis=1, initial=0.0)
    columns, scores, cosines = move_to(columns, scores, cosines, rows=rows, places=closest[rows], position=0)
    scores[rows, 0] = best_served[rows]
    return columns, scores, cosines


def move_to(
    columns: np.ndarray,
    scores: np.ndarray,
    cosines: np.ndarray,
    *,
    rows: np.ndarray,
    places: np.ndarray,
    position: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate at ``places[i]`` (at or behind ``position``) of each row ``rows[i]`` moved
    forward to ``position``, the others kept in their order around it; ``-1`` pads stay last."""
    key = np.where(columns >= 0, -np.arange(columns.shape[1], dtype=np.float64), -np.inf)
    key[rows, places] = 0.5 - position  # between the items now at position - 1 and position
    order = np.argsort(-key, axis=1, kind="stable")
    return (
        np.take_along_axis(columns, order, axis=1),
        np.take_along_axis(scores, order, axis=1),
        np.take_along_axis(cosines, order, axis=1),
    )
