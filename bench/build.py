"""Build speed and memory of the index against the baselines of the same run.

Run as a subprocess (``python -m bench.build NAME``) so that its peak memory is its own.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neighbors import NearestNeighbors

from bench import corpora
from bench.metrics import hit_at_k, precision_at_k, query_rows, served_neighbours
from bench.peers import texts_of
from service.recommender import RelatedIndex


def _tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants (loky workers), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / 1024


class PeakMemory:
    """Samples the RSS of this process tree every 0.2 s; ``peak_mb`` is the largest sum."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(os.getpid()))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(name: str, *, n_jobs: int = 2, nn_queries: int = 2000) -> dict[str, float]:
    corpus = corpora.load(name)
    documents = corpus.documents
    started = time.perf_counter()
    TfidfVectorizer().fit_transform(texts_of(documents))
    fit_transform = time.perf_counter() - started

    started = time.perf_counter()
    with PeakMemory() as memory:
        index = RelatedIndex(n_jobs=n_jobs).fit(documents)
    service = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

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
        "peak_rss_tree_mb": memory.peak_mb,
        "latent_weight": index.latent_weight_,
        **_quality(corpus, index),
    }


def _quality(corpus: corpora.Corpus, index: RelatedIndex) -> dict[str, float]:
    rows = query_rows(index.size)
    served = served_neighbours(index, rows)
    return {
        "service": precision_at_k(corpus, rows, served),
        "service_hit": hit_at_k(corpus, rows, served),
        "service_with_duplicates": precision_at_k(corpus, rows, index.neighbours_[rows]),
    }


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], nn_queries=int(sys.argv[2]) if len(sys.argv) > 2 else 2000)))
