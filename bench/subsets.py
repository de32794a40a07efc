"""The service against tuned TF-IDF on smaller sites: random subsets of each development corpus.

python -m bench.subsets                                   # 100, 300, 1,000, 3,000 articles, two draws
python -m bench.subsets --corpora imdb-reviews-10k --sizes 1000 3000

A site we have never seen may be far smaller than the corpora the defaults were chosen on, and
what the index learns from the site itself (the latent weight, the title coherence, the
clusters) has to hold there too. Each draw keeps a random ``size`` of the corpus's articles with
their labels (a link-judged corpus keeps the links between the articles drawn); the service as
served and tuned TF-IDF are scored on the same draw (precision@5, as ``make bench``). Writes
``bench/results/subsets.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import corpora, peers
from bench.loco import RESULTS, score
from bench.metrics import precision_at_k, query_rows

SIZES = (100, 300, 1_000, 3_000)
DRAWS = 2


def draw(corpus: corpora.Corpus, size: int, seed: int) -> corpora.Corpus:
    """``size`` articles of ``corpus`` drawn at random (``seed``), in the corpus's order."""
    rows = sorted(random.Random(seed).sample(range(len(corpus.documents)), size))
    return corpora.Corpus(
        corpus.name,
        [corpus.documents[row] for row in rows],
        [corpus.labels[row] for row in rows],
        corpus.label_name,
    )


def compare(corpus: corpora.Corpus, *, n_jobs: int = 2) -> dict[str, float]:
    """precision@5 of the service as served and of tuned TF-IDF on ``corpus``."""
    rows = query_rows(len(corpus.documents))
    tuned = precision_at_k(corpus, rows, peers.tfidf_tuned(corpus.documents, rows, 5))
    return {"service": score(corpus, {}, n_jobs=n_jobs)["precision"], "tfidf_tuned": tuned}


def measure(names: Sequence[str], sizes: Sequence[int], draws: int) -> list[dict[str, Any]]:
    """One row per corpus and size smaller than the corpus: the draws' scores and their gains."""
    results = []
    for name in names:
        corpus = corpora.load(name)
        for size in sizes:
            if size >= len(corpus.documents):
                continue
            found = [compare(draw(corpus, size, seed)) for seed in range(1, draws + 1)]
            gains = [scores["service"] - scores["tfidf_tuned"] for scores in found]
            results.append(
                {
                    "corpus": name,
                    "size": size,
                    "service": float(np.mean([scores["service"] for scores in found])),
                    "tfidf_tuned": float(np.mean([scores["tfidf_tuned"] for scores in found])),
                    "gain": float(np.mean(gains)),
                    "worst_gain": min(gains),
                }
            )
            print(f"{name} {size}: gain {results[-1]['gain']:+.4f}", file=sys.stderr)
    return results


def render(results: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| corpus | articles drawn | service | tfidf_tuned | service − tfidf_tuned | worst draw |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in results:
        lines.append(
            f"| {row['corpus']} | {row['size']:,} | {row['service']:.4f} | {row['tfidf_tuned']:.4f} | "
            f"{row['gain']:+.4f} | {row['worst_gain']:+.4f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpora", nargs="+", default=None, help="names in ../shared/data")
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--draws", type=int, default=DRAWS)
    parser.add_argument("--output", type=Path, default=RESULTS / "subsets.json")
    args = parser.parse_args(argv)
    results = measure(args.corpora or corpora.available(), args.sizes, args.draws)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
