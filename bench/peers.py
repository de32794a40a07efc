"""The peers the service is measured against, each returning top-k neighbours for query rows.

- ``tfidf_defaults``: scikit-learn ``TfidfVectorizer()`` as it comes, exact cosine.
- ``tfidf_tuned``: sublinear tf, English stop words, ``min_df=2``, ``max_df=0.5``, exact cosine.
- ``bm25``: Okapi BM25 (k1=1.2, b=0.75, Lucene's idf, English stop words), the whole article
  (each term once) as the query.
- ``mlt``: Elasticsearch-style More Like This: the 25 terms of highest tf·idf (a term must occur
  twice in the article and in 5 documents, as MLT's defaults), scored with BM25.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from service.recommender import Document
from service.recommender.neighbours import top_k_rows
from service.recommender.text import strip_html

Peer = Callable[[Sequence[Document], Sequence[int], int], np.ndarray]


def texts_of(documents: Sequence[Document]) -> list[str]:
    return [f"{document.title}\n{strip_html(document.body)}" for document in documents]


def top_k_scores(queries: sp.csr_matrix, targets: sp.csr_matrix, rows: Sequence[int], k: int) -> np.ndarray:
    """Exact top-k columns of ``queries @ targets.T`` per query, its own row excluded."""
    transposed = targets.T.tocsr()
    result = np.full((len(rows), k), -1, np.int64)
    for start in range(0, len(rows), 256):
        block = (queries[start : start + 256] @ transposed).toarray()
        own = np.asarray(rows[start : start + 256])
        block[np.arange(len(own)), own] = 0.0
        result[start : start + len(own)] = top_k_rows(block, k)[0]
    return result


def _cosine(vectorizer: TfidfVectorizer) -> Peer:
    def peer(documents: Sequence[Document], rows: Sequence[int], k: int) -> np.ndarray:
        matrix = vectorizer.fit_transform(texts_of(documents)).astype(np.float32).tocsr()
        return top_k_scores(matrix[list(rows)], matrix, rows, k)

    return peer


def tfidf_defaults(documents: Sequence[Document], rows: Sequence[int], k: int) -> np.ndarray:
    return _cosine(TfidfVectorizer())(documents, rows, k)


def tfidf_tuned(documents: Sequence[Document], rows: Sequence[int], k: int) -> np.ndarray:
    return _cosine(TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2, max_df=0.5))(
        documents, rows, k
    )


def _bm25(counts: sp.csr_matrix, k1: float = 1.2, b: float = 0.75) -> tuple[sp.csr_matrix, np.ndarray]:
    """BM25 document weights (one row per document) and the idf of each term."""
    n_docs = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
    lengths = np.asarray(counts.sum(axis=1)).ravel()
    norms = k1 * (1 - b + b * lengths / max(lengths.mean(), 1e-9))
    weights = counts.astype(np.float64, copy=True)
    row_of = np.repeat(np.arange(n_docs), np.diff(weights.indptr))
    tf = weights.data
    weights.data = idf[weights.indices] * tf * (k1 + 1) / (tf + norms[row_of])
    return weights.astype(np.float32), idf


def bm25(documents: Sequence[Document], rows: Sequence[int], k: int) -> np.ndarray:
    counts = CountVectorizer(stop_words="english").fit_transform(texts_of(documents)).tocsr()
    weights, _ = _bm25(counts)
    queries = counts[list(rows)].copy()
    queries.data[:] = 1.0  # each query term once
    return top_k_scores(queries.astype(np.float32), weights, rows, k)


def mlt(documents: Sequence[Document], rows: Sequence[int], k: int, max_terms: int = 25) -> np.ndarray:
    counts = CountVectorizer(stop_words="english").fit_transform(texts_of(documents)).tocsr()
    weights, idf = _bm25(counts)
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    query_rows, query_cols = [], []
    for position, row in enumerate(rows):
        start, stop = counts.indptr[row], counts.indptr[row + 1]
        terms, tf = counts.indices[start:stop], counts.data[start:stop]
        keep = (tf >= 2) & (df[terms] >= 5)
        terms, tf = terms[keep], tf[keep]
        best = terms[np.argsort(-(tf * idf[terms]), kind="stable")[:max_terms]]
        query_rows.extend([position] * len(best))
        query_cols.extend(best.tolist())
    queries = sp.csr_matrix(
        (np.ones(len(query_rows), np.float32), (query_rows, query_cols)), shape=(len(rows), counts.shape[1])
    )
    return top_k_scores(queries, weights, rows, k)


PEERS: dict[str, Peer] = {
    "tfidf_defaults": tfidf_defaults,
    "tfidf_tuned": tfidf_tuned,
    "bm25": bm25,
    "mlt": mlt,
}
