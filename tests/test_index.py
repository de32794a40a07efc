"""The recommender core: text, vectors, neighbours and artifacts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from service.recommender import Document, IndexNotFitted, RelatedIndex
from service.recommender.artifacts import (
    POINTER_NAME,
    ArtifactError,
    load_artifact,
    publish,
    read_pointer,
    save_artifact,
)
from service.recommender.neighbours import blend_similarity, rerank_in_blocks, top_neighbours
from service.recommender.text import strip_html
from tests.factories import corpus


def documents(per_topic: int = 4) -> list[Document]:
    return [
        Document(id=r["id"], title=r["title"], body=r["body"], tags=tuple(r["tags"]), category=r["category"])
        for r in corpus(per_topic)
    ]


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello <b>world</b></p>", "Hello world"),
        ("<p>one</p><p>two</p>", "one two"),
        ("Fish &amp; chips &lt;3", "Fish & chips <3"),
        ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
        ("plain text stays", "plain text stays"),
        ("<script>var x = 1;</script><style>p {}</style>Visible", "Visible"),
        ("<div>unclosed <em>tags", "unclosed tags"),
        # what the standard library's parser chokes on is text
        ("match <![a-z]> in Perl", "match <![a-z]> in Perl"),
        ("an unfinished <![CDATA[ section", "an unfinished <![CDATA[ section"),
        ("an unfinished <!-- comment", "an unfinished <!-- comment"),
        ("bad &#xFFFFFFFF; reference", "bad \ufffd reference"),
        ("stray < and <3 and </", "stray < and <3 and </"),
        # a whole document that leaves out </head>, as HTML allows
        ("<html><head><title>T</title><body><p>visible prose</p></body></html>", "T visible prose"),
        # a tag name written as text (Markdown's inline code): no element ever ends it
        ("Put it in the `<head>` of your page. Then deploy.", "Put it in the `` of your page. Then deploy."),
        ("Use a `<script>` tag here. More text.", "Use a `` tag here. More text."),
        ("<p>a</p><script>var x = 1;</script><p>b</p> and `<style>` later", "a b and `` later"),
        # HTML5's sections separate words as paragraphs do
        (
            "<header>Intro</header><main>Body</main><nav>Menu</nav><footer>Foot</footer>",
            "Intro Body Menu Foot",
        ),
        ("<figure>Chart</figure><aside>Note</aside><details>More</details>", "Chart Note More"),
    ],
)
def test_strip_html_keeps_the_text_a_reader_sees(html: str, text: str) -> None:
    assert " ".join(strip_html(html).split()) == text


def test_neighbours_match_brute_force_cosine() -> None:
    rng = np.random.default_rng(3)
    matrix = normalize(sp.random(103, 40, density=0.15, format="csr", random_state=rng, dtype=np.float32))
    dense = (matrix @ matrix.T).toarray()
    np.fill_diagonal(dense, 0)
    for block_size, n_jobs in ((7, 1), (50, 2), (500, 1)):
        neighbours, scores, cosines = top_neighbours(matrix, 5, block_size=block_size, n_jobs=n_jobs)
        np.testing.assert_array_equal(scores, cosines)
        for row in range(matrix.shape[0]):
            valid = neighbours[row] >= 0
            expected = np.sort(dense[row][dense[row] > 0])[::-1][:5]
            np.testing.assert_allclose(scores[row][valid], expected, rtol=1e-5)
            assert row not in neighbours[row]
            np.testing.assert_allclose(dense[row, neighbours[row][valid]], scores[row][valid], rtol=1e-5)


def test_reranking_in_blocks_on_threads_is_the_reranking_of_the_whole() -> None:
    rng = np.random.default_rng(5)
    neighbours = rng.integers(-1, 60, (61, 6)).astype(np.int32)
    scores = rng.random((61, 6)).astype(np.float32)
    cosines = rng.random((61, 6)).astype(np.float32)
    other = rng.random((61, 6)).astype(np.float32)

    def similarity(start: int, stop: int, columns: np.ndarray) -> np.ndarray:
        assert columns.shape == (stop - start, 6)
        return other[start:stop]

    whole = blend_similarity(neighbours, scores, cosines, other, 0.4)
    for block_size, n_jobs in ((7, 2), (8, 1), (61, 2)):
        reranked = rerank_in_blocks(
            neighbours, scores, cosines, similarity, 0.4, block_size=block_size, n_jobs=n_jobs
        )
        for part, expected in zip(reranked, whole, strict=True):
            np.testing.assert_array_equal(part, expected)


def test_related_documents_are_the_same_topic() -> None:
    index = RelatedIndex(n_neighbors=3).fit(documents(6))
    for row, article_id in enumerate(index.ids_):
        topic = article_id.split("-")[0]
        assert [other.id.split("-")[0] for other in index.neighbours(row)] == [topic] * 3


def test_title_terms_weigh_more_than_body_terms() -> None:
    filler = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda"
    docs = [
        Document("in-title", "Zebra migration", filler),
        Document("in-body", "Plains animals", f"{filler} zebra"),
        *(Document(f"other-{n}", f"Other {n}", f"{filler} mu nu xi {n}") for n in range(25)),
    ]
    index = RelatedIndex(n_neighbors=2, min_df=1).fit(docs)
    query = Document("q", "Zebra", "zebra herds")
    assert [neighbour.id for neighbour in index.similar_to(query)][:2] == ["in-title", "in-body"]


def test_character_references_in_titles_are_text_not_words() -> None:
    """Feeds and WordPress send titles with entities: "amp" and "8217" are no words of theirs,
    and two titles alike but for the escaping are alike."""
    filler = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda"
    docs = [
        Document("escaped", "Salt &amp; pepper&#8217;s secrets", filler),
        *(Document(f"tip-{n}", f"Tips &amp; tricks {n}&#8217;s", f"{filler} mu nu xi {n}") for n in range(6)),
        Document("plain", "Salt & pepper’s secrets", f"{filler} omicron"),
    ]
    index = RelatedIndex(n_neighbors=3, min_df=1).fit(docs)
    words = set(index.text_vectorizer_[0].vocabulary_)
    assert {"amp", "8217"}.isdisjoint(words) and {"salt", "pepper"} <= words
    assert index.neighbours(0)[0].id == "plain"


def test_tiny_and_odd_corpora_still_fit() -> None:
    assert RelatedIndex().fit([]).size == 0
    single = RelatedIndex().fit([Document("only", "Only one")])
    assert single.neighbours(0) == []
    stop_words_only = RelatedIndex().fit([Document("a", "the and of"), Document("b", "the of it")])
    assert stop_words_only.size == 2


def test_unfitted_index_raises_a_typed_error() -> None:
    with pytest.raises(IndexNotFitted):
        RelatedIndex().row_of("x")


def test_artifact_round_trip_is_memory_mapped(tmp_path: Path) -> None:
    index = RelatedIndex(n_neighbors=3).fit(documents())
    artifact = save_artifact(tmp_path, index, version="v1", built_at=datetime.now(UTC), fingerprint="f")
    publish(tmp_path, artifact)
    loaded = load_artifact(tmp_path, read_pointer(tmp_path) or {})
    assert loaded.version == "v1" and loaded.fingerprint == "f" and loaded.articles == 16
    assert isinstance(loaded.index.neighbours_.base, np.memmap)  # a plain view of the mapped file
    assert loaded.index.neighbours(0) == index.neighbours(0)
    assert [n.id for n in loaded.index.similar_to(documents()[0])][:3] == [n.id for n in index.neighbours(0)]


@pytest.mark.parametrize(
    "pointer", ['{"version": "x", "file": "../etc/passwd"}', "not json", '{"file": "other.pkl"}']
)
def test_a_pointer_to_anything_but_our_artifacts_is_refused(tmp_path: Path, pointer: str) -> None:
    (tmp_path / POINTER_NAME).write_text(pointer)
    with pytest.raises(ArtifactError):
        read_pointer(tmp_path)


def test_an_artifact_of_another_format_is_refused(tmp_path: Path) -> None:
    joblib.dump({"format": 999}, tmp_path / "index-old.joblib")
    with pytest.raises(ArtifactError, match="format"):
        load_artifact(tmp_path, {"version": "old", "file": "index-old.joblib"})
