"""Precision@k and timing helpers."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from bench.corpora import Corpus
from service.recommender import RelatedIndex


def relevant_counts(corpus: Corpus, queries: Sequence[int], neighbours: np.ndarray, k: int = 5) -> np.ndarray:
    """Per labelled query, how many of its top ``k`` neighbours are relevant.

    ``neighbours[i]`` are the ranked neighbours of document ``queries[i]`` (``-1`` pads).
    """
    return np.array(
        [
            sum(1 for other in row[:k] if other >= 0 and corpus.relevant(query, int(other)))
            for query, row in zip(queries, neighbours)
            if corpus.labels[query]
        ],
        dtype=np.float64,
    )


def precision_at_k(corpus: Corpus, queries: Sequence[int], neighbours: np.ndarray, k: int = 5) -> float:
    """Mean over labelled queries of (relevant among the top k) / k."""
    counts = relevant_counts(corpus, queries, neighbours, k)
    return float(counts.mean() / k) if counts.size else 0.0


def hit_at_k(corpus: Corpus, queries: Sequence[int], neighbours: np.ndarray, k: int = 5) -> float:
    """Share of labelled queries with at least one relevant article among the top ``k``: how a
    site whose editors link each article to a few others judges a list."""
    counts = relevant_counts(corpus, queries, neighbours, k)
    return float((counts > 0).mean()) if counts.size else 0.0


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    started = time.perf_counter()
    finished: list[float] = []
    yield lambda: finished[0] if finished else time.perf_counter() - started
    finished.append(time.perf_counter() - started)


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    values = np.asarray(samples)
    return {
        "p50": float(np.percentile(values, 50)),
        "p99": float(np.percentile(values, 99)),
        "n": len(values),
    }


MAX_QUERIES = 3000  # larger corpora are scored on a fixed random sample of articles


def query_rows(size: int) -> list[int]:
    """Every article of a corpus, or a fixed random sample of a large one."""
    if size <= 20_000:
        return list(range(size))
    return sorted(random.Random(0).sample(range(size), MAX_QUERIES))


def served_neighbours(index: RelatedIndex, rows: Sequence[int], k: int = 5) -> np.ndarray:
    """The service's similar list for each row: near-duplicates dropped, ``-1`` padded."""
    result = np.full((len(rows), k), -1, np.int64)
    for position, row in enumerate(rows):
        chosen = index.distinct_neighbours(row, k, min_score=0.05)
        result[position, : len(chosen)] = chosen
    return result
