"""What makes the related list relevant: CJK and Indic text, BM25 term weights, shared nearest neighbours,
the latent weight, phrases, topic clusters, the closest match by words leading, shared titles,
and the leave-one-corpus-out choice of defaults."""

from __future__ import annotations

import json
import re
import unicodedata

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from bench import closest
from bench.corpora import Corpus
from bench.loco import leave_one_out, leave_one_out_guarded, summary
from bench.metrics import hit_at_k, precision_at_k, query_rows, served_neighbours
from service.recommender import Document, RelatedIndex
from service.recommender.clusters import TopicClusters
from service.recommender.duplicates import NearDuplicates
from service.recommender.neighbours import (
    blend_closest,
    blend_similarity,
    lead_with_closest,
    neighbour_graph,
    pair_products,
    rerank_shared,
)
from service.recommender.text import index_text, word_pattern
from service.recommender.title_words import TitleWords, site_coherence, word_coherence
from service.recommender.titles import SharedTitles, title_key
from service.recommender.weights import TermWeights
from tests.factories import corpus

# Three subjects written in Chinese, with no spaces between words: the default token pattern
# would see each clause as one word of its own and find nothing in common.
CHINESE = {
    "db": [
        "数据库索引可以加快查询速度",
        "事务隔离级别决定数据库并发行为",
        "分布式数据库需要处理事务与索引",
        "慢查询日志帮助优化数据库索引",
        "数据库备份与恢复保证数据安全",
        "查询优化器选择合适的索引执行计划",
    ],
    "food": [
        "炒菜时先热锅再放油和蔬菜",
        "米饭要用电饭锅煮得软硬适中",
        "红烧肉需要小火慢炖才好吃",
        "饺子馅用猪肉和白菜调味",
        "蔬菜汤加一点盐和胡椒更好吃",
        "早餐可以煮粥配小菜和鸡蛋",
    ],
    "ball": [
        "足球比赛中球队通过进球获胜",
        "守门员扑出点球保住比赛胜利",
        "球队教练调整阵型应对比赛",
        "前锋在比赛最后时刻打进制胜球",
        "联赛积分榜上球队争夺冠军",
        "球迷在球场为球队加油助威",
    ],
}


def chinese_documents() -> list[Document]:
    documents = []
    for topic, sentences in CHINESE.items():
        for number, sentence in enumerate(sentences):
            others = "，".join(sentences[(number + step) % len(sentences)] for step in (1, 2))
            documents.append(Document(f"{topic}-{number}", sentence[:6], f"{sentence}。{others}。"))
    return documents


# Three subjects written in Hindi: its vowel signs are combining marks, which scikit-learn's
# default token pattern takes for the end of a word ("किताब" gave no token at all).
HINDI = {
    "yoga": [
        "योग करने से शरीर लचीला और मन शांत रहता है",
        "सुबह ध्यान और प्राणायाम करना सेहत के लिए अच्छा है",
        "योग आसन रोज़ करने से पीठ का दर्द कम होता है",
        "ध्यान लगाने से तनाव घटता है और नींद अच्छी आती है",
        "प्राणायाम में साँस पर ध्यान दिया जाता है",
        "योग शिक्षक आसन सही तरीके से सिखाते हैं",
    ],
    "diet": [
        "संतुलित आहार में फल सब्ज़ियाँ और दालें शामिल होनी चाहिए",
        "चीनी कम खाने से मधुमेह का खतरा घटता है",
        "हरी सब्ज़ियाँ और फल विटामिन से भरपूर होते हैं",
        "दालें प्रोटीन का अच्छा स्रोत हैं",
        "आहार में नमक और चीनी सीमित रखें",
        "नाश्ते में फल और दलिया खाना फ़ायदेमंद है",
    ],
    "farm": [
        "किसान खेत में गेहूँ और धान की फसल उगाते हैं",
        "बारिश के मौसम में किसान धान बोते हैं",
        "खेती के लिए अच्छी मिट्टी और पानी ज़रूरी है",
        "किसान फसल को कीड़ों से बचाने के लिए दवा छिड़कते हैं",
        "गेहूँ की कटाई गर्मियों से पहले होती है",
        "खेत की सिंचाई नहर के पानी से होती है",
    ],
}


def hindi_documents() -> list[Document]:
    documents = []
    for topic, sentences in HINDI.items():
        for number, sentence in enumerate(sentences):
            other = sentences[(number + 1) % len(sentences)]
            documents.append(
                Document(f"{topic}-{number}", " ".join(sentence.split()[:3]), f"{sentence}। {other}।")
            )
    return documents


def topics_of(index: RelatedIndex, row: int, k: int) -> list[str]:
    return [neighbour.id.split("-")[0] for neighbour in index.neighbours(row)[:k]]


def test_cjk_runs_are_indexed_as_character_bigrams() -> None:
    assert index_text("提升 TiDB 建表性能。在").split() == ["提升", "tidb", "建表", "表性", "性能", "。在"]
    assert index_text("Plain English, UNCHANGED") == "plain english, unchanged"


def test_chinese_articles_find_their_own_subject() -> None:
    documents = chinese_documents()
    index = RelatedIndex(n_neighbors=3, min_df=1).fit(documents)
    for row, document in enumerate(documents):
        assert topics_of(index, row, 3) == [document.id.split("-")[0]] * 3, document.id
    # the terms that explain a match are Chinese words, not whole clauses
    vector = index.row_vector(0)
    assert all(len(term) == 2 for term in index.shared_terms(vector, index.neighbours(0)[0].id))


