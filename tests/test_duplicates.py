"""Near-duplicates: the same article filed twice is shown once; templated pages are not copies."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from flask.testing import FlaskClient, FlaskCliRunner

from service.recommender import Document, RelatedIndex
from service.recommender.duplicates import NO_TITLE, NearDuplicates, title_fingerprints
from service.recommender.index import Neighbour
from service.recommender.neighbours import DUPLICATE_GROUP_MAX, duplicate_groups
from tests.factories import corpus


def test_a_near_duplicate_is_all_but_identical_or_alike_under_the_same_title() -> None:
    titles = title_fingerprints(["Sleep well", "sleep WELL!", "Sleep better", "", "Re: Sleep well"])
    rule = NearDuplicates(0.95, 0.8, titles, titles[:1])  # the list of article 0
    columns = np.array([[1, 2, 1, 2, 3, 4, -1]])
    cosines = np.array([[0.85, 0.85, 0.79, 0.96, 0.99, 0.85, 0.99]], np.float32)
    # 1: same title, alike; 2: another title, only alike; 1 at 0.79: too unlike; 2 at 0.96: all
    # but identical; 3 (no title) only by its cosine; 4: the same title as a reply; -1: a pad
    assert rule.mask(columns, cosines).tolist() == [[True, False, False, True, True, True, False]]
    # without the titles, or without the title threshold, by the cosine alone
    for by_cosine in (
        NearDuplicates(0.95),
        NearDuplicates(0.95, 0.8, titles, None),
        NearDuplicates(0.95, None, titles, titles[:1]),
    ):
        assert by_cosine.mask(columns, cosines).tolist() == [[False, False, False, True, True, False, False]]


def test_title_fingerprints_are_the_same_in_every_process_and_none_for_a_title_without_words() -> None:
    titles = ["Tips &amp; tricks", "Tips & TRICKS", "Re: tips, tricks", "Bread", "?!"]
    here = title_fingerprints(titles)
    assert here[0] == here[1] == here[2] != here[3] and here[4] == NO_TITLE and (here[:4] > 0).all()
    code = (
        "from service.recommender.duplicates import title_fingerprints; "
        f"print(title_fingerprints({titles!r}).tolist())"
    )
    elsewhere = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    )
    assert elsewhere.stdout.strip() == str(here.tolist())


def _variant(words: list[str], changed: int, extra: str) -> str:
    """``words`` with the last ``changed`` replaced by words of ``extra``'s own."""
    return " ".join(words[: len(words) - changed] + [f"{extra}{place}" for place in range(changed)])


def templated_corpus() -> list[Document]:
    """The factories' four subjects, plus two pages from one template under different titles, a
    story filed again under its title with a few words changed, and an exact copy retitled."""
    documents = [Document(r["id"], r["title"], r["body"]) for r in corpus(30)]
    template = ("syndrome gene mutation inherited pattern cells protein disorder symptoms signs " * 2).split()
    template += [f"rareword{place}" for place in range(30)]
    story = [f"storyword{place}" for place in range(50)]
    return [
        *documents,
        Document("type-1", "Tremble syndrome type 1", _variant(template, 6, "alpha")),
        Document("type-2", "Tremble syndrome type 2", _variant(template, 6, "beta")),
        Document("story", "Council votes on bridge", " ".join(story)),
        Document("story-again", "Council votes on bridge", _variant(story, 6, "edit")),
        Document("story-retitled", "Bridge vote: the council decides", " ".join(story)),
        # the changed words once more, so that the index keeps them (min_df 2)
        Document(
            "glossary",
            "Glossary",
            " ".join(f"{word}{place}" for word in ("alpha", "beta", "edit") for place in range(6)),
        ),
    ]


def test_templated_pages_are_each_others_related_and_a_story_filed_again_is_one() -> None:
    documents = templated_corpus()
    index = RelatedIndex().fit(documents)
    row = {document.id: place for place, document in enumerate(documents)}
    cosine = {(n.id): n.cosine for n in index.neighbours(row["type-1"])}
    story = {(n.id): n.cosine for n in index.neighbours(row["story"])}
    # the pairs are in the band that tells them apart
    assert (
        0.8 <= cosine["type-2"] < 0.95
        and 0.8 <= story["story-again"] < 0.95
        and story["story-retitled"] >= 0.95
    )
    served = [index.ids_[column] for column in index.distinct_neighbours(row["type-1"], 5)]
    assert served[0] == "type-2"  # the closest match leads
    assert index.group_of("story") == index.group_of("story-again") == index.group_of("story-retitled")
    assert index.group_of("type-1") != index.group_of("type-2")
    assert not {"story-again", "story-retitled"} & {
        index.ids_[column] for column in index.distinct_neighbours(row["story"], 20)
    }
    # at the old rule (any pair at 0.8) the template's two pages were one article
    by_cosine = RelatedIndex(duplicate_threshold=0.8, duplicate_title_threshold=None).fit(documents)
    assert by_cosine.group_of("type-1") == by_cosine.group_of("type-2")


def test_an_article_scored_on_the_fly_knows_its_near_duplicates_by_title_too() -> None:
    index = RelatedIndex().fit(templated_corpus())
    candidates = [
        Neighbour("story", 0.9, 0.85),
        Neighbour("type-2", 0.9, 0.85),
        Neighbour("unknown", 0.9, 0.97),
    ]
    found = index.near_duplicates_of("Council votes on bridge!", candidates)
    assert [n.id for n in found] == ["story", "unknown"]  # "unknown" (not indexed) by its cosine
    assert [n.id for n in index.near_duplicates_of("Another title", candidates)] == ["unknown"]
    assert index.near_duplicates_of("Council votes on bridge", []) == []
    # an index built before titles counted: by the cosine alone
    del index.title_fingerprints_, index.duplicate_title_threshold
    assert [n.id for n in index.near_duplicates_of("Council votes on bridge", candidates)] == ["unknown"]


def _chain(length: int) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour lists where each row's one neighbour, the next row, duplicates it."""
    neighbours = np.array([[row + 1 if row + 1 < length else -1] for row in range(length)])
    return neighbours, np.ones((length, 1), dtype=bool)


def test_near_duplicates_join_a_story_filed_a_few_times_but_not_a_whole_template() -> None:
    assert duplicate_groups(*_chain(DUPLICATE_GROUP_MAX)).tolist() == [0] * DUPLICATE_GROUP_MAX
    larger = DUPLICATE_GROUP_MAX + 1
    assert duplicate_groups(*_chain(larger)).tolist() == list(range(larger))


def test_notices_alike_but_for_their_date_keep_every_list_full(
    client: FlaskClient, runner: FlaskCliRunner, admin: dict[str, str]
) -> None:
    notices = [
        {
            "id": f"notice-{day}",
            "title": "Pool opening hours",
            "body": "The pool opens at seven and closes at nine; lanes are free on weekday mornings.",
            "published_at": f"2025-03-{day:02d}T08:00:00Z",
        }
        for day in range(1, 16)
    ]
    assert client.post("/api/v1/articles", json=notices, headers=admin).status_code == 200
    assert runner.invoke(args=["reindex"]).exit_code == 0
    answer = client.get("/api/v1/articles/notice-1/recommendations").get_json()
    related, latest = ([item["id"] for item in answer[section]] for section in ("related", "latest"))
    assert len(related) == 5 and "notice-1" not in related
    newest_others = [f"notice-{day}" for day in range(15, 1, -1) if f"notice-{day}" not in related]
    assert latest == newest_others[:5]  # not one notice standing for all fifteen
