"""The closeness blend and the closest-match lead chosen together, left one corpus out.

python -m bench.closest                          # every corpus (~6 minutes on 2 cores)
python -m bench.closest --corpora bbc-news simonw-til

Both act on the finished candidate lists (``closest_weight`` re-ranks them by the tf-idf cosine
relative to the closest match, then ``closest_lead`` may put that match first), so one build per
corpus with both off serves every pair of values: each pair is applied to its lists by the
step :meth:`RelatedIndex.fit` ends with (``favour_closest``). Chosen one at a time, each was
judged against the other's current default, and the precision@5 each gave up added up unseen
(the blend at 0.15 passed the guard at lead 0.3, which had spent most of it); chosen together
they are judged against neither, by ``leave_one_out_guarded``. Writes ``bench/results/closest.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import corpora
from bench.loco import RESULTS, leave_one_out_guarded
from bench.metrics import hit_at_k, precision_at_k, query_rows, served_neighbours
from service.recommender import RelatedIndex
from service.recommender.neighbours import duplicate_groups, favour_closest

WEIGHTS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3]
LEADS: list[float | None] = [None, 0.5, 0.4, 0.3, 0.2, 0.0]
REFERENCE: list[Any] = [0.0, None]  # neither
PARAMETER = "closest_weight, closest_lead"


def scores(corpus: corpora.Corpus, *, n_jobs: int = 2) -> dict[str, dict[str, float]]:
    """precision@5 and hit@5 as served for every pair of ``WEIGHTS`` x ``LEADS``."""
    rows = query_rows(len(corpus.documents))
    index = RelatedIndex(n_jobs=n_jobs, closest_weight=0.0, closest_lead=None).fit(corpus.documents)
    lists = index.neighbours_, index.scores_, index.cosines_
    duplicates = index.near_duplicates(index.title_fingerprints_)
    found: dict[str, dict[str, float]] = {"precision": {}, "hit": {}}
    for weight in WEIGHTS:
        for lead in LEADS:
            columns, ranked, cosines = favour_closest(*lists, duplicates, weight=weight, lead=lead)
            index.neighbours_, index.scores_, index.cosines_ = columns, ranked, cosines
            index.groups_ = duplicate_groups(columns, duplicates.mask(columns, cosines))
            served = served_neighbours(index, rows)
            key = json.dumps({PARAMETER: [weight, lead]})
            found["precision"][key] = precision_at_k(corpus, rows, served)
            found["hit"][key] = hit_at_k(corpus, rows, served)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpora", nargs="+", default=corpora.available())
    parser.add_argument("--output", type=Path, default=RESULTS / "closest.json")
    args = parser.parse_args(argv)
    precisions: dict[str, dict[str, float]] = {}
    hits: dict[str, dict[str, float]] = {}
    for name in args.corpora:
        found = scores(corpora.load(name))
        precisions[name], hits[name] = found["precision"], found["hit"]
        print(f"{name}: done", file=sys.stderr)
    values = [[weight, lead] for weight in WEIGHTS for lead in LEADS]
    rows = leave_one_out_guarded(hits, precisions, PARAMETER, values, REFERENCE)
    args.output.write_text(
        json.dumps({"precision": precisions, "hit": hits, "loco": rows}, indent=2) + "\n", encoding="utf-8"
    )
    print(
        f"| corpus left out | ({PARAMETER}) chosen on the others | their mean hit@5 gain | "
        "left out: hit@5 neither → chosen | precision@5 change there |"
    )
    print("|---|---|---:|---|---:|")
    for row in rows:
        print(
            f"| {row['held_out']} | {row['chosen']} | {row['others_gain']:+.4f} | "
            f"{row['held_out_reference']:.4f} → {row['held_out_chosen']:.4f} | "
            f"{row['held_out_precision_gain']:+.4f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