def test_words_keep_their_combining_marks() -> None:
    documents = hindi_documents()
    index = RelatedIndex(n_neighbors=3, min_df=1).fit(documents)
    words = {word for sentences in HINDI.values() for sentence in sentences for word in sentence.split()}
    vocabulary = set(index.text_vectorizer_[0].vocabulary_)
    assert re.findall(word_pattern(), "किताब दुनिया, اَلأَعْشَى") == ["किताब", "दुनिया", "اَلأَعْشَى"]
    assert re.findall(word_pattern(), "ℹ️ 1️⃣") == []  # an emoji's selector or keycap is no word
    assert {"प्राणायाम", "सब्ज़ियाँ", "किसान", "गेहूँ"} <= vocabulary <= words
    for row, document in enumerate(documents):
        assert topics_of(index, row, 2) == [document.id.split("-")[0]] * 2, document.id
        # the terms that explain a match are whole words
        vector = index.row_vector(row)
        assert set(index.shared_terms(vector, index.neighbours(row)[0].id)) <= words


def test_scripts_without_spaces_between_words_are_indexed_as_character_bigrams() -> None:
    assert index_text("ภาษาไทย ดี").split() == ["ภา", "าษ", "ษา", "าไ", "ไท", "ทย", "ดี"]


@given(st.text())
def test_text_without_combining_marks_is_split_as_scikit_learn_splits_it(text: str) -> None:
    plain = "".join(character for character in text if not unicodedata.category(character).startswith("M"))
    assert re.findall(word_pattern(), plain) == re.findall(r"(?u)\b\w\w+\b", plain)


def test_composed_and_decomposed_accents_are_the_same_word() -> None:
    documents = [
        Document("a", "Größe der Schriftart", "Die Größe einer Schrift in CSS. Café"),
        Document("b", "Farbe", "Die Farbe eines Elements in CSS"),
        Document("c", "Rand", "Der Rand eines Elements"),
    ]
    index = RelatedIndex(min_df=1).fit(documents)
    decomposed = Document(
        "d", unicodedata.normalize("NFD", documents[0].title), unicodedata.normalize("NFD", documents[0].body)
    )
    assert decomposed.body != documents[0].body
    assert (index.transform([decomposed]) != index.transform(documents[:1])).nnz == 0


def test_bm25_term_weights_saturate_and_normalise_by_length() -> None:
    counts = sp.csr_matrix(np.array([[1, 1, 0, 0], [8, 1, 0, 0], [1, 1, 20, 20]], dtype=np.float32))
    bm25 = TermWeights(term_frequency="bm25", k1=1.2, b=0.75).fit(counts).transform(counts).toarray()
    log = TermWeights(term_frequency="log").fit(counts).transform(counts).toarray()
    np.testing.assert_allclose(np.linalg.norm(bm25, axis=1), 1.0, rtol=1e-6)
    # a word said 8 times weighs less against a word said once than with sublinear tf
    assert bm25[1, 0] / bm25[1, 1] < log[1, 0] / log[1, 1]
    # a repeated word saturates sooner in a short document than in a long one
    fitted = TermWeights(term_frequency="bm25", b=0.75).fit(counts)
    pair = sp.csr_matrix(np.array([[2, 1, 0, 0], [2, 1, 30, 30]], dtype=np.float32))
    weights = fitted.transform(pair).toarray()
    assert weights[0, 0] / weights[0, 1] < weights[1, 0] / weights[1, 1]
    flat = TermWeights(term_frequency="bm25", b=0.0).fit(counts).transform(pair).toarray()
    assert flat[0, 0] / flat[0, 1] == pytest.approx(flat[1, 0] / flat[1, 1])


def test_unknown_term_frequency_is_refused() -> None:
    with pytest.raises(ValueError, match="term_frequency"):
        TermWeights(term_frequency="raw")


def test_the_default_index_uses_bm25_weights_and_shared_neighbours() -> None:
    documents = [Document(r["id"], r["title"], r["body"]) for r in corpus(6)]
    index = RelatedIndex().fit(documents)
    counter, weights = index.text_vectorizer_
    assert isinstance(weights, TermWeights) and weights.term_frequency == "bm25"
    assert counter.preprocessor is index_text
    assert index.graph_ is not None and index.graph_.shape == (len(documents), len(documents))
    params = index.get_params()
    assert params["term_frequency"] == "bm25" and params["shared_weight"] > 0
    off = RelatedIndex(shared_weight=0).fit(documents)
    assert off.graph_ is None


def test_shared_neighbours_lift_a_candidate_near_the_same_articles() -> None:
    # Row 0 ranks 2 above 1 on its own score; 1 is near what 0 is near (0 and 3), 2 is not.
    neighbours = np.array([[2, 1, 3], [0, 3, 2], [4, 5, 0], [0, 1, 4], [2, 5, 3], [2, 4, 1]])
    scores = np.array([[0.55, 0.5, 0.4]] + [[0.5, 0.4, 0.1]] * 5, dtype=np.float32)
    graph = neighbour_graph(neighbours, scores, 3)
    shared = pair_products(graph, graph.T.tocsr(), neighbours)
    dense = graph.toarray()
    np.testing.assert_allclose(shared[0], dense[neighbours[0]] @ dense[0], rtol=1e-6)
    assert shared[0, 1] > shared[0, 0] + 0.3
    ranked, blended, _ = rerank_shared(neighbours, scores, scores.copy(), graph, 0.5)
    assert ranked[0].tolist() == [1, 3, 2]
    np.testing.assert_allclose(blended[0, 0], 0.5 * 0.5 + 0.5 * shared[0, 1], rtol=1e-6)
    # with no weight on shared neighbours the order is the scores' own
    unchanged, _, _ = rerank_shared(neighbours, scores, scores.copy(), graph, 0.0)
    assert unchanged[0].tolist() == [2, 1, 3]


