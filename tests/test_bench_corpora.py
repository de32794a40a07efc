"""The benchmark's link-judged corpora: two pages are relevant when one links to the other."""

from __future__ import annotations

from bench import corpora
from bench.corpora import LINKED, link_labels, without_links
from bench.labels import render
from service.recommender import Document
from service.recommender.links import SiteLinks, link_targets
from tests.conftest import shared_corpus


def _page(page_id: str, body: str = "") -> dict:
    return {"id": page_id, "title": page_id, "body": body}


def test_pages_are_relevant_exactly_when_one_links_to_the_other() -> None:
    records = [
        _page("a", "see b and c"),
        _page("b"),
        _page("c", "see a again, and itself"),
        _page("d", "links to a page that is not in the corpus"),
    ]
    links = {"a": ["b", "c"], "c": ["a", "c"], "d": ["missing"]}
    labels = link_labels(records, lambda record: iter(links.get(record["id"], [])))
    relevant = {(x, y) for x in range(4) for y in range(4) if x != y and labels[x] & labels[y]}
    assert relevant == {(0, 1), (1, 0), (0, 2), (2, 0)}  # b and c: both linked from a, not to each other
    assert labels[3] == frozenset()  # judged on no list


def test_mdn_links_find_pages_by_path_or_by_their_moved_name() -> None:
    records = [
        _page("mdn-de.web.css.reference.properties.color"),
        _page("mdn-de.web.api.fetch_api"),
        _page("mdn-de.web.html.element.a"),
        _page("mdn-de.web.svg.element.a"),
        _page(
            "mdn-de.learn.styling",
            '<a href="/de/docs/Web/CSS/color#syntax">Farbe</a> <a href="/de/docs/Web/API/Fetch_API/">'
            'Fetch</a> <a href="/de/docs/Web/HTML/a">a: two pages end in .a</a> <a href="https://x.org/">',
        ),
    ]
    targets = LINKED["de-mdn-links"](records)
    assert list(targets(records[4])) == [
        "mdn-de.web.css.reference.properties.color",
        "mdn-de.web.api.fetch_api",
    ]


def test_til_links_are_read_from_the_site_and_the_repository() -> None:
    records = [_page("simonw-til.sqlite.json-extract"), _page("simonw-til.python.pipx")]
    body = (
        "[one](https://til.simonwillison.net/sqlite/json-extract) and "
        "[two](https://github.com/simonw/til/blob/main/python/pipx.md)"
    )
    targets = LINKED["simonw-til-links"](records)
    assert list(targets(_page("simonw-til.x.y", body))) == [
        "simonw-til.sqlite.json-extract",
        "simonw-til.python.pipx",
    ]


def linked_pairs(documents: list[Document]) -> int:
    """How many links between ``documents`` the index would read."""
    size = len(documents)
    ids, bodies, titles = ([getattr(d, name) for d in documents] for name in ("id", "body", "title"))
    return len(SiteLinks.fit(ids, bodies, [None] * size, 1.0, titles).incoming)


def test_the_link_judged_mdn_corpus_has_hundreds_of_judged_pages() -> None:
    shared_corpus("de-mdn.jsonl.gz")
    corpus = corpora.load("de-mdn-links")
    judged = sum(1 for labels in corpus.labels if labels)
    assert 300 <= judged < len(corpus.documents)
    pages = corpora.load("de-mdn").documents  # the same pages, judged otherwise, links withheld
    assert [(d.id, d.title) for d in corpus.documents] == [(d.id, d.title) for d in pages]
    assert linked_pairs(pages) > 500
    assert linked_pairs(corpus.documents) == 0  # none of the labels left for the index to read


def test_links_are_withheld_where_they_are_the_labels_and_their_text_kept() -> None:
    body = '<a href="/de/docs/Web/CSS/color">Farbe</a>, [pipx](https://til.example/python/pipx) https://x.example/a'
    assert without_links(body) == "<a >Farbe</a>, [pipx]() "
    assert not list(link_targets(without_links("[g]: /kb/install\n[h]: <https://til.example/x>")))


def test_label_effects_render_hit_at_5_when_measured() -> None:
    measured = {"indexed": "doc section as category", "judged": "one page links to the other"}
    effects = {
        "new": {**measured, "without": 0.036, "with": 0.035, "without_hit": 0.136, "with_hit": 0.131},
        "old": {**measured, "without": 0.5, "with": 0.52},  # a report from before hit@5 was kept
    }
    new, old = render(effects).splitlines()[2:]
    assert new.split(" | ")[-2:] == ["-0.001", "0.136 → 0.131 |"]
    assert old.split(" | ")[-2:] == ["+0.020", "— |"]
