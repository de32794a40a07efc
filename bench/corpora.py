"""The evaluation corpora in ../shared/data and their relevance labels."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from service.articles import parse_datetime
from service.recommender import Document

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@dataclass(frozen=True)
class Corpus:
    """Documents with labels withheld from the text, and what makes two of them relevant."""

    name: str
    documents: list[Document]
    labels: list[frozenset[str]]  # per document; empty = not evaluated
    label_name: str
    dates: list[datetime | None] = field(default_factory=list)  # published_at per document

    def relevant(self, a: int, b: int) -> bool:
        return bool(self.labels[a] & self.labels[b])


def _category(record: dict) -> frozenset[str]:
    return frozenset([record["category"]]) if record.get("category") else frozenset()


def _tags(record: dict) -> frozenset[str]:
    return frozenset(record.get("tags") or [])


def _prefixed(prefix: str) -> Callable[[dict], frozenset[str]]:
    def labels(record: dict) -> frozenset[str]:
        return frozenset(tag for tag in record.get("tags") or [] if tag.startswith(prefix))

    return labels


# What "relevant" means per corpus (see each NAME.SOURCE.md).
LABELS: dict[str, tuple[str, Callable[[dict], frozenset[str]]]] = {
    "20newsgroups": ("same newsgroup", _category),
    "bbc-news": ("same section", _category),
    "medquad": ("same source site", _category),
    "ropensci-blog": ("shares a tag", _tags),
    "jbranchaud-til": ("same topic folder", _category),
    "simonw-til": ("same topic folder", _category),
    "zh-tidb-docs": ("same doc section", _category),
    "de-mdn": ("same doc section", _category),
    "imdb-reviews": ("same movie", _prefixed("movie:")),
    "imdb-reviews-10k": ("same movie", _prefixed("movie:")),
    "medquad-concepts": ("shares a UMLS concept", _prefixed("cui:")),
}
# Corpora read from another's file: (file name, articles from its start; None: all). Both judge
# "relevant" narrowly, as a site's editors linking each article to a few others would, unlike
# the sections and topic folders of the others: the first 10,000 IMDb reviews (a site under
# every size cap; relevant = the same film) and MedQuAD by medical concept (relevant = pages
# sharing a UMLS concept, mostly one condition described by two source sites).
SUBSETS: dict[str, tuple[str, int | None]] = {
    "imdb-reviews-10k": ("imdb-reviews", 10_000),
    "medquad-concepts": ("medquad", None),
}


def _file(name: str) -> Path:
    return SHARED_DATA / f"{SUBSETS.get(name, (name, None))[0]}.jsonl.gz"


def available() -> list[str]:
    return [name for name in LABELS if _file(name).exists()]


def load(name: str, limit: int | None = None) -> Corpus:
    """Read ``name`` with category and tags withheld from the documents."""
    label_name, label_of = LABELS[name]
    size = SUBSETS.get(name, (name, None))[1]
    if size is not None:
        limit = size if limit is None else min(limit, size)
    documents, labels, dates = [], [], []
    with gzip.open(_file(name), "rt", encoding="utf-8") as handle:
        for position, line in enumerate(handle):
            if limit is not None and position >= limit:
                break
            record = json.loads(line)
            documents.append(
                Document(id=str(position), title=record.get("title") or "", body=record.get("body") or "")
            )
            labels.append(label_of(record))
            dates.append(parse_datetime(record["published_at"]) if record.get("published_at") else None)
    return Corpus(name, documents, labels, label_name, dates)