def test_an_article_scored_on_the_fly_gets_the_list_the_build_gave_it() -> None:
    documents = [Document(r["id"], r["title"], r["body"], tuple(r["tags"]), r["category"]) for r in corpus(8)]
    index = RelatedIndex(n_neighbors=10).fit(documents)
    assert index.graph_ is not None
    for row, document in enumerate(documents):
        built = index.neighbours(row)
        fresh = index.similar_to(document, k=10)
        np.testing.assert_allclose([n.score for n in fresh], [n.score for n in built], atol=1e-5)
        assert {n.id for n in fresh[:5]} == {n.id for n in built[:5]}


def test_an_index_without_a_graph_still_answers_fresh_articles() -> None:
    documents = [Document(r["id"], r["title"], r["body"]) for r in corpus(4)]
    index = RelatedIndex(n_neighbors=3).fit(documents)
    del index.graph_  # as an index built before shared neighbours were kept
    assert [n.id.split("-")[0] for n in index.similar_to(documents[0])] == ["sleep"] * 3


@pytest.mark.parametrize(("maximum", "expected"), [(0.35, 0.35), (0.5, 0.5)])
def test_auto_latent_weight_reaches_its_maximum_on_a_topical_corpus(maximum: float, expected: float) -> None:
    documents = [Document(r["id"], r["title"], r["body"]) for r in corpus(60)]
    index = RelatedIndex(latent_weight_max=maximum).fit(documents)
    assert index.latent_weight_ == pytest.approx(expected)


def cell(value: float) -> str:
    """The key of a leave-one-out table's cell for parameter ``w`` at ``value``."""
    return json.dumps({"w": value})


def test_leave_one_corpus_out_judges_a_value_on_the_corpus_it_was_not_chosen_on() -> None:
    table = {
        "a": {cell(0): 0.50, cell(1): 0.60},
        "b": {cell(0): 0.50, cell(1): 0.55},
        "c": {cell(0): 0.50, cell(1): 0.497},  # a loss within the tolerance
    }
    rows = {row["held_out"]: row for row in leave_one_out(table, "w", [0, 1], 0)}
    assert rows["a"]["chosen"] == 1 and rows["a"]["held_out_gain"] == pytest.approx(0.10)
    assert rows["a"]["others_gain"] == pytest.approx(0.0235)
    assert rows["c"]["chosen"] == 1 and rows["c"]["held_out_gain"] == pytest.approx(-0.003)
    hurt = {**table, "d": {cell(0): 0.50, cell(1): 0.47}}
    rows = {row["held_out"]: row for row in leave_one_out(hurt, "w", [0, 1], 0)}
    # a value that loses more than the tolerance on one of the others is not chosen
    assert rows["a"]["chosen"] == 0 and rows["a"]["held_out_gain"] == 0
    # chosen without d, the value's loss on d is what is reported for d
    assert rows["d"]["chosen"] == 1 and rows["d"]["held_out_gain"] == pytest.approx(-0.03)


def test_a_twin_judged_otherwise_may_lose_more_than_the_tolerance_when_twins_are_excepted() -> None:
    table = {
        "a": {cell(0): 0.50, cell(1): 0.52},
        "medquad": {cell(0): 0.91, cell(1): 0.88},  # the same pages judged by source site
        "medquad-concepts": {cell(0): 0.10, cell(1): 0.14},
    }
    strict = {row["held_out"]: row["chosen"] for row in leave_one_out(table, "w", [0, 1], 0)}
    assert strict == {"a": 0, "medquad": 1, "medquad-concepts": 0}
    twins = {"medquad": "medquad-concepts"}
    excepted = {row["held_out"]: row for row in leave_one_out(table, "w", [0, 1], 0, twins=twins)}
    assert excepted["a"]["chosen"] == 1 and excepted["a"]["held_out_gain"] == pytest.approx(0.02)
    # without its twin among the others, medquad's loss guards as any corpus's
    assert excepted["medquad-concepts"]["chosen"] == 0


def test_a_value_for_narrow_sites_is_chosen_by_hit_at_5_within_a_precision_guard() -> None:
    hits = {
        "a": {cell(0): 0.70, cell(1): 0.80},
        "b": {cell(0): 0.90, cell(1): 0.91},
        "medquad": {cell(0): 0.90, cell(1): 0.90},
        "medquad-concepts": {cell(0): 0.20, cell(1): 0.40},
    }
    precisions = {
        "a": {cell(0): 0.50, cell(1): 0.498},
        "b": {cell(0): 0.60, cell(1): 0.59},  # loses more than the tolerance
        "medquad": {cell(0): 0.93, cell(1): 0.90},  # its twin judges the same pages narrowly
        "medquad-concepts": {cell(0): 0.07, cell(1): 0.10},
    }
    rows = {row["held_out"]: row for row in leave_one_out_guarded(hits, precisions, "w", [0, 1], 0)}
    # with b among the others its precision@5 guards against the value, whatever hit@5 gains
    assert rows["a"]["chosen"] == 0 and rows["medquad"]["chosen"] == 0
    # b left out: chosen on hit@5 (medquad's loss excused by its twin), judged by hit@5 on b
    assert rows["b"]["chosen"] == 1 and rows["b"]["held_out_gain"] == pytest.approx(0.01)
    assert rows["b"]["held_out_precision_gain"] == pytest.approx(-0.01)
    assert rows["b"]["others_gain"] == pytest.approx((0.10 + 0.0 + 0.20) / 3)


