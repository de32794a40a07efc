"""The evaluation corpora in ../shared/data and their relevance labels."""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
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


# What "relevant" means per corpus (see each NAME.SOURCE.md): its name and each record's labels
# (None: from the links between the records, see LINKED).
LABELS: dict[str, tuple[str, Callable[[dict], frozenset[str]] | None]] = {
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
    "de-mdn-links": ("one page links to the other", None),
    "simonw-til-links": ("one page links to the other", None),
}
# Corpora read from another's file: (file name, articles from its start; None: all). Each judges
# "relevant" narrowly, as a site's editors linking each article to a few others would, unlike
# the sections and topic folders of the others: the first 10,000 IMDb reviews (a site under
# every size cap; relevant = the same film), MedQuAD by medical concept (relevant = pages
# sharing a UMLS concept, mostly one condition described by two source sites), and two sites by
# their own links (LINKED).
SUBSETS: dict[str, tuple[str, int | None]] = {
    "imdb-reviews-10k": ("imdb-reviews", 10_000),
    "medquad-concepts": ("medquad", None),
    "de-mdn-links": ("de-mdn", None),
    "simonw-til-links": ("simonw-til", None),
}


# Where links point: an HTML href, a Markdown link's target, a bare address (as the index reads them).
_LINK_TARGET = re.compile(
    r"""href\s*=\s*["'][^"']*["']|(?<=\]\()[^)]*|https?://[^\s<>"'`)\]]+|(?<=\]:)[ \t]+<?[^\s>]*/[^\s>]*>?""",
    re.I,
)


def _mdn_targets(records: Sequence[dict]) -> Callable[[dict], Iterator[str]]:
    """The MDN pages a page links to: ``/de/docs/Web/CSS/color`` is the page ``mdn-de.web.css.color``,
    or else the one page whose id ends in ``.color`` (MDN has moved pages into new folders)."""
    ids = {record["id"] for record in records}
    by_last_part = defaultdict(list)
    for page in ids:
        by_last_part[page.rsplit(".", 1)[-1]].append(page)

    def targets(record: dict) -> Iterator[str]:
        for path in re.findall(r'href="/de/docs/([^"#?]+)', record.get("body") or ""):
            page = "mdn-de." + path.strip("/").lower().replace("/", ".")
            if page not in ids:
                moved = by_last_part.get(page.rsplit(".", 1)[-1], [])
                if len(moved) != 1:
                    continue
                page = moved[0]
            yield page

    return targets


def _til_targets(records: Sequence[dict]) -> Callable[[dict], Iterator[str]]:
    """The notes a TIL note links to, on the site or in its repository."""
    link = re.compile(
        r"til\.simonwillison\.net/([\w-]+)/([\w.-]+)|github\.com/simonw/til/blob/main/([\w-]+)/([\w.-]+?)\.md"
    )

    def targets(record: dict) -> Iterator[str]:
        for found in link.finditer(record.get("body") or ""):
            folder, note = found.group(1, 2) if found.group(1) else found.group(3, 4)
            yield f"simonw-til.{folder}.{note}"

    return targets


# Corpora judged by the site's own links (read from another's file, see SUBSETS): two pages are
# relevant when one links to the other, as a help site's editors' "related" links judge a list;
# narrow, like the two above, but within one site. Only pages that link or are linked are
# judged (de-mdn: 360 of 2,202 pages; simonw-til: 94 of 577, a small sample).
LINKED: dict[str, Callable[[Sequence[dict]], Callable[[dict], Iterator[str]]]] = {
    "de-mdn-links": _mdn_targets,
    "simonw-til-links": _til_targets,
}


def without_links(body: str) -> str:
    """``body`` with the target of every link removed (the text of each link kept): where the
    links are the labels, the index must not read them, as category and tags are withheld."""
    return _LINK_TARGET.sub("", body)


def link_labels(records: Sequence[dict], targets: Callable[[dict], Iterator[str]]) -> list[frozenset[str]]:
    """Per record, one label per page it links to or is linked from (the pair's two positions),
    so that two records share a label exactly when one links to the other."""
    position = {record["id"]: place for place, record in enumerate(records)}
    labels: list[set[str]] = [set() for _ in records]
    for place, record in enumerate(records):
        for target in targets(record):
            other = position.get(target)
            if other is not None and other != place:
                pair = f"link:{min(place, other)}-{max(place, other)}"
                labels[place].add(pair)
                labels[other].add(pair)
    return [frozenset(found) for found in labels]


def file_of(name: str) -> Path:
    """The file a corpus is read from (a subset's is another corpus's)."""
    return SHARED_DATA / f"{SUBSETS.get(name, (name, None))[0]}.jsonl.gz"


def available() -> list[str]:
    return [name for name in LABELS if file_of(name).exists()]


def load(name: str, limit: int | None = None) -> Corpus:
    """Read ``name`` with category and tags withheld from the documents."""
    label_name, label_of = LABELS[name]
    size = SUBSETS.get(name, (name, None))[1]
    if size is not None:
        limit = size if limit is None else min(limit, size)
    records = []
    with gzip.open(file_of(name), "rt", encoding="utf-8") as handle:
        for position, line in enumerate(handle):
            if limit is not None and position >= limit:
                break
            records.append(json.loads(line))
    if label_of is None:
        labels = link_labels(records, LINKED[name](records))
        bodies = [without_links(record.get("body") or "") for record in records]
    else:
        labels = [label_of(record) for record in records]
        bodies = [record.get("body") or "" for record in records]
    documents = [
        Document(id=record["id"], title=record.get("title") or "", body=body)
        for record, body in zip(records, bodies)
    ]
    dates = [
        parse_datetime(record["published_at"]) if record.get("published_at") else None for record in records
    ]
    return Corpus(name, documents, labels, label_name, dates)
