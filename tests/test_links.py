"""Site links: an article that links to another of the same site has it among its related posts."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask
from flask.testing import FlaskClient

from service.recommender import Document, RelatedIndex
from service.recommender.links import LinkResolver, SiteLinks, link_targets
from service.reindex import build_index
from tests.api import ids
from tests.api import recommendations as get
from tests.factories import article, corpus


def test_links_are_found_in_html_markdown_and_bare_addresses() -> None:
    body = (
        '<p>See <a class="x" href="/kb/reset-password">reset</a>, '
        "[the install guide](https://help.example/guides/install#linux) and "
        "https://help.example/faq/billing. Also <a href='https://other.example/a'>a</a>.</p>\n"
        "See [the guide][g].\n\n[g]: /kb/install-guide\n"
        "```css\n[popover]:popover-open {\n  [x]: {\n```\n"
        "Wiki: [[Clear the cache]] and [[Sync#Setup|set up sync]], not [[]] nor [[a\nb]]."
    )
    assert list(link_targets(body)) == [
        "/kb/reset-password",
        "https://help.example/guides/install#linux",
        "https://help.example/faq/billing.",
        "https://other.example/a",
        "/kb/install-guide",
        "[[Clear the cache]]",
        "[[Sync]]",
    ]


def test_a_link_resolves_by_the_articles_url_or_by_an_id_its_path_ends_with() -> None:
    ids = [
        "mdn.web.css.color",
        "mdn.web.css.background-color",
        "2024-05-01-launch-notes",
        "guides.install",
        "faq-install",
        "kb-1042",
        "print",
        "a.print",
    ]
    urls = [None, None, None, None, None, "https://help.example/kb/reset-password", None, None]
    resolver = LinkResolver(ids, urls)
    resolve = resolver.resolve
    # by the url's path, with the host or relative to the site, whatever the id says
    assert resolve("https://help.example/kb/reset-password/") == 5
    assert resolve("/kb/reset-password?from=faq") == 5
    assert resolve("https://elsewhere.example/kb/reset-password") is None
    # by the id: segment by segment, case, page endings and separators aside
    assert resolve("/de/docs/Web/CSS/color") == 0
    assert resolve("../CSS/background_color.html") == 1
    assert resolve("https://blog.example/2024/05/01/launch-notes/") == 2  # two segments or more
    assert resolve("/guides/install") == 3
    # a word that is not a whole segment of the id, or a link that fits two ids: nothing
    assert resolve("/docs/install") == 3  # a link relative to the site: its last segment may do
    assert resolve("/news/launch-notes") is None and resolve("/install-faq") is None
    assert resolve("/css/print") is None and resolve("/print") is None
    # another host must match two segments (a package page named like an article is not it)
    assert resolve("https://pypi.org/project/color") is None
    assert resolve("mailto:team@help.example") is None and resolve("#top") is None


def test_on_the_sites_own_addresses_a_slug_of_a_title_or_a_numeric_id_resolves_too() -> None:
    ids = ["1042", "1043", "77", "post-9"]
    titles = ["Reset your password", "Two-factor sign-in &amp; codes", "Billing", "Reset your password"]
    resolver = LinkResolver(ids, (), titles)
    assert resolver.resolve("/2024/05/two-factor-sign-in-codes/") == 1  # the title, unescaped
    assert resolver.resolve("/hc/en-us/articles/1042-Reset-your-password") == 0  # the id first
    assert resolver.resolve("/articles/1043") == 1  # a whole segment: the id's ending
    # two titles alike, a one-word title, a short number, another host: nothing
    assert resolver.resolve("/blog/reset-your-password") is None
    assert resolver.resolve("/blog/billing") is None and resolver.resolve("/articles/77-billing") is None
    assert resolver.resolve("https://other.example/2024/two-factor-sign-in-codes") is None
    assert resolver.resolve("https://other.example/hc/articles/1042-reset") is None
    # a wiki link names the title itself, of one word too
    assert resolver.resolve("[[Two-factor sign-in & codes]]") == 1 and resolver.resolve("[[billing]]") == 2
    assert resolver.resolve("[[Reset your password]]") is None  # two articles of that title


def test_an_id_that_ends_in_an_article_number_resolves_by_that_number_but_not_by_a_year() -> None:
    ids = ["kb-360004415", "help.360009876", "report-2019", "notes-12345", "faq-12345"]
    resolver = LinkResolver(ids, (), [""] * len(ids))
    assert resolver.resolve("/hc/en-us/articles/360004415-Reset-your-password") == 0
    assert resolver.resolve("/hc/articles/360009876") == 1
    assert resolver.resolve("/2019/05/launch-notes/") is None  # a year is no article number
    assert resolver.resolve("/articles/12345-notes") is None  # the number of two articles
    assert resolver.resolve("https://other.example/hc/articles/360004415-reset") is None


def test_long_ids_and_addresses_resolve_by_their_last_words_without_a_blowup() -> None:
    long_id = ".".join(f"part{number}" for number in range(90)) + ".reset-password"
    resolver = LinkResolver([long_id, "other"])
    long_path = "/" + "/".join(f"p{number}" for number in range(800)) + "/part89/reset-password"
    assert resolver.resolve(long_path) == 0  # by the id's last segments
    assert resolver.resolve("/x/" + ".".join(f"part{number}" for number in range(90))) is None


def test_a_host_whose_addresses_end_as_the_ids_do_counts_as_the_sites_own() -> None:
    ids = ["til.sqlite.json", "til.git.rebase", "til.git.bisect", "til.python.json"]
    resolver = LinkResolver(ids)
    assert resolver.resolve("https://til.example/git/rebase") == 1  # two segments, any host
    assert resolver.resolve("https://til.example/rebase") is None
    resolver.learn_hosts(
        [
            *("https://til.example/rebase", "https://til.example/git/bisect", "https://til.example/x/json"),
            *("https://pkg.example/rebase", "https://pkg.example/flask", "https://pkg.example/django"),
        ]
    )
    assert resolver.resolve("https://til.example/rebase") == 1  # two of three resolve: its own
    assert resolver.resolve("https://pkg.example/rebase") is None  # one of three: another site's


def test_links_join_both_ways_and_a_page_linked_from_too_many_joins_nothing() -> None:
    ids = [f"page-{row}" for row in range(10)]
    bodies = ["[help](/page-9) [next](/page-1)", *(f"[help](/page-9) [{row}](/x)" for row in range(1, 10))]
    bodies[8] += " ".join(f"[{row}](/page-{row})" for row in (2, 3, 4, 5))  # an index of pages
    links = SiteLinks.fit(ids, bodies, [None] * 10, max_share=0.3)
    assert links.linked_to(0).tolist() == [1] and links.linked_to(1).tolist() == [0]
    assert links.linked_to(9).tolist() == []  # linked from nine of ten: the site's help page
    assert links.linked_to(8).tolist() == [] and links.linked_to(3).tolist() == []  # links to four
    found_in_text = links.linked_from_text(
        ["[a](/page-1)", "[a](/page-1) [b](/page-2) [c](/page-3) [d](/page-4)"], [-1, -1]
    )
    assert found_in_text == [{1}, set()]
    assert links.rows().tolist() == [0, 1]
    found = links.indexed_linked(0, 2, np.array([[1, 9, -1], [0, 2, 5]]))
    assert found.tolist() == [[1, 0, 0], [1, 0, 0]]
    unlinked = SiteLinks.fit(ids, ["no links"] * 10, [None] * 10, max_share=0.3)
    assert not len(unlinked.incoming) and unlinked.resolver.resolve("/page-3") == 3  # for later text
    assert unlinked.indexed_linked(0, 1, np.array([[1, 2]])).tolist() == [[0, 0]]


def _site(linking_body: str) -> list[Document]:
    """The factories' four subjects; a baking article that links to a gardening one."""
    documents = [Document(r["id"], r["title"], r["body"], url=r["url"]) for r in corpus(12)]
    place = next(place for place, document in enumerate(documents) if document.id == "baking-0")
    linking = documents[place]
    documents[place] = Document(linking.id, linking.title, linking.body + linking_body, url=linking.url)
    return documents