def test_the_summary_gives_each_rule_its_choices_and_how_they_held() -> None:
    table = {
        "a": {cell(0): 0.50, cell(1): 0.60},
        "b": {cell(0): 0.50, cell(1): 0.55},
        "d": {cell(0): 0.50, cell(1): 0.47},
    }
    rows = leave_one_out(table, "w", [0, 1], 0)
    lines = summary({"w": rows, "w (twin excepted)": rows}, {"w": 1}).splitlines()
    assert len(lines) == 4
    # a and b left out: d guards against 1 (0 chosen, no gain); d left out: 1 chosen, −0.03 there
    assert lines[2] == "| w | 1 | 0 ×2, 1 ×1 | 2/3 | -0.0100 / -0.0300 (d) |"
    assert lines[3].startswith("| w (twin excepted) | 1 | 0 ×2, 1 ×1 |")


def phrase_documents() -> list[Document]:
    """Two articles say "blood pressure", one says "blood" and "pressure" apart; the rest is filler."""
    filler = [f"filler{n} common words here" for n in range(30)]
    return [
        Document("query", "Morning routine", "measure blood pressure at home each morning, calm"),
        Document("phrase", "Evening routine", "blood pressure readings at night, calm and seated"),
        Document("apart", "Garden routine", "pressure washer cleans blood red tiles at night, calm"),
        Document("again", "Clinic visit", "the nurse took my blood pressure twice"),
        *(Document(f"filler-{n}", f"Filler {n}", text) for n, text in enumerate(filler)),
    ]


def test_a_shared_phrase_ranks_above_the_same_words_apart() -> None:
    documents = phrase_documents()
    words_only = RelatedIndex(phrase_weight=0, latent_weight=0, shared_weight=0, min_df=1).fit(documents)
    phrases = RelatedIndex(phrase_weight=0.5, latent_weight=0, shared_weight=0, min_df=1).fit(documents)
    assert words_only.phrase_vectorizer_ is None
    assert "blood pressure" in phrases.phrase_vectorizer_[0].vocabulary_
    query = phrases.row_of("query")

    def score(index: RelatedIndex, article_id: str) -> float:
        return next(n.score for n in index.neighbours(query) if n.id == article_id)

    # "apart" shares as many words with the query as "phrase" does ("calm" included), but not the pair
    assert score(phrases, "phrase") - score(phrases, "apart") > score(words_only, "phrase") - score(
        words_only, "apart"
    )
    assert score(phrases, "phrase") > score(phrases, "apart")
    # the "why related" terms stay words
    vector = phrases.row_vector(query)
    assert all(" " not in term for term in phrases.shared_terms(vector, "phrase", n=5))


def test_phrases_are_left_out_above_their_cap_and_in_an_index_built_before_them() -> None:
    documents = phrase_documents()
    capped = RelatedIndex(phrase_max_documents=len(documents) - 1, min_df=1).fit(documents)
    assert capped.phrase_vectorizer_ is None
    assert capped.matrix_.shape[1] == len(capped.text_vectorizer_[0].vocabulary_)
    index = RelatedIndex(min_df=1).fit(documents)
    assert index.phrase_vectorizer_ is not None
    fresh = index.transform([documents[0]])
    np.testing.assert_allclose(fresh.toarray(), index.matrix_[index.row_of("query")].toarray(), atol=1e-6)
    # an index pickled before phrases existed has no phrase_vectorizer_ attribute and still answers
    del capped.phrase_vectorizer_
    assert capped.similar_to(documents[0])[0].id in {"phrase", "again", "apart"}


def test_topic_clusters_agree_within_a_subject_and_never_across() -> None:
    rng = np.random.default_rng(0)
    # Two subjects: unit vectors near two orthogonal directions.
    centres = np.eye(8, dtype=np.float32)[:2]
    latent = np.repeat(centres, 30, axis=0) + rng.normal(0, 0.05, (60, 8)).astype(np.float32)
    latent /= np.linalg.norm(latent, axis=1, keepdims=True)
    clusters = TopicClusters.fit(latent, (2, 100), 3, sample=1000, random_state=0)
    assert clusters is not None and len(clusters.centres) == 3  # 100 clusters: more than rows
    np.testing.assert_array_equal(clusters.assign(latent), clusters.labels)
    columns = np.array([[1, 29, 30, 59, -1], [31, 59, 0, 29, -1]])
    agreement = clusters.agreement(clusters.labels[[0, 30]], columns)
    np.testing.assert_allclose(agreement, [[1, 1, 0, 0, 0], [1, 1, 0, 0, 0]])
    assert TopicClusters.fit(latent[:2], (2, 5), 3, sample=1000, random_state=0) is None


def topic_documents(per_topic: int = 60) -> list[Document]:
    """Enough articles for latent components (and so clusters): four subjects."""
    return [Document(r["id"], r["title"], r["body"]) for r in corpus(per_topic)]


