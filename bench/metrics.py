"""Precision@k and timing helpers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from bench.corpora import Corpus


def precision_at_k(corpus: Corpus, queries: Sequence[int], neighbours: np.ndarray, k: int = 5) -> float:
    """Mean over labelled queries of (relevant among the top k) / k.

    ``neighbours[i]`` are the ranked neighbours of document ``queries[i]``.
    """
    total, counted = 0.0, 0
    for query, row in zip(queries, neighbours):
        if not corpus.labels[query]:
            continue
        hits = sum(1 for other in row[:k] if other >= 0 and corpus.relevant(query, int(other)))
        total += hits / k
        counted += 1
    return total / counted if counted else 0.0


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
