"""The corpus's topical structure, which sets the latent weight, does not grow as the corpus shrinks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from service.recommender import Document, RelatedIndex
from service.recommender.structure import _explained, latent_structure

VOCABULARY = 2_000


def word_rows(n_rows: int, n_topics: int, seed: int = 0) -> sp.csr_matrix:
    """L2-normalised rows of 30 words each, drawn from one of ``n_topics`` equal slices of the
    vocabulary (``n_topics`` 1: the whole vocabulary, so no words keep company)."""
    rng = np.random.default_rng(seed)
    slice_size = VOCABULARY // n_topics
    topics = rng.integers(0, n_topics, size=n_rows)
    columns = (topics[:, None] * slice_size + rng.integers(0, slice_size, size=(n_rows, 30))).ravel()
    rows = np.repeat(np.arange(n_rows), 30)
    counts = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(n_rows, VOCABULARY))
    counts.sum_duplicates()
    return normalize(counts)


@pytest.mark.parametrize("n_rows", [300, 1_500, 3_000])
def test_topics_have_structure_and_words_without_company_have_none_at_any_size(n_rows: int) -> None:
    topical = latent_structure(word_rows(n_rows, n_topics=8), 16)
    unrelated = latent_structure(word_rows(n_rows, n_topics=1), 16)
    assert unrelated < 0.01
    assert topical > 0.05
    # what the components explain of unrelated rows alone grows as they get fewer
    explained = [_explained(word_rows(size, n_topics=1), 16) for size in (300, 1_500)]
    assert explained[0] > 2 * explained[1] > 0.0


def test_the_measure_is_reproducible_and_needs_more_rows_than_components() -> None:
    rows = word_rows(500, n_topics=8)
    assert latent_structure(rows, 16, random_state=3) == latent_structure(rows, 16, random_state=3)
    assert latent_structure(rows[:17], 16) == 0.0


def unrelated_documents(n_documents: int) -> list[Document]:
    """Short texts on nothing in common: each draws its words from one shared vocabulary."""
    rng = np.random.default_rng(1)
    words = [f"term{number}" for number in range(VOCABULARY)]
    return [
        Document(f"note-{row}", f"note {row}", " ".join(rng.choice(words, size=40)))
        for row in range(n_documents)
    ]


def test_a_small_corpus_of_unrelated_subjects_gets_no_latent_weight_nor_clusters() -> None:
    index = RelatedIndex().fit(unrelated_documents(300))
    assert index.svd_ is not None and index.svd_.n_components == 30  # one for every 10 articles
    # the components explain much of 300 short texts by chance alone, nothing beyond it
    assert float(index.svd_.explained_variance_ratio_.sum()) > 0.1
    assert index.latent_structure_ < 0.01
    assert index.latent_weight_ == 0.0 and index.cluster_weight_ == 0.0
    # a range that starts below the corpus's structure gives it weight
    lower = RelatedIndex(latent_structure_range=(-0.01, 0.01)).fit(unrelated_documents(300))
    assert 0.0 < lower.latent_weight_ < lower.latent_weight_max


def test_a_site_has_a_latent_component_for_every_ten_articles_from_a_hundred_up_to_the_maximum() -> None:
    assert RelatedIndex().fit(unrelated_documents(99)).svd_ is None
    small = RelatedIndex().fit(unrelated_documents(150)).svd_
    assert small is not None and small.n_components == 15
    capped = RelatedIndex(n_components=8).fit(unrelated_documents(150)).svd_
    assert capped is not None and capped.n_components == 8