def test_clusters_rank_candidates_of_the_same_subject_first_and_fresh_articles_alike() -> None:
    documents = topic_documents()
    topic = np.array([document.id.split("-")[0] for document in documents])
    index = RelatedIndex(cluster_weight=1.0, shared_weight=0.0).fit(documents)
    clusters = index.clusters_
    assert clusters is not None and clusters.labels.shape == (len(documents), 16)
    valid = index.neighbours_ >= 0
    # articles of one subject share clusters; of different subjects, seldom
    every = np.tile(np.arange(len(documents)), (len(documents), 1))
    pairs = clusters.agreement(clusters.labels, every)
    same = topic[every] == topic[:, None]
    assert pairs[same].mean() > max(0.3, 4 * pairs[~same].mean())
    agreement = clusters.agreement(clusters.labels, index.neighbours_)
    # with all the weight on the clusters, a candidate never clustered with the article is dropped
    assert (agreement[valid] > 0).all()
    for row in (0, 100, 200):
        built = index.neighbours(row)[:10]
        fresh = index.similar_to(documents[row], k=10)
        np.testing.assert_allclose([n.score for n in fresh], [n.score for n in built], atol=1e-5)


def test_clusters_are_left_out_above_their_cap_and_in_an_index_built_before_them() -> None:
    documents = topic_documents()
    assert RelatedIndex(cluster_max_documents=len(documents) - 1).fit(documents).clusters_ is None
    assert RelatedIndex(cluster_weight=0).fit(documents).clusters_ is None
    index = RelatedIndex().fit(documents)
    assert index.clusters_ is not None
    # the weight is scaled like the automatic latent weight: by how well the latent space fits
    ratio = index.latent_weight_ / index.latent_weight_max
    assert 0 < index.cluster_weight_ == pytest.approx(index.cluster_weight * ratio)
    built = [n.score for n in index.neighbours(0)[:5]]
    np.testing.assert_allclose([n.score for n in index.similar_to(documents[0])[:5]], built, atol=1e-5)
    del index.cluster_multiply_  # as an index pickled while the agreement was added: it adds it
    added = index.similar_to(documents[0])[:5]
    assert {n.id.split("-")[0] for n in added} == {"sleep"}
    assert not np.allclose([n.score for n in added], built, atol=1e-3)
    del index.clusters_  # as an index pickled before topic clusters existed
    assert {n.id.split("-")[0] for n in index.similar_to(documents[0])[:5]} == {"sleep"}


def test_a_multiplied_blend_ranks_alike_whatever_the_scale_of_the_scores() -> None:
    columns = np.array([[3, 4, 5]])
    scores = np.array([[0.30, 0.25, 0.20]], np.float32)
    agreement = np.array([[0.0, 1.0, 0.5]], np.float32)
    cosines = scores.copy()
    ranked, blended, kept = blend_similarity(columns, scores, cosines, agreement, 0.6, multiply=True)
    np.testing.assert_array_equal(ranked, [[4, 5, 3]])
    # agreement 1 keeps the score, 0 keeps 1 - weight of it; the cosines travel with their columns
    np.testing.assert_allclose(blended, [[0.25, 0.2 * 0.7, 0.3 * 0.4]], rtol=1e-6)
    np.testing.assert_allclose(kept, [[0.25, 0.20, 0.30]])
    for scale in (0.01, 10.0):
        scaled, _, _ = blend_similarity(columns, scale * scores, cosines, agreement, 0.6, multiply=True)
        np.testing.assert_array_equal(scaled, ranked)
    # an added agreement outweighs small scores: the order changes with their scale
    small, _, _ = blend_similarity(columns, 0.01 * scores, cosines, agreement, 0.6)
    large, _, _ = blend_similarity(columns, 10.0 * scores, cosines, agreement, 0.6)
    assert small.tolist() != large.tolist()


BY_COSINE = NearDuplicates(0.8)  # near-duplicates by their cosine alone


def test_the_closest_match_by_words_leads_unless_scored_far_below_the_best() -> None:
    columns = np.array([[3, 4, 5, 6], [7, 8, 9, -1], [1, 2, 3, 4]])
    scores = np.array([[0.5, 0.4, 0.3, 0.2], [0.6, 0.5, 0.1, 0.0], [0.5, 0.4, 0.3, 0.2]], np.float32)
    cosines = np.array([[0.2, 0.3, 0.9, 0.4], [0.2, 0.1, 0.5, 0.0], [0.3, 0.2, 0.1, 0.1]], np.float32)
    ranked, ranked_scores, ranked_cosines = lead_with_closest(columns, scores, cosines, BY_COSINE, 0.3)
    # row 0: 5 is a near-duplicate (never served), so 6 (cosine 0.4) leads, scored as the best
    assert ranked[0].tolist() == [6, 3, 4, 5]
    np.testing.assert_allclose(ranked_scores[0], [0.5, 0.5, 0.4, 0.3])
    np.testing.assert_allclose(ranked_cosines[0], [0.4, 0.2, 0.3, 0.9])
    # row 1: 9 is the closest but scored 0.1 < 0.3 x 0.6: a match of words on another subject
    assert ranked[1].tolist() == [7, 8, 9, -1]
    # row 2: the closest already leads; nothing moves
    assert ranked[2].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(ranked_scores[2], scores[2])
    # with a share of 0 it always leads; the inputs are not changed
    assert lead_with_closest(columns, scores, cosines, BY_COSINE, 0.0)[0][1].tolist() == [9, 7, 8, -1]
    assert columns[0].tolist() == [3, 4, 5, 6] and scores[0, 3] == np.float32(0.2)
    # a near-duplicate scored above every servable candidate does not raise the lead's score
    top_duplicate = np.array([[0.9, 0.5, 0.4, 0.2]], np.float32)
    near = np.array([[0.95, 0.2, 0.3, 0.4]], np.float32)
    led, led_scores, _ = lead_with_closest(columns[:1], top_duplicate, near, BY_COSINE, 0.0)
    assert led[0].tolist() == [6, 3, 4, 5]  # 3 is the near-duplicate
    np.testing.assert_allclose(led_scores[0], [0.5, 0.9, 0.5, 0.4])  # tied with 4, the best served


