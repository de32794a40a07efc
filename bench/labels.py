"""Tags and category on a real site: the related list with them indexed, against withheld.

The quality table withholds tags and category because they are its relevance labels. Here
the index gets labels that are *not* the one judged: a site's own tags or coarse sections.

- medquad: each page's UMLS concept tags (``semgroup:``, ``semtype:``, ``cui:``); relevant =
  same source site, as in the quality table.
- 20newsgroups: the top-level hierarchy (``comp``, ``rec``, ``sci``, ``talk``, …) as the
  category, coarser than the 20 newsgroups judged.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import replace

from bench import corpora
from bench.metrics import precision_at_k, query_rows, served_neighbours
from service.recommender import Document, RelatedIndex

Labels = Callable[[dict], tuple[tuple[str, ...], str | None]]


def _umls_tags(record: dict) -> tuple[tuple[str, ...], str | None]:
    return tuple(record.get("tags") or ()), None


def _hierarchy(record: dict) -> tuple[tuple[str, ...], str | None]:
    return (), str(record["category"]).split(".")[0]


CASES: dict[str, tuple[str, Labels]] = {
    "medquad": ("UMLS concept tags", _umls_tags),
    "20newsgroups": ("top-level hierarchy as category", _hierarchy),
}


def _labelled(corpus: corpora.Corpus, labels: Labels) -> list[Document]:
    """The corpus's documents with the labels the site would give them."""
    with gzip.open(corpora.SHARED_DATA / f"{corpus.name}.jsonl.gz", "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line, _ in zip(handle, corpus.documents)]
    documents = []
    for document, record in zip(corpus.documents, records):
        tags, category = labels(record)
        documents.append(replace(document, tags=tags, category=category))
    return documents


def label_effects(names: list[str], *, limit: int | None = None, n_jobs: int = 2) -> dict[str, dict]:
    """precision@5 as served with the site's labels withheld and indexed, per corpus of CASES."""
    effects = {}
    for name in names:
        if name not in CASES:
            continue
        given, labels = CASES[name]
        corpus = corpora.load(name, limit=limit)
        rows = query_rows(len(corpus.documents))
        scores = {}
        for variant, documents in (("without", corpus.documents), ("with", _labelled(corpus, labels))):
            index = RelatedIndex(n_jobs=n_jobs).fit(documents)
            scores[variant] = precision_at_k(corpus, rows, served_neighbours(index, rows))
        effects[name] = {"indexed": given, "judged": corpus.label_name, **scores}
    return effects


def render(effects: dict[str, dict]) -> str:
    lines = [
        "| corpus | labels indexed | relevant = | labels withheld | labels indexed | Δ |",
        "|---|---|---|---:|---:|---:|",
    ]
    for name, effect in effects.items():
        lines.append(
            f"| {name} | {effect['indexed']} | {effect['judged']} | {effect['without']:.3f} | "
            f"{effect['with']:.3f} | {effect['with'] - effect['without']:+.3f} |"
        )
    return "\n".join(lines)
