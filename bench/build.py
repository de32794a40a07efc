"""Build speed and memory of the index against the baselines of the same run.

Run as a subprocess (``python -m bench.build NAME``) so that its peak memory is its own.
"""

from __future__ import annotations

import json
import resource
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neighbors import NearestNeighbors

from bench import corpora
from bench.peers import texts_of
from service.recommender import RelatedIndex


def measure(name: str, *, n_jobs: int = 2, nn_queries: int = 2000) -> dict[str, float]:
    corpus = corpora.load(name)
    documents = corpus.documents
    started = time.perf_counter()
    TfidfVectorizer().fit_transform(texts_of(documents))
    fit_transform = time.perf_counter() - started

    started = time.perf_counter()
    index = RelatedIndex(n_jobs=n_jobs).fit(documents)
    service = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    queries = min(nn_queries, index.size)
    neighbours = NearestNeighbors(n_neighbors=6, metric="cosine", algorithm="brute", n_jobs=n_jobs)
    neighbours.fit(index.matrix_)
    started = time.perf_counter()
    neighbours.kneighbors(index.matrix_[:queries])
    nearest = (time.perf_counter() - started) * index.size / queries
    return {
        "documents": index.size,
        "service_build_s": service,
        "fit_transform_s": fit_transform,
        "nearest_neighbors_s": nearest,
        "nearest_neighbors_extrapolated_from": queries,
        "ratio_to_fit_transform": service / fit_transform,
        "speedup_vs_nearest_neighbors": nearest / service,
        "peak_rss_mb": peak,
        "peak_rss_children_mb": peak_children,
    }


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], nn_queries=int(sys.argv[2]) if len(sys.argv) > 2 else 2000)))