def test_lists_lead_with_the_closest_match_and_fresh_articles_alike() -> None:
    documents = topic_documents()
    index = RelatedIndex(closest_lead=0.0).fit(documents)
    plain = RelatedIndex(closest_lead=None).fit(documents)
    assert index.get_params()["closest_lead"] == 0.0 and RelatedIndex().closest_lead is not None
    moved = 0
    for row, document in enumerate(documents):
        built = index.neighbours(row)
        duplicates = set(index.near_duplicates_of(document.title, built))
        closest = max((n for n in built if n not in duplicates), key=lambda n: n.cosine)
        servable = [n.score for n in built if n not in duplicates]
        assert built[0].id == closest.id and built[0].score == max(servable)
        moved += plain.neighbours(row)[0].id != closest.id
        if row % 40 == 0:
            fresh = index.similar_to(document, k=10)
            assert [n.id for n in fresh[:1]] == [closest.id]
            np.testing.assert_allclose([n.score for n in fresh], [n.score for n in built[:10]], atol=1e-5)
    assert moved > 0  # the re-rankings had put another article first somewhere
    del index.closest_lead_  # as an index built before the lead: fresh articles are ranked as it was
    assert index.similar_to(documents[0], k=10)[0].id == plain.similar_to(documents[0], k=10)[0].id


def test_closeness_by_words_weighs_relative_to_the_closest_match_whatever_the_scale() -> None:
    columns = np.array([[3, 4, 5, 6], [7, 8, -1, -1]])
    scores = np.array([[0.50, 0.48, 0.46, 0.20], [0.6, 0.5, 0.0, 0.0]], np.float32)
    cosines = np.array([[0.10, 0.90, 0.40, 0.20], [0.1, 0.6, 0.0, 0.0]], np.float32)
    ranked, ranked_scores, ranked_cosines = blend_closest(columns, scores, cosines, BY_COSINE, 0.2)
    # row 0: 4 is a near-duplicate: as close as the closest match (5, cosine 0.4), both rise
    # above 3, the best score but a quarter as close: 0.8 x 0.5 + 0.2 x 0.5 x 0.25 = 0.425
    assert ranked[0].tolist() == [4, 5, 3, 6]
    np.testing.assert_allclose(ranked_scores[0], [0.484, 0.468, 0.425, 0.21], rtol=1e-5)
    np.testing.assert_allclose(ranked_cosines[0], [0.9, 0.4, 0.1, 0.2])
    # row 1: 8, as close as the closest (0.4 + 0.12), passes 7 (0.48 + 0.02); padding stays last
    assert ranked[1].tolist() == [8, 7, -1, -1] and ranked_scores[1, 2:].tolist() == [0.0, 0.0]
    # the same order at any scale of the cosines (and of the near-duplicate threshold with them)
    # or of the scores, which keep their scale; weight 0 changes nothing
    for factor in (0.01, 0.5):
        assert (
            blend_closest(columns, scores, factor * cosines, NearDuplicates(factor * 0.8), 0.2)[0].tolist()
            == ranked.tolist()
        )
        rescaled, rescaled_scores, _ = blend_closest(columns, factor * scores, cosines, BY_COSINE, 0.2)
        assert rescaled.tolist() == ranked.tolist()
        np.testing.assert_allclose(rescaled_scores, factor * ranked_scores, rtol=1e-5)
    assert blend_closest(columns, scores, cosines, BY_COSINE, 0.0)[0] is columns


def test_closeness_by_words_re_ranks_built_and_fresh_lists_alike() -> None:
    documents = topic_documents()
    index = RelatedIndex(closest_weight=0.5, closest_lead=None).fit(documents)
    plain = RelatedIndex(closest_weight=0.0, closest_lead=None).fit(documents)
    assert index.get_params()["closest_weight"] == 0.5
    closer = 0
    for row, document in enumerate(documents):
        built, before = index.neighbours(row)[:5], plain.neighbours(row)[:5]
        closer += sum(n.cosine for n in built) > sum(n.cosine for n in before) + 1e-6
        if row % 40 == 0:
            fresh = index.similar_to(document, k=10)
            assert [n.id for n in fresh] == [n.id for n in index.neighbours(row)[:10]]
    assert closer > len(documents) // 10  # the first five are closer by words on many lists
    del index.closest_weight_  # as an index built before the blend: fresh articles are ranked as it was
    assert [n.id for n in index.similar_to(documents[0], k=10)] == [
        n.id for n in plain.similar_to(documents[0], k=10)
    ]