def test_a_linked_article_joins_the_list_however_far_its_words_and_leads_it_when_alike() -> None:
    link = ' <a href="https://example.com/sleep-5">sleep</a>'
    plain = RelatedIndex(n_jobs=1, link_weight=0.0).fit(_site(link))
    linked = RelatedIndex(n_jobs=1).fit(_site(link))
    sleep_5, baking_0 = plain.row_of("sleep-5"), plain.row_of("baking-0")
    assert sleep_5 not in plain.distinct_neighbours(baking_0, 5)
    assert baking_0 not in plain.distinct_neighbours(sleep_5, 5)
    # another subject: in both lists, though below the articles on the same subject
    assert sleep_5 in linked.distinct_neighbours(baking_0, 20)
    assert baking_0 in linked.distinct_neighbours(sleep_5, 20)
    # a link to an article on the same subject raises it
    near = RelatedIndex(n_jobs=1, link_weight=0.0).fit(_site(' <a href="/baking-7">more</a>'))
    baking_7 = near.row_of("baking-7")
    assert baking_7 not in near.distinct_neighbours(baking_0, 5)
    raised = RelatedIndex(n_jobs=1).fit(_site(' <a href="/baking-7">more</a>'))
    assert raised.distinct_neighbours(baking_0, 2)[1] == baking_7


