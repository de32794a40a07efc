"""Title mentions: an article whose text names another's title is raised in both their lists."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from service.recommend.fresh import FreshMatcher
from service.recommender import Document, RelatedIndex
from service.recommender.artifacts import IndexArtifact
from service.recommender.duplicates import NearDuplicates
from service.recommender.mentions import TitleMentions, second_with_mention
from service.store.articles import ArticleSummary
from tests.factories import corpus


def words(text: str) -> list[str]:
    return [word for word in text.lower().split() if word not in {"the", "a", "see"}]


TITLES = ["reset your password", "two factor login", "billing", "the", "export data", "billing"]
TEXTS = [
    "reset your password then see two factor login",  # names 1 (and its own title)
    "two factor login keeps accounts safe",
    "billing plans and invoices",
    "the the the",
    "export data as csv see billing and two factor login",  # names 1 and both "billing"s
    "invoices and billing",  # names "billing" (row 2; its own is row 5)
]


def test_a_named_title_joins_the_two_articles_both_ways_weighed_by_how_rarely_it_is_named() -> None:
    mentions = TitleMentions.fit(TITLES, TEXTS, words, max_share=0.5)
    assert mentions is not None
    candidates = np.array([[1, 2, 4, -1], [0, 4, 2, 3], [4, 5, 0, -1]])
    strength = mentions.indexed_strength(0, 3, candidates)
    # "two factor login" (row 1) is named by rows 0 and 4: log(6/2)/log(6), both ways round;
    # "billing" rows 2 and 5 are named by 4 and 5 / by 2 and 4: log(6/2)/log(6) each
    named_twice = math.log(3) / math.log(6)
    np.testing.assert_allclose(strength[0], [named_twice, 0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(strength[1], [named_twice, named_twice, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(strength[2], [named_twice, named_twice, 0, 0], rtol=1e-6)


def test_a_title_named_by_too_many_articles_or_of_stop_words_only_joins_nothing() -> None:
    # at most 1 of 6 may name a title: "two factor login" and "billing" are named twice
    assert TitleMentions.fit(TITLES, TEXTS, words, max_share=0.1) is None
    lone = TitleMentions.fit(
        ["alpha beta", "the", "gamma"], ["alpha beta", "the", "x alpha beta"], words, 0.1
    )
    assert lone is not None  # "alpha beta" named once (its own text does not count); "the" never
    np.testing.assert_allclose(
        lone.indexed_strength(0, 3, np.array([[2, 1], [0, 2], [0, 1]])), [[1, 0], [0, 0], [1, 0]]
    )


def test_new_text_finds_the_titles_it_names_and_an_indexed_article_keeps_its_pairs() -> None:
    mentions = TitleMentions.fit(TITLES, TEXTS, words, max_share=0.5)
    assert mentions is not None
    columns = np.array([[1, 2, 5, -1], [0, 2, 4, 1]])
    new = ["a note on two factor login", "nothing named here"]
    strength = mentions.strength(mentions.named_in(new, words), columns, np.array([-1, 1]))
    named_twice = math.log(3) / math.log(6)
    # the new article names row 1 only; row 1's own pairs (named by 0 and 4) come from the build
    np.testing.assert_allclose(
        strength, [[named_twice, 0, 0, 0], [named_twice, 0, named_twice, 0]], rtol=1e-6
    )


def mention_documents(place: int = 4) -> tuple[list[Document], int, str]:
    """The four subjects; the first article then names the title of the one at ``place`` in its
    list (the fifth)."""
    documents = [Document(r["id"], r["title"], r["body"]) for r in corpus(60)]
    plain = RelatedIndex(closest_lead=None).fit(documents)
    fifth = plain.neighbours(0)[place].id
    row = next(row for row, document in enumerate(documents) if document.id == fifth)
    first = documents[0]
    documents[0] = Document(first.id, first.title, f"{first.body}<p>See {documents[row].title}.</p>")
    return documents, row, fifth


def test_a_named_article_moves_up_in_built_and_fresh_lists_of_both() -> None:
    documents, row, fifth = mention_documents()
    assert RelatedIndex().mention_weight > 0 and "mention_weight" in RelatedIndex().get_params()
    without = RelatedIndex(closest_lead=None, mention_weight=0.0).fit(documents)
    index = RelatedIndex(closest_lead=None, mention_weight=0.5).fit(documents)
    assert without.mentions_ is None and index.mentions_ is not None
    before = {n.id: n.score for n in without.neighbours(0)}
    after = {n.id: n.score for n in index.neighbours(0)}
    assert [n.id for n in without.neighbours(0)].index(fifth) > 0
    assert after[fifth] == pytest.approx(before[fifth] * 1.5, rel=1e-4)  # named once: weight 1
    assert [n.id for n in index.neighbours(0)].index(fifth) < [n.id for n in without.neighbours(0)].index(
        fifth
    )
    # the named article's own list: the one naming it is raised alike
    back = {n.id: n.score for n in index.neighbours(row)}
    assert back[documents[0].id] == pytest.approx(
        1.5 * {n.id: n.score for n in without.neighbours(row)}[documents[0].id], rel=1e-4
    )
    for query in (0, row, 100):
        built = index.neighbours(query)[:10]
        fresh = index.similar_to(documents[query], k=10)
        assert [n.id for n in fresh] == [n.id for n in built]
        np.testing.assert_allclose([n.score for n in fresh], [n.score for n in built], atol=1e-5)
    new = Document("new-1", "A new note", f"<p>{documents[0].body} See {documents[row].title}.</p>")
    assert index.similar_to(new, k=10)[0].id == fifth
    del index.mentions_  # as an index built before mentions were found
    fresh, plain = index.similar_to(documents[0], k=10), without.similar_to(documents[0], k=10)
    np.testing.assert_allclose([n.score for n in fresh], [n.score for n in plain])


def test_mentions_are_left_out_above_their_cap() -> None:
    documents, _, _ = mention_documents()
    assert RelatedIndex(mention_max_documents=100).fit(documents).mentions_ is None


def test_an_edited_article_is_matched_with_the_titles_its_new_text_names() -> None:
    documents, row, fifth = mention_documents()
    index = RelatedIndex(closest_lead=None).fit(documents)
    # the first article edited after the build: it names another title now, at most as strongly
    named = documents[row + 1]
    edited = Document(documents[0].id, documents[0].title, f"{documents[0].body}<p>See {named.title}.</p>")
    artifact = IndexArtifact("v1", datetime.now(UTC), "fingerprint", index, "index.joblib")
    summary = ArticleSummary(edited.id, edited.title, None, None, content_hash=edited.content_hash())
    match = FreshMatcher({edited.id: edited}.get).match(artifact, summary)
    assert match is not None
    scores = {n.id: n.score for n in match.candidates}
    plain = {
        n.id: n.score
        for n in RelatedIndex(closest_lead=None, mention_weight=0.0).fit(documents).similar_to(edited)
    }
    assert scores[named.id] == pytest.approx(1.5 * plain[named.id], rel=1e-4)  # named in the new text
    assert scores[fifth] == pytest.approx(1.5 * plain[fifth], rel=1e-4)  # named in the indexed one


def test_a_title_only_the_article_names_takes_the_second_place_unless_scored_far_below() -> None:
    columns = np.array(
        [[10, 11, 12, 13, -1], [10, 11, 12, 13, -1], [10, 11, 12, 13, -1], [10, 11, 12, 13, -1]]
    )
    scores = np.array([[1.0, 0.9, 0.8, 0.5, 0.0]] * 4)
    cosines = np.array(
        [[0.5, 0.4, 0.3, 0.2, 0.0], [0.5, 0.4, 0.3, 0.2, 0.0], [0.5, 0.4, 0.9, 0.2, 0.0], [0.5] * 5]
    )
    strength = np.array(
        [
            [0, 0, 0.5, 1.0, 0],  # a title named once, fourth: second, scored as the one it passes
            [0, 1.0, 1.0, 0, 0],  # already second
            [0, 0, 1.0, 0, 0],  # a near-duplicate (never served)
            [0, 0, 0.95, 0, 0],  # a title others name too
        ]
    )
    moved, moved_scores, moved_cosines = second_with_mention(
        columns, scores.copy(), cosines, strength, duplicates=NearDuplicates(0.8), min_share=0.3
    )
    assert moved.tolist() == [[10, 13, 11, 12, -1], *columns[1:].tolist()]
    np.testing.assert_allclose(moved_scores[0], [1.0, 0.9, 0.9, 0.8, 0.0])
    np.testing.assert_allclose(moved_cosines[0], [0.5, 0.2, 0.4, 0.3, 0.0])
    np.testing.assert_allclose(moved_scores[1:], scores[1:])
    # scored below 0.6 of the best: left where it is
    kept, _, _ = second_with_mention(
        columns, scores.copy(), cosines, strength, duplicates=NearDuplicates(0.8), min_share=0.6
    )
    assert kept.tolist() == columns.tolist()


def test_lists_give_the_second_place_to_a_title_named_once_in_built_and_fresh_lists() -> None:
    documents, row, fifth = mention_documents(place=12)
    index = RelatedIndex(closest_lead=None, mention_weight=0.0).fit(documents)
    assert index.mention_lead_ is None  # no mentions without their weight
    without = RelatedIndex(closest_lead=None, mention_weight=0.01, mention_lead=None).fit(documents)
    assert [n.id for n in without.neighbours(0)].index(fifth) > 1
    index = RelatedIndex(closest_lead=None, mention_weight=0.01).fit(documents)
    assert [n.id for n in index.neighbours(0)].index(fifth) == 1
    assert [n.id for n in index.neighbours(row)].index(documents[0].id) <= 1
    for query in (0, row, 100):
        built = index.neighbours(query)[:10]
        fresh = index.similar_to(documents[query], k=10)
        assert [n.id for n in fresh] == [n.id for n in built]
        np.testing.assert_allclose([n.score for n in fresh], [n.score for n in built], atol=1e-5)


def test_titles_of_more_than_twelve_words_are_not_looked_for() -> None:
    long_title = " ".join(f"w{number}" for number in range(13))
    titles, texts = [long_title, long_title[3:], "other"], ["w0", f"see {long_title}", f"x {long_title[3:]}"]
    mentions = TitleMentions.fit(titles, texts, words, max_share=0.5)
    assert mentions is not None  # the 12-word title (its last twelve words) is found, the 13-word one not
    np.testing.assert_allclose(
        mentions.indexed_strength(0, 3, np.array([[1, 2], [0, 2], [0, 1]])), [[0, 0], [0, 1], [0, 1]]
    )
