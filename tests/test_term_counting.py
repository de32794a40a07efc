"""Counting terms in parallel chunks gives what one CountVectorizer gives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from joblib import parallel_config
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer

from service.recommender import RelatedIndex, counting
from service.recommender.counting import count_terms
from service.recommender.text import index_text
from tests.factories import corpus
from tests.test_index import documents

# Stop words, words of one letter (no token), CJK (bigrams) and plain words.
WORDS = ["the", "and", "a", "heart", "rate", "sleep", "blood", "sugar", "睡眠质量", "饮食", "fibre"]


def _counter(**params: object) -> CountVectorizer:
    counter = CountVectorizer(preprocessor=index_text, stop_words="english", dtype=np.float32)
    return counter.set_params(**params)


def _serial(
    counter: CountVectorizer, texts: list[str], titles: list[str]
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    return counter.fit_transform(texts), counter.transform(titles)


def _assert_same(left: sp.csr_matrix, right: sp.csr_matrix) -> None:
    assert left.shape == right.shape and left.dtype == right.dtype
    assert (left != right).nnz == 0


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join), min_size=1, max_size=30),
    min_df=st.sampled_from([1, 2, 0.1]),
    max_df=st.sampled_from([1.0, 0.6, 3]),
    max_features=st.sampled_from([None, 3]),
    min_chunk=st.integers(1, 6),
)
def test_chunked_counts_equal_one_vectorizer(
    texts: list[str], min_df: float, max_df: float, max_features: int | None, min_chunk: int
) -> None:
    titles = [text[: len(text) // 2] for text in texts]
    params = {"min_df": min_df, "max_df": max_df, "max_features": max_features}
    serial_counter, chunked_counter = _counter(**params), _counter(**params)
    try:
        expected = _serial(serial_counter, texts, titles)
    except ValueError as error:  # nothing kept: the chunked count refuses the same way
        with parallel_config(backend="threading"), pytest.raises(ValueError, match=str(error)[:20]):
            count_terms(chunked_counter, texts, titles, n_jobs=3, min_chunk=min_chunk)
        return
    with parallel_config(backend="threading"):
        counts = count_terms(chunked_counter, texts, titles, n_jobs=3, min_chunk=min_chunk)
    assert chunked_counter.vocabulary_ == serial_counter.vocabulary_
    _assert_same(expected[0], counts.texts)
    assert counts.titles is not None
    _assert_same(expected[1], counts.titles)
    # the fitted counter goes on counting new text as the serial one does
    _assert_same(serial_counter.transform(WORDS), chunked_counter.transform(WORDS))


def test_a_chunk_of_stop_words_only_still_merges() -> None:
    texts = ["the and a"] * 4 + ["blood sugar and sleep", "sleep and blood"] * 2
    counter = _counter(min_df=1)
    with parallel_config(backend="threading"):
        counts = count_terms(counter, texts, None, n_jobs=2, min_chunk=4)
    assert counts.titles is None
    _assert_same(clone(counter).fit_transform(texts), counts.texts)
    assert counts.texts[:4].nnz == 0


def test_worker_processes_count_as_one_vectorizer() -> None:
    """Real loky processes, as a build with ``n_jobs`` uses them."""
    rows = corpus(40)
    texts = [f"{row['title']}\n{row['body']}" for row in rows]
    titles = [row["title"] for row in rows]
    serial_counter, chunked_counter = _counter(min_df=2, max_df=0.5), _counter(min_df=2, max_df=0.5)
    expected = _serial(serial_counter, texts, titles)
    counts = count_terms(chunked_counter, texts, titles, n_jobs=2, min_chunk=len(texts) // 3)
    assert chunked_counter.vocabulary_ == serial_counter.vocabulary_
    _assert_same(expected[0], counts.texts)
    assert counts.titles is not None
    _assert_same(expected[1], counts.titles)


def test_an_index_fitted_on_two_workers_is_the_serial_index(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = documents(per_topic=12)
    serial = RelatedIndex(n_jobs=1).fit(docs)
    monkeypatch.setattr(counting, "MIN_CHUNK", len(docs) // 2)
    with parallel_config(backend="threading"):
        parallel = RelatedIndex(n_jobs=2).fit(docs)
    assert parallel.phrase_vectorizer_ is not None  # words and phrases both counted in chunks
    _assert_same(serial.matrix_, parallel.matrix_)
    assert np.array_equal(serial.neighbours_, parallel.neighbours_)
