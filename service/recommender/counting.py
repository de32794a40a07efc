"""Counting the terms of many texts on several cores, with the result of one CountVectorizer.

Tokenizing is the longest single step of a large build and runs in Python, one core at a
time. :func:`count_terms` splits the texts into chunks, counts each chunk with its own
vocabulary in a ``joblib.Parallel`` worker, merges the vocabularies (sorted, as
``CountVectorizer`` sorts them), and only then applies ``min_df``, ``max_df`` and
``max_features``, which depend on the whole corpus: the matrix and the fitted vectorizer are
the ones ``fit_transform`` would give.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from numbers import Integral
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer

# Fewer texts than this per worker are counted in this process: starting and feeding the
# workers would cost more than the counting they share.
MIN_CHUNK = 10_000


class TermCounts(NamedTuple):
    """Counts of the texts, and of the titles in the same vocabulary (``None`` without titles)."""

    texts: sp.csr_matrix
    titles: sp.csr_matrix | None


class _ChunkCounts(NamedTuple):
    terms: list[str]  # the chunk's vocabulary, sorted; column j of the matrices is terms[j]
    texts: sp.csr_matrix
    titles: sp.csr_matrix | None


def count_terms(
    counter: CountVectorizer,
    texts: Sequence[str],
    titles: Sequence[str] | None = None,
    *,
    n_jobs: int | None = None,
    min_chunk: int | None = None,
) -> TermCounts:
    """``counter.fit_transform(texts)`` and ``counter.transform(titles)``, counted in chunks
    of at least ``min_chunk`` (default :data:`MIN_CHUNK`) texts on ``n_jobs`` workers (joblib's
    meaning).

    ``counter`` is left fitted as ``fit_transform`` leaves it; ``ValueError`` when no term is
    kept, as from ``fit_transform``.
    """
    min_chunk = MIN_CHUNK if min_chunk is None else min_chunk
    workers = min(effective_n_jobs(n_jobs), len(texts) // max(min_chunk, 1))
    if workers < 2:
        counts = counter.fit_transform(texts)
        return TermCounts(counts, None if titles is None else counter.transform(titles))
    bounds = np.linspace(0, len(texts), workers + 1).astype(int)
    chunks = [slice(start, stop) for start, stop in pairwise(bounds.tolist())]
    counted = Parallel(n_jobs=workers)(
        delayed(_count_chunk)(counter, texts[chunk], None if titles is None else titles[chunk])
        for chunk in chunks
    )
    return _merge(counter, counted, len(texts))


def _count_chunk(
    counter: CountVectorizer, texts: Sequence[str], titles: Sequence[str] | None
) -> _ChunkCounts:
    """One chunk's counts in its own vocabulary of every term (no document-frequency limits)."""
    chunk_counter = clone(counter).set_params(min_df=1, max_df=1.0, max_features=None)
    try:
        counts = chunk_counter.fit_transform(texts)
    except ValueError:  # no term at all in this chunk (stop words only); others may have some
        empty = sp.csr_matrix((len(texts), 0), dtype=counter.dtype)
        return _ChunkCounts([], empty, None if titles is None else empty.copy())
    terms = chunk_counter.get_feature_names_out().tolist()
    return _ChunkCounts(terms, counts, None if titles is None else chunk_counter.transform(titles))


def _merge(counter: CountVectorizer, counted: Sequence[_ChunkCounts], n_texts: int) -> TermCounts:
    """The chunks' counts in one sorted vocabulary, cut by the counter's limits; fits ``counter``."""
    vocabulary = sorted(set().union(*(chunk.terms for chunk in counted)))
    if not vocabulary:
        raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
    column_of = {term: column for column, term in enumerate(vocabulary)}
    columns = [np.array([column_of[term] for term in chunk.terms], dtype=np.int64) for chunk in counted]
    texts = _stack([chunk.texts for chunk in counted], columns, len(vocabulary))
    kept = _kept_columns(counter, texts, n_texts)
    counter.vocabulary_ = {vocabulary[column]: place for place, column in enumerate(kept.tolist())}
    counter.fixed_vocabulary_ = False
    titles = None
    if counted[0].titles is not None:
        titles = _stack([chunk.titles for chunk in counted], columns, len(vocabulary))[:, kept]
        titles.sort_indices()
    texts = texts[:, kept]
    texts.sort_indices()
    return TermCounts(texts, titles)


def _stack(matrices: Sequence[sp.csr_matrix], columns: Sequence[np.ndarray], n_columns: int) -> sp.csr_matrix:
    """The chunks' rows one after another, each chunk's column j moved to ``columns[j]``."""
    moved = [
        sp.csr_matrix(
            (matrix.data, chunk_columns[matrix.indices], matrix.indptr), shape=(matrix.shape[0], n_columns)
        )
        for matrix, chunk_columns in zip(matrices, columns)
    ]
    return sp.vstack(moved, format="csr")


def _kept_columns(counter: CountVectorizer, counts: sp.csr_matrix, n_texts: int) -> np.ndarray:
    """The columns ``fit_transform`` keeps: within ``min_df`` and ``max_df``, then the
    ``max_features`` most frequent, chosen as scikit-learn chooses them."""
    max_df, min_df = counter.max_df, counter.min_df
    max_count = float(max_df if isinstance(max_df, Integral) else max_df * n_texts)
    min_count = float(min_df if isinstance(min_df, Integral) else min_df * n_texts)
    if max_count < min_count:
        raise ValueError("max_df corresponds to < documents than min_df")
    document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
    mask = (document_frequency <= max_count) & (document_frequency >= min_count)
    if counter.max_features is not None and mask.sum() > counter.max_features:
        totals = np.asarray(counts.sum(axis=0)).ravel()
        best = (-totals[mask]).argsort()[: counter.max_features]
        limited = np.zeros_like(mask)
        limited[np.flatnonzero(mask)[best]] = True
        mask = limited
    kept = np.flatnonzero(mask)
    if not len(kept):
        raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
    return kept
