"""Tags and category on a real site: the related list with them indexed, against withheld.

The quality table withholds tags and category because they are its relevance labels. Here
the index gets labels that are *not* the one judged: a site's own tags or coarse sections.

- medquad: each page's UMLS concept tags (``semgroup:``, ``semtype:``, ``cui:``); relevant =
  same source site, as in the quality table.
- 20newsgroups: the top-level hierarchy (``comp``, ``rec``, ``sci``, ``talk``, …) as the
  category, coarser than the 20 newsgroups judged.
- medquad-concepts: each page's source site as the category; relevant = sharing a concept.
- de-mdn-links, simonw-til-links: the doc section or topic folder as the category; relevant =
  one page links to the other (narrow: where a site's sections may lead away from its links).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import replace

from bench import corpora
from bench.metrics import hit_at_k, precision_at_k, query_rows, served_neighbours
from service.recommender import Document, RelatedIndex

Labels = Callable[[dict], tuple[tuple[str, ...], str | None]]


def _umls_tags(record: dict) -> tuple[tuple[str, ...], str | None]:
    return tuple(record.get("tags") or ()), None


def _hierarchy(record: dict) -> tuple[tuple[str, ...], str | None]:
    return (), str(record["category"]).split(".")[0]


def _section(record: dict) -> tuple[tuple[str, ...], str | None]:
    return (), record.get("category")


CASES: dict[str, tuple[str, Labels]] = {
    "medquad": ("UMLS concept tags", _umls_tags),
    "20newsgroups": ("top-level hierarchy as category", _hierarchy),
    "medquad-concepts": ("source site as category", _section),
    "de-mdn-links": ("doc section as category", _section),
    "simonw-til-links": ("topic folder as category", _section),
}


def _labelled(corpus: corpora.Corpus, labels: Labels) -> list[Document]:
    """The corpus's documents with the labels the site would give them."""
    with gzip.open(corpora.file_of(corpus.name), "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line, _ in zip(handle, corpus.documents)]
    documents = []
    for document, record in zip(corpus.documents, records):
        tags, category = labels(record)
        documents.append(replace(document, tags=tags, category=category))
    return documents


def label_effects(names: list[str], *, limit: int | None = None, n_jobs: int = 2) -> dict[str, dict]:
    """precision@5 and hit@5 as served with the site's labels withheld and indexed, per corpus of
    CASES (``without``, ``with``; ``without_hit``, ``with_hit``)."""
    effects = {}
    for name in names:
        if name not in CASES:
            continue
        given, labels = CASES[name]
        corpus = corpora.load(name, limit=limit)
        rows = query_rows(len(corpus.documents))
        scores = {}
        for variant, documents in (("without", corpus.documents), ("with", _labelled(corpus, labels))):
            served = served_neighbours(RelatedIndex(n_jobs=n_jobs).fit(documents), rows)
            scores[variant] = precision_at_k(corpus, rows, served)
            scores[f"{variant}_hit"] = hit_at_k(corpus, rows, served)
        effects[name] = {"indexed": given, "judged": corpus.label_name, **scores}
    return effects


def render(effects: dict[str, dict]) -> str:
    lines = [
        "| corpus | labels indexed | relevant = | labels withheld | labels indexed | Δ "
        "| hit@5: withheld → indexed |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name, effect in effects.items():
        hits = (
            f"{effect['without_hit']:.3f} → {effect['with_hit']:.3f}" if "with_hit" in effect else "—"
        )  # runs from before hit@5 was kept
        lines.append(
            f"| {name} | {effect['indexed']} | {effect['judged']} | {effect['without']:.3f} | "
            f"{effect['with']:.3f} | {effect['with'] - effect['without']:+.3f} | {hits} |"
        )
    return "\n".join(lines)