def test_the_joint_grid_scores_each_pair_as_a_build_with_it() -> None:
    records = corpus(60)
    documents = [Document(r["id"], r["title"], r["body"]) for r in records]
    labelled = Corpus("topics", documents, [frozenset(r["tags"][1:]) for r in records], "shares a word")
    found = closest.scores(labelled, n_jobs=1)
    assert len(found["hit"]) == len(closest.WEIGHTS) * len(closest.LEADS)
    rows = query_rows(len(documents))
    for weight, lead in [(0.0, None), (0.3, 0.0), (0.1, 0.3)]:
        index = RelatedIndex(closest_weight=weight, closest_lead=lead).fit(documents)
        served = served_neighbours(index, rows)
        key = json.dumps({closest.PARAMETER: [weight, lead]})
        assert found["precision"][key] == precision_at_k(labelled, rows, served)
        assert found["hit"][key] == hit_at_k(labelled, rows, served)
    assert len(set(found["precision"].values())) > 1  # the pairs differ somewhere


def test_titles_are_matched_without_reply_prefixes_case_or_punctuation() -> None:
    assert title_key("Re: RE: Blood pressure?") == title_key("blood  PRESSURE") == "blood pressure"
    assert title_key("AW: Fwd: Schlaf") == "schlaf"
    assert title_key("Remote work") == "remote work"  # "re" is a prefix only with its colon
    assert title_key("?!") == ""


def test_only_specific_titles_that_two_articles_share_are_kept() -> None:
    titles = ["Re: Sleep hygiene", "sleep HYGIENE", "Diet plans", "", "?!"]
    titles += ["Wow", "wow", "The end", "THE END", "Clipper", "Re: clipper", "Re: ?!"]
    shared = SharedTitles.fit(titles)
    # one word that is not a stop word is too generic to join articles ("Wow", "The end"),
    # unless a reply says it is a thread's
    assert shared is not None and shared.keys == {"clipper": 0, "sleep hygiene": 1}
    assert shared.groups.tolist() == [1, 1, -1, -1, -1, -1, -1, -1, -1, 0, 0, -1]
    assert SharedTitles.fit(["Diet plans", "Sleep hygiene", "", "Wow", "Wow", "Re:", "Re:"]) is None
    candidates = np.array([[1, 2, -1], [3, 4, 1]])
    # an unshared title matches nothing, not even another unshared one
    assert shared.same(np.array([1, -1]), candidates).tolist() == [[1, 0, 0], [0, 0, 0]]
    found = shared.groups_of(["Sleep hygiene!", "Diet plans"])
    assert shared.same(found, candidates).tolist() == [[1, 0, 0], [0, 0, 0]]


def test_an_article_of_the_same_title_moves_up_in_built_and_fresh_lists() -> None:
    documents = topic_documents()
    plain = RelatedIndex(closest_lead=None, title_word_weight=0.0).fit(documents)
    assert plain.titles_ is None  # every title its own
    assert RelatedIndex().shared_title_weight > 0 and "shared_title_weight" in RelatedIndex().get_params()
    # a reply to the article fifth in the first one's list: the same title, "Re:" before it; a
    # title of words every article of the subject has, so that its words alone do not move it
    fifth = plain.neighbours(0)[4].id
    row = next(row for row, document in enumerate(documents) if document.id == fifth)
    documents[row] = Document(fifth, "Sleep notes", documents[row].body)
    documents[0] = Document(documents[0].id, "Re: Sleep notes", documents[0].body)
    # (title words, which would raise a reply of the same title too, left out)
    without = RelatedIndex(closest_lead=None, shared_title_weight=0.0, title_word_weight=0.0).fit(documents)
    index = RelatedIndex(closest_lead=None, shared_title_weight=4.0, title_word_weight=0.0).fit(documents)
    assert [n.id for n in without.neighbours(0)].index(fifth) > 0
    assert index.neighbours(0)[0].id == fifth and index.neighbours(row)[0].id == documents[0].id
    boosted = {n.id: n.score for n in index.neighbours(0)}
    assert boosted[fifth] == pytest.approx(5 * {n.id: n.score for n in without.neighbours(0)}[fifth])
    for query in (0, row, 100):
        built = index.neighbours(query)[:10]
        fresh = index.similar_to(documents[query], k=10)
        assert [n.id for n in fresh] == [n.id for n in built]
        np.testing.assert_allclose([n.score for n in fresh], [n.score for n in built], atol=1e-5)
    del index.titles_  # as an index built before shared titles were kept
    assert index.similar_to(documents[0], k=10)[0].id == without.similar_to(documents[0], k=10)[0].id


def test_a_title_word_counts_as_far_as_the_articles_whose_titles_hold_it_are_alike() -> None:
    space = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # any two: cosine 1/3 on average
    # columns: a word of two alike articles' titles, of two unlike ones', of one title, of three
    holds = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=np.float32)
    coherence = word_coherence(sp.csr_matrix(holds * 0.5), space)
    np.testing.assert_allclose(coherence, [1.0, 0.0, 0.0, 0.0], atol=1e-6)
    unlike = sp.csr_matrix(holds[:, 1:])
    assert TitleWords.of(unlike, word_coherence(unlike, space)) is None  # no coherent word
    words = TitleWords.of(sp.csr_matrix(holds * 0.5), coherence)
    assert words is not None
    candidates = np.array([[1, 2, -1], [0, 3, 2]])
    # only the coherent word counts, in both titles: 0.5 · 1 · 0.5 · 1
    expected = [[0.25, 0.0, 0.0], [0.25, 0.0, 0.0]]
    np.testing.assert_allclose(words.indexed_similarity(0, 2, candidates), expected)
    np.testing.assert_allclose(words.similarity(sp.csr_matrix(holds[:2] * 0.5), candidates), expected)