def _place(client: FlaskClient, of: str, article_id: str) -> int:
    """Where ``of`` stands in ``article_id``'s related list of 20 (its length if absent)."""
    listed = ids(get(client, article_id, limit=20)["related"])
    return listed.index(of) if of in listed else len(listed)


def test_the_service_reads_links_between_its_articles_at_each_build(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    def linking(href: str | None) -> dict[str, Any]:
        record = article("baking", 1)
        anchor = "<a>more</a>" if href is None else f'<a href="{href}">more</a>'
        return {**record, "body": f"{record['body']}<p>See {anchor}.</p>"}

    # sleep-2's address is one only its stored url resolves (its path does not end as its id)
    records = [linking(None) if r["id"] == "baking-1" else r for r in corpus()]
    records = [
        {**r, "url": "https://example.com/guides/rest"} if r["id"] == "sleep-2" else r for r in records
    ]
    assert client.post("/api/v1/articles", json=records, headers=admin).status_code == 200
    build_index(app.extensions["store"], Path(app.config["MODEL_DIR"]))
    before = _place(client, "sleep-2", "baking-1"), _place(client, "baking-1", "sleep-2")
    assert (
        client.put("/api/v1/articles/baking-1", json=linking("/guides/rest"), headers=admin).status_code
        == 200
    )
    build_index(app.extensions["store"], Path(app.config["MODEL_DIR"]))
    after = _place(client, "sleep-2", "baking-1"), _place(client, "baking-1", "sleep-2")
    assert after[0] == 3 < before[0]  # first after the three on its own subject
    assert after[1] == 3 < before[1]  # and the same the other way round


def test_an_article_written_after_the_build_has_its_links_at_once_both_ways(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    plain = {**article("baking", 9), "published_at": "2025-03-01T00:00:00Z"}
    linking = {
        **plain,
        "body": plain["body"] + '<p>See <a href="https://example.com/sleep-2">more</a>.</p>',
    }
    places = []
    for record in (plain, linking, plain):  # scored on the fly against the current index
        assert client.put("/api/v1/articles/baking-9", json=record, headers=admin).status_code in (200, 201)
        places.append((_place(client, "sleep-2", "baking-9"), _place(client, "baking-9", "sleep-2")))
    (linked_in, linked_back), unlinked = places[1], places[0]
    assert linked_in < unlinked[0] and linked_back < unlinked[1]  # raised both ways, at once
    assert places[2] == unlinked  # and no longer once the link is gone


def test_the_links_an_index_resolves_survive_its_artifact() -> None:
    documents = _site(' <a href="/sleep-5">sleep</a>')
    index = RelatedIndex(n_jobs=1).fit(documents)
    restored = pickle.loads(pickle.dumps(index))
    assert restored.links_ is not None and "pairs" not in vars(restored.links_)
    fresh = Document("new", "A new page", "flour and dough <a href='https://example.com/sleep-5'>x</a>")
    assert "sleep-5" in [found.id for found in restored.similar_to(fresh, 20)]
    assert "sleep-5" not in [
        found.id for found in RelatedIndex(n_jobs=1, link_weight=0).fit(documents).similar_to(fresh, 5)
    ]


def test_hostile_links_resolve_to_nothing_and_leave_the_lists_alone() -> None:
    odd = [
        "http://[::1",  # an address urlsplit refuses
        "javascript:alert(1)",
        "/" + "/".join("segment" for _ in range(300)) + "/sleep-5",  # resolves by its end
        "/%F0%9F%92%A9/%ZZ/" + "é" * 500,
        "[[" + "x" * 300 + "]]",
        "//evil.example/sleep-5",  # another host, one segment
    ]
    body = " ".join(f'<a href="{target}">x</a>' for target in odd * 2000)
    documents = _site("")
    baseline = RelatedIndex(n_jobs=1).fit(documents)
    hostile = [*documents, Document("odd", "Odd page", body)]
    index = RelatedIndex(n_jobs=1).fit(hostile)
    odd_row, sleep_5 = index.row_of("odd"), index.row_of("sleep-5")
    assert index.links_ is not None and index.links_.linked_to(odd_row).tolist() == [sleep_5]
    for row, document in enumerate(documents):  # every other list as it was, but for the odd page
        before = [baseline.ids_[c] for c in baseline.distinct_neighbours(row, 5)]
        after = [index.ids_[c] for c in index.distinct_neighbours(row, 6) if index.ids_[c] != "odd"][:5]
        assert after == before or document.id == "sleep-5", document.id
