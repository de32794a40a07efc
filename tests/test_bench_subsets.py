"""The smaller-sites benchmark: random subsets of a corpus, the service against tuned TF-IDF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import subsets
from bench.corpora import Corpus
from service.recommender import Document
from tests.conftest import shared_corpus


def test_a_draw_keeps_each_article_with_its_label_and_depends_on_the_seed() -> None:
    documents = [Document(f"a{row}", f"title {row}", "body") for row in range(50)]
    corpus = Corpus("c", documents, [frozenset({f"label{row}"}) for row in range(50)], "label")
    first, again, other = (subsets.draw(corpus, 20, seed) for seed in (1, 1, 2))
    assert len(first.documents) == len(first.labels) == 20
    assert [document.id for document in first.documents] == [document.id for document in again.documents]
    assert [document.id for document in first.documents] != [document.id for document in other.documents]
    for document, labels in zip(first.documents, first.labels):
        assert labels == {"label" + document.id[1:]}
    ids = [int(document.id[1:]) for document in first.documents]
    assert ids == sorted(ids)


@pytest.mark.slow
def test_the_benchmark_scores_both_on_each_draw_and_skips_sizes_the_corpus_lacks(tmp_path: Path) -> None:
    shared_corpus("ropensci-blog.jsonl.gz")
    output = tmp_path / "subsets.json"
    arguments = ["--corpora", "ropensci-blog", "--sizes", "300", "1000", "--draws", "1"]
    assert subsets.main([*arguments, "--output", str(output)]) == 0
    (row,) = json.loads(output.read_text())  # 1,000 is more than the blog's 667 posts
    assert (row["corpus"], row["size"]) == ("ropensci-blog", 300)
    assert 0.3 < row["tfidf_tuned"] < 1 and 0.3 < row["service"] < 1
    assert row["gain"] == pytest.approx(row["service"] - row["tfidf_tuned"]) == row["worst_gain"]