def title_word_documents() -> list[Document]:
    """The four subjects, with a word of no subject ("weekly") in a third of the titles."""
    documents = topic_documents()
    for row in range(0, len(documents), 3):
        document = documents[row]
        documents[row] = Document(document.id, f"{document.title} weekly", document.body)
    return documents


def test_title_words_weigh_subject_words_and_raise_candidates_in_built_and_fresh_lists() -> None:
    documents = title_word_documents()
    assert RelatedIndex().title_word_weight > 0 and "title_word_weight" in RelatedIndex().get_params()
    without = RelatedIndex(closest_lead=None, title_word_weight=0.0).fit(documents)
    index = RelatedIndex(closest_lead=None, title_word_weight=2.0).fit(documents)
    assert without.title_words_ is None and index.title_words_ is not None
    vocabulary = index.text_vectorizer_[0].vocabulary_
    coherence = index.title_words_.coherence
    weekly, sleep = coherence[vocabulary["weekly"]], coherence[vocabulary["sleep"]]
    assert weekly < 0.1 and sleep > 4 * weekly
    # each candidate's score is raised by 1 + 2 · the similarity of the two titles
    similarity = index.title_words_.indexed_similarity(0, 1, without.neighbours_[:1])[0]
    before = dict(zip([without.ids_[c] for c in without.neighbours_[0]], similarity))
    scores_before = {n.id: n.score for n in without.neighbours(0)}
    after = {n.id: n.score for n in index.neighbours(0)}
    raised = [name for name in after if before[name] > 0]
    assert raised and len(raised) < len(after)
    for name, score in after.items():
        assert score == pytest.approx(scores_before[name] * (1 + 2.0 * before[name]), rel=1e-4)
    for query in (0, 100, 200):
        built = index.neighbours(query)[:10]
        fresh = index.similar_to(documents[query], k=10)
        assert [n.id for n in fresh] == [n.id for n in built]
        np.testing.assert_allclose([n.score for n in fresh], [n.score for n in built], atol=1e-5)
    del index.title_words_  # as an index built before title words were weighed
    fresh, plain = index.similar_to(documents[0], k=10), without.similar_to(documents[0], k=10)
    np.testing.assert_allclose([n.score for n in fresh], [n.score for n in plain])


def test_title_words_need_the_latent_space() -> None:
    documents = title_word_documents()[:40]  # too few articles for latent components
    index = RelatedIndex().fit(documents)
    assert index.svd_ is None and index.title_words_ is None


def test_a_site_s_title_coherence_weighs_each_shared_word_by_the_titles_that_hold_it() -> None:
    # columns: a word of three titles (coherence 0.5), of two (0.2), of one (1.0: never counted)
    holds = sp.csr_matrix(np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=np.float32))
    coherence = np.array([0.5, 0.2, 1.0], np.float32)
    assert site_coherence(holds, coherence) == pytest.approx((3 * 0.5 + 2 * 0.2) / 5)
    assert site_coherence(sp.csr_matrix(np.eye(3, dtype=np.float32)), coherence) == 0.0


def test_title_steps_are_off_where_titles_do_not_say_what_articles_are_about() -> None:
    documents = topic_documents()
    headlines = ["Great read today", "Loved every word", "Not for me", "Worth the time"]
    # each headline on articles of every subject, as a review site's titles are, over a text
    # much longer than the headline (the same words three times)
    generic = [
        Document(d.id, headlines[row % 4], f"{d.body} {d.body} {d.body}") for row, d in enumerate(documents)
    ]
    index = RelatedIndex().fit(generic)
    assert index.title_coherence_ is not None and index.title_coherence_ < index.title_coherence_min
    assert index.titles_ is None and index.title_words_ is None and index.mentions_ is None
    plain = RelatedIndex(shared_title_weight=0.0, title_word_weight=0.0, mention_weight=0.0).fit(generic)
    assert index.neighbours_.tolist() == plain.neighbours_.tolist()
    row = 5
    assert [n.id for n in index.similar_to(generic[row], k=10)] == [n.id for n in index.neighbours(row)[:10]]
    # never off at 0: the shared headlines then join articles of other subjects
    always = RelatedIndex(title_coherence_min=0.0).fit(generic)
    assert always.titles_ is not None and always.neighbours_.tolist() != index.neighbours_.tolist()
    # the same articles under titles that name their subjects keep every title step
    described = RelatedIndex().fit(documents)
    assert described.title_coherence_ is not None and described.title_coherence_ > 0.3
    assert described.titles_describe_ and described.title_words_ is not None


def test_a_title_vector_is_the_vector_of_an_article_with_only_that_title() -> None:
    documents = [Document(d.id, d.title, d.body, ("weekly",)) for d in title_word_documents()]
    titles = ["Sleep and rest: weekly", "Bread, flour and crust", "", "zzz unknown words"]
    for params in ({}, {"title_weight": 1.0}, {"phrase_weight": 0.0}):
        index = RelatedIndex(**params).fit(documents)
        alone = index.transform([Document("", title) for title in titles])
        np.testing.assert_allclose(index._title_vectors(titles).toarray(), alone.toarray(), atol=1e-6)
