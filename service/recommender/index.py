"""The related-posts index: TF-IDF over title, body and labels, with precomputed neighbours."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize

from service.recommender.clusters import TopicClusters
from service.recommender.counting import TermCounts, count_terms
from service.recommender.document import Document
from service.recommender.duplicates import NearDuplicates, title_fingerprints
from service.recommender.links import SiteLinks
from service.recommender.mentions import TitleMentions, second_with_mention
from service.recommender.neighbours import (
    CandidateSimilarity,
    ProgressCallback,
    blend_latent,
    blend_similarity,
    candidate_products,
    duplicate_groups,
    exact_scores,
    favour_closest,
    merge_candidates,
    neighbour_graph,
    rerank_by_vectors,
    rerank_in_blocks,
    rerank_shared,
    top_k_rows,
    top_neighbours,
)
from service.recommender.sampling import sample_rows
from service.recommender.structure import latent_structure
from service.recommender.text import index_text, strip_html, title_text, word_pattern
from service.recommender.title_words import TitleWords, site_coherence, word_coherence
from service.recommender.titles import SharedTitles
from service.recommender.weights import TermWeights

# Below this many documents the document-frequency cut-offs would remove most of the
# vocabulary (a term in 2 of 5 articles is not "too common"), so they are relaxed.
_SMALL_CORPUS = 20
# Latent components need enough documents to be more than noise, and no more components than a
# tenth of them: 64 components of 300 articles, or any of 150, describe single articles rather
# than subjects (two random draws of 100 to 500 articles of nine corpora: +0.004 to +0.033
# precision@5 on average with a component for every 10 articles, see bench.subsets).
_MIN_LATENT_DOCUMENTS = 100
_DOCUMENTS_PER_COMPONENT = 10
_WORD = re.compile(r"\w+")

# The text block's weights are TermWeights; an index built before them holds a TfidfTransformer.
Vectorizer = tuple[CountVectorizer, TermWeights | TfidfTransformer]
# The titles' counts in a counter's vocabulary, as the build counted them beside the texts.
TitleCounts = tuple[CountVectorizer, sp.csr_matrix]


class _FittedBlock(NamedTuple):
    """A fitted block of the matrix: its vectorizer, its rows, and the titles' counts when kept."""

    vectorizer: Vectorizer | None
    block: sp.csr_matrix | None
    title_counts: TitleCounts | None = None


_NO_BLOCK = _FittedBlock(None, None)


class _Texts(NamedTuple):
    """What the word and phrase blocks read of each article, gathered once per build or transform:
    title and body as one text, the title, and how many more times the title counts (``extra``;
    None when ``title_weight`` is 1, then titles are not counted apart)."""

    texts: list[str]
    titles: list[str]
    extra: np.ndarray | None


class Neighbour(NamedTuple):
    """A similar article: ``score`` ranks it (the blend), ``cosine`` is its tf-idf cosine."""

    id: str
    score: float
    cosine: float


class TermVector(NamedTuple):
    """One L2-normalised row: its column indices (sorted) and weights."""

    indices: np.ndarray
    data: np.ndarray

    @classmethod
    def of(cls, row: sp.csr_matrix) -> TermVector:
        """From a one-row CSR matrix."""
        row = row.tocsr()
        row.sort_indices()
        return cls(row.indices, row.data)


class IndexNotFitted(RuntimeError):
    """Raised when an index is used before ``fit``."""


def _labels_of(labels: Sequence[str]) -> list[str]:
    """Analyzer for the label block: each tag or category is one token, as it is."""
    return list(labels)


def document_labels(document: Document) -> list[str]:
    """Tokens for the label block: ``tag:…`` and ``category:…``, lower-cased."""
    labels = [f"tag:{tag.strip().lower()}" for tag in document.tags if tag.strip()]
    if document.category and document.category.strip():
        labels.append(f"category:{document.category.strip().lower()}")
    return labels


class RelatedIndex:
    """TF-IDF vectors of articles and each article's nearest neighbours.

    The text block is one vocabulary over title and body (runs of CJK characters as character
    bigrams), with title term counts weighted by ``title_weight``, then weighted by
    :class:`~service.recommender.weights.TermWeights` (``term_frequency``: ``"bm25"``, a
    saturating tf normalised by document length with ``bm25_k1`` and ``bm25_b``, or ``"log"``,
    sublinear tf) times idf; tags and category form a second block scaled by ``label_weight``;
    pairs of adjacent words (phrases, stop words dropped first: "blood pressure", "data frame")
    form a third, counted and weighted the same way and scaled by ``phrase_weight`` (up to
    ``phrase_max_documents`` articles; above, their vocabulary would cost more time and memory
    than they gain).
    Rows are L2-normalised, so dot products are cosines.

    Neighbours are exact up to ``exact_below`` documents. Above, candidates come from each
    article's ``query_terms`` strongest terms that occur in at most ``candidate_max_df`` of
    the documents, and the best ``pool`` candidates are scored exactly (see
    :func:`~service.recommender.neighbours.top_neighbours`); 32 terms find nearly the lists
    of the exact search (12 lost 0.02 of precision@5 on 50k and 100k film reviews).

    Latent components (LSA: a truncated SVD of the tf-idf matrix, ``n_components`` of them but
    at most one for every 10 articles, from 100 articles; fitted on at most ``latent_sample``
    rows) re-rank each article's ``n_neighbors`` candidates by
    ``(1 - w) · tf-idf cosine + w · latent cosine``: topical neighbours that share few exact
    words move up, one-word coincidences move down. ``latent_weight="auto"`` sets ``w`` (up to
    ``latent_weight_max``, recorded as ``latent_weight_``) from how much topical structure the
    corpus has (:mod:`~service.recommender.structure`, recorded as ``latent_structure_``): from 0
    to the maximum as it grows over ``latent_structure_range``. Topical corpora (news sections,
    health sites, documentation) are well summarised by a few dozen components and gain from
    them; corpora of many small specific subjects (reviews of thousands of films) are not, and lose.

    Given sentence embeddings of the documents (``fit(..., embeddings=)``, optional: see
    :mod:`~service.recommender.embeddings`), the candidates are then re-ranked by
    ``(1 - e) · score + e · embedding cosine`` (``e`` = ``embedding_weight``; recorded as
    ``embedding_weight_``, 0 when fitted without). An article that is not indexed yet is
    ranked without them.

    Shared nearest neighbours then re-rank the candidates by ``(1 - s) · score + s · cosine of
    the two articles' neighbour lists`` (their ``shared_neighbours`` best, ``s`` =
    ``shared_weight``; 0 turns it off): an article near the same articles as this one is more
    likely on its subject than one that shares a few words by chance. ``graph_`` keeps the
    lists, so an article that is not indexed yet is re-ranked the same way.

    Topic clusters then re-rank them by ``score · (1 - c + c · agreement)`` (``c``, recorded as
    ``cluster_weight_``, is ``cluster_weight`` times how well the latent components summarise
    the corpus, as for ``latent_weight="auto"``: the clusters are drawn in their space; 0 turns
    it off): the share of k-means runs over the latent vectors
    (``cluster_runs`` seeds at each of ``cluster_sizes``, fitted on at most ``cluster_sample``
    articles) that put the two articles in the same cluster (see
    :mod:`~service.recommender.clusters`): a candidate never clustered with the article keeps
    ``1 - c`` of its score. A product, not a sum, so that it weighs the same on a site whose
    cosines are all small (where relevance is narrow, such as reviews of one film, a sum
    outweighed them). Only on sites of up to ``cluster_max_documents``
    articles: clusters this coarse cost precision where relevance is narrow and the site large
    (IMDb's 100,000 reviews, relevant = the same movie).

    The closeness by words then re-ranks them by ``(1 - w) · score + w · best score · cosine /
    closest cosine`` (``w`` = ``closest_weight``; 0 turns it off; see
    :func:`~service.recommender.neighbours.blend_closest`): relative to the list's closest
    match, so that it weighs the same where every cosine is small.

    Articles whose whole titles are the same (reply prefixes, case and punctuation aside: a
    forum thread, a story filed again, one condition on two pages; see
    :mod:`~service.recommender.titles`) then have their scores multiplied by ``1 +
    shared_title_weight`` (0 turns it off): among the candidates, articles behind one title are
    nearly always related. Titles no other article shares change nothing, nor titles of a single
    word that is not a stop word ("Wow", "Overview": generic) unless a reply ("Re: …") has it.
    Then by ``1 + title_word_weight · similarity`` of the two titles, each title word counting as
    far as the articles whose titles hold it are alike (:mod:`service.recommender.title_words`):
    on a help site a title word names a subject; on a site of film reviews ("worst") it does not.
    Then by ``1 + mention_weight · strength`` where one article's text names the other's whole
    title (:mod:`service.recommender.mentions`; only titles named by at most
    ``mention_max_share`` of the articles, on sites of up to ``mention_max_documents``).

    Articles joined by a link in either's body (:mod:`~service.recommender.links`: resolved by
    url, id, title slug or numeric id; none to a page linked from more than ``link_max_share``
    of the articles) are made candidates of each other's lists after the search, however far
    apart their words, and their scores are then multiplied by ``1 + link_weight`` (0 turns it
    off). ``links_`` keeps the resolver, so that an article scored on the fly has its links too.

    The three title steps need titles that say what articles are about: where the site's title
    coherence (:func:`~service.recommender.title_words.site_coherence`, recorded as
    ``title_coherence_``) is below ``title_coherence_min``, as on a site of film reviews whose
    titles are headlines of opinion, they are left out (``titles_describe_`` False).

    Each list then leads with the closest match by words (the highest tf-idf cosine that is not
    a near-duplicate), scored as the list's best, when its score is at least ``closest_lead`` of
    the best (None: never; :func:`~service.recommender.neighbours.lead_with_closest`): the
    re-rankings above follow the subject, and where "related" is narrow (an editor's link, the
    same condition described on another page) the one specific match could fall out of the list.

    A title that only repeats the opening of its body (as in feeds whose "title" is the first
    sentence) is not weighted again.

    Articles whose tf-idf cosine reaches ``duplicate_threshold``, or ``duplicate_title_threshold``
    under the same title (None: by cosine alone), are near-duplicates (the same story filed twice;
    :mod:`~service.recommender.duplicates`); ``groups_`` joins them so that lists can show one of each.
    """

    def __init__(
        self,
        *,
        title_weight: float = 3.0,
        term_frequency: str = "bm25",
        bm25_k1: float = 2.0,
        bm25_b: float = 0.5,
        label_weight: float = 0.35,
        phrase_weight: float = 0.5,
        phrase_max_documents: int = 20_000,
        min_df: int | float = 2,
        max_df: float = 0.5,
        max_features: int | None = None,
        stop_words: str | None = "english",
        n_neighbors: int = 64,
        n_components: int = 64,
        latent_weight: float | str = "auto",
        latent_weight_max: float = 0.35,
        latent_structure_range: tuple[float, float] = (0.005, 0.045),
        latent_sample: int = 20_000,
        shared_neighbours: int = 20,
        shared_weight: float = 0.5,
        cluster_weight: float = 0.6,
        cluster_sizes: tuple[int, ...] = (5, 10, 20, 40),
        cluster_runs: int = 4,
        cluster_sample: int = 5_000,
        cluster_max_documents: int = 20_000,
        embedding_weight: float = 0.2,
        closest_weight: float = 0.0,
        closest_lead: float | None = 0.3,
        shared_title_weight: float = 4.0,
        title_word_weight: float = 2.0,
        mention_weight: float = 0.5,
        mention_max_share: float = 0.005,
        mention_max_documents: int = 20_000,
        mention_lead: float | None = 0.3,
        title_coherence_min: float = 0.15,
        link_weight: float = 1.0,
        link_max_share: float = 0.05,
        random_state: int = 0,
        query_terms: int | None = 32,
        candidate_max_df: float = 0.02,
        pool: int = 64,
        exact_below: int = 20_000,
        duplicate_threshold: float = 0.95,
        duplicate_title_threshold: float | None = 0.8,
        block_size: int = 512,
        n_jobs: int | None = None,
    ) -> None:
        self.title_weight = title_weight
        self.term_frequency = term_frequency
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.label_weight = label_weight
        self.phrase_weight = phrase_weight
        self.phrase_max_documents = phrase_max_documents
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.stop_words = stop_words
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.latent_weight = latent_weight
        self.latent_weight_max = latent_weight_max
        self.latent_structure_range = latent_structure_range
        self.latent_sample = latent_sample
        self.shared_neighbours = shared_neighbours
        self.shared_weight = shared_weight
        self.cluster_weight = cluster_weight
        self.cluster_sizes = cluster_sizes
        self.cluster_runs = cluster_runs
        self.cluster_sample = cluster_sample
        self.cluster_max_documents = cluster_max_documents
        self.embedding_weight = embedding_weight
        self.closest_weight = closest_weight
        self.closest_lead = closest_lead
        self.shared_title_weight = shared_title_weight
        self.title_word_weight = title_word_weight
        self.mention_weight = mention_weight
        self.mention_max_share = mention_max_share
        self.mention_max_documents = mention_max_documents
        self.mention_lead = mention_lead
        self.title_coherence_min = title_coherence_min
        self.link_weight = link_weight
        self.link_max_share = link_max_share
        self.random_state = random_state
        self.query_terms = query_terms
        self.candidate_max_df = candidate_max_df
        self.pool = pool
        self.exact_below = exact_below
        self.duplicate_threshold = duplicate_threshold
        self.duplicate_title_threshold = duplicate_title_threshold
        self.block_size = block_size
        self.n_jobs = n_jobs

    _PARAMS = (
        "title_weight", "term_frequency", "bm25_k1", "bm25_b", "label_weight",
        "phrase_weight", "phrase_max_documents", "min_df", "max_df",
        "max_features", "stop_words", "n_neighbors", "n_components", "latent_weight",
        "latent_weight_max", "latent_structure_range", "latent_sample", "shared_neighbours",
        "shared_weight", "cluster_weight", "cluster_sizes", "cluster_runs", "cluster_sample",
        "cluster_max_documents",
        "embedding_weight", "closest_weight", "closest_lead", "shared_title_weight",
        "title_word_weight", "mention_weight", "mention_max_share", "mention_max_documents",
        "mention_lead", "title_coherence_min", "link_weight", "link_max_share", "random_state",
        "query_terms", "candidate_max_df", "pool", "exact_below", "duplicate_threshold",
        "duplicate_title_threshold", "block_size", "n_jobs",
    )  # fmt: skip

    def get_params(self) -> dict[str, object]:
        """The hyperparameters, as recorded in the artifact's envelope."""
        return {name: getattr(self, name) for name in self._PARAMS}

    # -- fitting ---------------------------------------------------------------------------

    def fit(
        self,
        documents: Sequence[Document],
        progress: ProgressCallback | None = None,
        embeddings: np.ndarray | None = None,
    ) -> RelatedIndex:
        """Vectorize ``documents`` and precompute every document's top neighbours;
        ``embeddings`` (optional): one L2-normalised vector per document."""
        if embeddings is not None and len(embeddings) != len(documents):
            raise ValueError(f"{len(embeddings)} embeddings for {len(documents)} documents")
        self.ids_ = [document.id for document in documents]
        self.content_hashes_ = [document.content_hash() for document in documents]
        texts = self._texts_of(documents)
        self.title_fingerprints_ = title_fingerprints([document.title for document in documents])
        text = self._fit_text(texts)
        self.text_vectorizer_ = text.vectorizer
        phrases = self._fit_phrases(texts)
        self.phrase_vectorizer_ = phrases.vectorizer
        self.label_vectorizer_, label_block = self._fit_labels(documents)
        self.matrix_ = _combine([text.block, label_block, phrases.block], len(documents))
        self.svd_ = self._fit_latent(self.matrix_)
        self.latent_structure_ = self._latent_structure()
        self.latent_weight_ = self._resolve_latent_weight()
        self.latent_ = None if self.svd_ is None or self.latent_weight_ <= 0 else self._latent(self.matrix_)
        exact = self.query_terms is None or len(documents) <= self.exact_below
        self.neighbours_, self.scores_, self.cosines_ = top_neighbours(
            self.matrix_,
            self.n_neighbors,
            block_size=self.block_size,
            n_jobs=self.n_jobs,
            progress=progress,
            latent=self.latent_,
            latent_weight=self.latent_weight_,
            query_terms=None if exact else self.query_terms,
            candidate_max_df=self.candidate_max_df,
            pool=self.pool,
        )
        links = self._fit_links(documents)
        self.embedding_weight_ = self.embedding_weight if embeddings is not None else 0.0
        if self.embedding_weight_ > 0:
            assert embeddings is not None
            self.neighbours_, self.scores_, self.cosines_ = rerank_by_vectors(
                self.neighbours_,
                self.scores_,
                self.cosines_,
                embeddings,
                self.embedding_weight_,
                n_jobs=self.n_jobs,
            )
        self.graph_ = None
        if self.shared_neighbours > 0 and self.shared_weight > 0:
            self.graph_ = neighbour_graph(self.neighbours_, self.scores_, self.shared_neighbours)
            self.neighbours_, self.scores_, self.cosines_ = rerank_shared(
                self.neighbours_,
                self.scores_,
                self.cosines_,
                self.graph_,
                self.shared_weight,
                n_jobs=self.n_jobs,
            )
        self.cluster_weight_ = self.cluster_weight * self._latent_confidence()
        self.clusters_ = self._fit_clusters(len(documents))
        self.cluster_multiply_ = True
        if self.clusters_ is not None:
            self.neighbours_, self.scores_, self.cosines_ = rerank_in_blocks(
                self.neighbours_,
                self.scores_,
                self.cosines_,
                self.clusters_.indexed_agreement,
                self.cluster_weight_,
                multiply=True,
                n_jobs=self.n_jobs,
            )
        words, self.title_coherence_ = self._fit_title_words(
            texts.titles, [text.title_counts, phrases.title_counts]
        )
        describe = self.titles_describe_
        self.titles_ = SharedTitles.fit(texts.titles) if self.shared_title_weight > 0 and describe else None
        if self.titles_ is not None:
            same_title = self.titles_.indexed_same
            self._multiply_scores(
                lambda start, stop, columns: self._title_boost(same_title(start, stop, columns))
            )
        self.title_words_ = words if self.title_word_weight > 0 and describe else None
        if self.title_words_ is not None:
            similarity = self.title_words_.indexed_similarity
            self._multiply_scores(
                lambda start, stop, columns: self._title_word_boost(similarity(start, stop, columns))
            )
        self.mentions_ = self._fit_mentions(texts) if describe else None
        if self.mentions_ is not None:
            mentioned = self.mentions_.indexed_strength
            self._multiply_scores(
                lambda start, stop, columns: self._mention_boost(mentioned(start, stop, columns))
            )
        if links is not None:
            self._multiply_scores(
                lambda start, stop, columns: self._link_boost(links.indexed_linked(start, stop, columns))
            )
        self._lead_lists()
        return self

    def _lead_lists(self) -> None:
        """The build's last steps: the closest match first, a title named once second, and the
        near-duplicate groups of the finished lists."""
        self.closest_weight_, self.closest_lead_ = self.closest_weight, self.closest_lead
        duplicates = self.near_duplicates(self.title_fingerprints_)
        self.neighbours_, self.scores_, self.cosines_ = favour_closest(
            self.neighbours_,
            self.scores_,
            self.cosines_,
            duplicates,
            weight=self.closest_weight_,
            lead=self.closest_lead_,
        )
        self.mention_lead_ = None if self.mentions_ is None else self.mention_lead
        if self.mentions_ is not None and self.mention_lead_ is not None:
            strength = self.mentions_.indexed_strength(0, len(self.neighbours_), self.neighbours_)
            self.neighbours_, self.scores_, self.cosines_ = second_with_mention(
                self.neighbours_,
                self.scores_,
                self.cosines_,
                strength,
                duplicates=duplicates,
                min_share=self.mention_lead_,
            )
        self.groups_ = duplicate_groups(self.neighbours_, duplicates.mask(self.neighbours_, self.cosines_))

    def _texts_of(self, documents: Sequence[Document]) -> _Texts:
        """The documents' texts, titles and extra title counts, read once for every block."""
        titles = [title_text(document.title) for document in documents]
        extra = None
        if self.title_weight != 1.0:
            repeats = [0.0 if _title_repeats_body(d) else self.title_weight - 1.0 for d in documents]
            extra = np.array(repeats, dtype=np.float32)
        return _Texts([_text_of(document) for document in documents], titles, extra)

    def _fit_text(self, texts: _Texts) -> _FittedBlock:
        """Fit vocabulary and weights in one pass over the text."""
        small = len(texts.texts) < _SMALL_CORPUS
        attempts = [
            (1 if small else self.min_df, 1.0 if small else self.max_df, self.stop_words),
            (1, 1.0, None),  # a corpus of stop words only still gets an index
        ]
        for min_df, max_df, stop_words in attempts:
            try:
                return self._fit_counts(self._counter(min_df, max_df, stop_words), texts)
            except ValueError:  # empty vocabulary
                continue
        return _NO_BLOCK

    def _counter(
        self, min_df: int | float, max_df: int | float, stop_words: str | None, ngrams: int = 1
    ) -> CountVectorizer:
        """A vocabulary of runs of ``ngrams`` words (combining marks kept in their words, text of
        scripts without spaces as character bigrams; see :mod:`~service.recommender.text`)."""
        return CountVectorizer(
            preprocessor=index_text,
            token_pattern=word_pattern(),
            ngram_range=(ngrams, ngrams),
            min_df=min_df,
            max_df=max_df,
            max_features=self.max_features,
            stop_words=stop_words,
            dtype=np.float32,
        )

    def _fit_counts(self, counter: CountVectorizer, texts: _Texts, scale: float = 1.0) -> _FittedBlock:
        """Fit ``counter`` and the term weights (the block's rows times ``scale``); ``ValueError``
        when no term is kept."""
        titles = None if texts.extra is None else texts.titles
        counts = count_terms(counter, texts.texts, titles, n_jobs=self.n_jobs)
        weighted = _weight_title(counts, texts.extra)
        weights = TermWeights(term_frequency=self.term_frequency, k1=self.bm25_k1, b=self.bm25_b)
        title_counts = None if counts.titles is None else (counter, counts.titles)
        block = weights.fit(weighted).transform(weighted)
        return _FittedBlock((counter, weights), block if scale == 1.0 else scale * block, title_counts)

    def _weighted(self, vectorizer: Vectorizer, texts: _Texts) -> sp.csr_matrix:
        """The weighted rows of ``texts`` with a fitted vocabulary and its weights."""
        counter, weights = vectorizer
        titles = None if texts.extra is None else counter.transform(texts.titles)
        counts = TermCounts(counter.transform(texts.texts), titles)
        return weights.transform(_weight_title(counts, texts.extra))

    def _fit_phrases(self, texts: _Texts) -> _FittedBlock:
        """The phrase block: pairs of adjacent words (stop words left out first), counted and
        weighted like the words, scaled by ``phrase_weight``; none above ``phrase_max_documents``."""
        too_many = len(texts.texts) > self.phrase_max_documents
        if self.phrase_weight <= 0 or self.text_vectorizer_ is None or too_many:
            return _NO_BLOCK
        words = self.text_vectorizer_[0]
        try:
            counter = self._counter(words.min_df, words.max_df, words.stop_words, ngrams=2)
            return self._fit_counts(counter, texts, scale=self.phrase_weight)
        except ValueError:  # no pair of words occurs often enough
            return _NO_BLOCK

    def _fit_labels(self, documents: Sequence[Document]) -> tuple[Vectorizer | None, sp.csr_matrix | None]:
        labels = [document_labels(document) for document in documents]
        if self.label_weight <= 0 or not any(labels):
            return None, None
        counter = CountVectorizer(analyzer=_labels_of, dtype=np.float32)
        counts = counter.fit_transform(labels)
        tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
        return (counter, tfidf), self.label_weight * tfidf.transform(counts)

    def _fit_links(self, documents: Sequence[Document]) -> SiteLinks | None:
        """Which articles link to which others (see :mod:`~service.recommender.links`), each
        made a candidate of the other's list; kept as ``links_`` for articles scored on the fly
        (also where none links another yet); ``None`` when no link joins two."""
        links = None
        if self.link_weight > 0:
            links = SiteLinks.fit(
                [document.id for document in documents],
                [document.body for document in documents],
                [document.url for document in documents],
                self.link_max_share,
                [document.title for document in documents],
            )
        self.links_ = links
        if links is None or not len(links.incoming):
            return None
        self._add_linked_candidates(links)
        return links

    def _link_boost(self, linked: np.ndarray) -> np.ndarray:
        """The factor of each candidate's score: ``1 + link_weight`` where a link joins the two."""
        return 1.0 + self.link_weight * linked

    def _raise_linked(
        self, columns: np.ndarray, scores: np.ndarray, cosines: np.ndarray, linked: Sequence[set[int]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For articles scored on the fly: each row's candidates that it is linked with raised."""
        joined = [[column in found for column in row] for row, found in zip(columns.tolist(), linked)]
        boost = self._link_boost(np.array(joined, dtype=np.float32).reshape(columns.shape))
        return blend_similarity(columns, scores, cosines, boost, 1.0, multiply=True)

    def _add_linked_candidates(self, links: SiteLinks) -> None:
        """Each article's linked articles made candidates of its list, scored as the search
        scores them, where the search did not find them (their text may be far apart)."""
        rows = links.rows().tolist()
        queries, columns = _missing_links(self.neighbours_, zip(rows, map(links.linked_to, rows)))
        if not len(queries):
            return
        cosines = exact_scores(self.matrix_, queries, columns)
        query_latent = None if self.latent_ is None else self.latent_[queries]
        extra = blend_latent(columns, cosines, query_latent, self.latent_, self.latent_weight_)
        self.neighbours_, self.scores_, self.cosines_ = merge_candidates(
            self.neighbours_, self.scores_, self.cosines_, queries, extra
        )

    def _multiply_scores(self, factor: CandidateSimilarity) -> None:
        """Every list re-ranked by its candidates' scores times ``factor`` of each."""
        self.neighbours_, self.scores_, self.cosines_ = rerank_in_blocks(
            self.neighbours_, self.scores_, self.cosines_, factor, 1.0, multiply=True, n_jobs=self.n_jobs
        )

    def _title_boost(self, same: np.ndarray) -> np.ndarray:
        """The factor of each candidate's score: ``1 + shared_title_weight`` where ``same`` is 1
        (applied by :func:`blend_similarity` with ``multiply`` at weight 1)."""
        return 1.0 + self.shared_title_weight * same

    def _fit_mentions(self, texts: _Texts) -> TitleMentions | None:
        """Which articles name which others' titles (none above ``mention_max_documents``)."""
        too_many = len(texts.texts) > self.mention_max_documents
        if self.mention_weight <= 0 or self.text_vectorizer_ is None or too_many:
            return None
        analyse = self.text_vectorizer_[0].build_analyzer()
        return TitleMentions.fit(texts.titles, texts.texts, analyse, self.mention_max_share)

    def _named_titles(self, texts: Sequence[str] | None) -> list[dict[int, float]] | None:
        """For articles scored on the fly: per text, the indexed articles whose titles it names
        (see :meth:`TitleMentions.named_in`); ``None`` without texts or mentions (or in an
        index built before them)."""
        mentions: TitleMentions | None = getattr(self, "mentions_", None)
        if mentions is None or texts is None or self.text_vectorizer_ is None:
            return None
        return mentions.named_in(texts, self.text_vectorizer_[0].build_analyzer())

    def _mention_boost(self, strength: np.ndarray) -> np.ndarray:
        """The factor of each candidate's score: ``1 + mention_weight · strength`` of the mention."""
        return 1.0 + self.mention_weight * strength

    def _title_word_boost(self, similarity: np.ndarray) -> np.ndarray:
        """The factor of each candidate's score: ``1 + title_word_weight · similarity`` of the titles."""
        return 1.0 + self.title_word_weight * similarity

    def _latent_confidence(self) -> float:
        """How well the latent components summarise the corpus, from 0 to 1 as its topical
        structure grows over ``latent_structure_range``."""
        if self.svd_ is None:
            return 0.0
        low, high = self.latent_structure_range
        return min(max((self.latent_structure_ - low) / (high - low), 0.0), 1.0)

    def _latent_structure(self) -> float:
        if self.svd_ is None:
            return 0.0
        return latent_structure(self.matrix_, self.svd_.n_components, random_state=self.random_state)

    def _resolve_latent_weight(self) -> float:
        if self.svd_ is None:
            return 0.0
        if self.latent_weight != "auto":
            return float(self.latent_weight)
        return self.latent_weight_max * self._latent_confidence()

    def _fit_latent(self, matrix: sp.csr_matrix) -> TruncatedSVD | None:
        n_rows, n_features = matrix.shape
        n_components = min(self.n_components, n_rows // _DOCUMENTS_PER_COMPONENT)
        if self.latent_weight == 0 or n_rows < _MIN_LATENT_DOCUMENTS or n_features <= n_components:
            return None
        sample = sample_rows(matrix, self.latent_sample, np.random.default_rng(self.random_state))
        svd = TruncatedSVD(n_components, algorithm="randomized", random_state=self.random_state)
        svd.fit(sample)
        # float32 like the matrix: half the artifact (components x every word and phrase column)
        svd.components_ = svd.components_.astype(np.float32)
        return svd

    def _fit_clusters(self, n_documents: int) -> TopicClusters | None:
        # cluster_weight_ is 0 without latent components
        if self.cluster_weight_ <= 0 or n_documents > self.cluster_max_documents:
            return None
        latent = self.latent_ if self.latent_ is not None else self._latent(self.matrix_)
        return TopicClusters.fit(
            latent,
            self.cluster_sizes,
            self.cluster_runs,
            sample=self.cluster_sample,
            random_state=self.random_state,
        )

    def _fit_title_words(
        self, titles: Sequence[str], counted: Sequence[TitleCounts | None]
    ) -> tuple[TitleWords | None, float | None]:
        """The coherence of each title word, in the latent space, and the site's
        (:func:`site_coherence`; both None without the latent space); ``counted``: the titles'
        counts the build already has (its blocks' counters and the counts)."""
        if self.svd_ is None:
            return None, None
        latent = self.latent_ if self.latent_ is not None else self._latent(self.matrix_)
        known = [found for found in counted if found is not None]
        vectors = self._title_vectors(titles, known)
        coherence = word_coherence(vectors, latent)
        return TitleWords.of(vectors, coherence), site_coherence(vectors, coherence)

    def _title_vectors(self, titles: Sequence[str], counted: Sequence[TitleCounts] = ()) -> sp.csr_matrix:
        """Each title alone as a vector of this index: :meth:`transform` of an article with only
        that title, its words counted once (the text is the title) and weighted as a title.
        A block whose counter is in ``counted`` takes those counts instead of counting again."""
        return self._vectors(
            len(titles),
            lambda vectorizer: self._title_block(vectorizer, titles, counted),
            # no labels: an empty block keeps the columns
            lambda counter, _: sp.csr_matrix((len(titles), len(counter.vocabulary_)), dtype=np.float32),
        )

    def _title_block(
        self, vectorizer: Vectorizer, titles: Sequence[str], counted: Sequence[TitleCounts]
    ) -> sp.csr_matrix:
        counter, weights = vectorizer
        known = [counts for owner, counts in counted if owner is counter]
        counts = known[0] if known else counter.transform(list(titles))
        return weights.transform(counts if self.title_weight == 1.0 else self.title_weight * counts)

    def _latent(self, vectors: sp.csr_matrix) -> np.ndarray:
        assert self.svd_ is not None
        return normalize(self.svd_.transform(vectors)).astype(np.float32)

    # -- using -----------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "matrix_"):
            raise IndexNotFitted("this RelatedIndex is not fitted yet; call fit() first")

    def transform(self, documents: Sequence[Document]) -> sp.csr_matrix:
        """L2-normalised vectors of ``documents`` in this index's space."""
        return self.transform_with_texts(documents)[0]

    def transform_with_texts(self, documents: Sequence[Document]) -> tuple[sp.csr_matrix, list[str]]:
        """:meth:`transform`, with each document's text as the index reads it (title, then body
        without markup), for :meth:`neighbours_of_vectors`: each body is read once."""
        self._check_fitted()
        texts = self._texts_of(documents)

        def labels(counter: CountVectorizer, tfidf: TfidfTransformer) -> sp.csr_matrix:
            found = counter.transform([document_labels(document) for document in documents])
            return self.label_weight * tfidf.transform(found)

        vectors = self._vectors(len(documents), lambda vectorizer: self._weighted(vectorizer, texts), labels)
        return vectors, texts.texts

    def _vectors(
        self,
        n_rows: int,
        weigh: Callable[[Vectorizer], sp.csr_matrix],
        labels: Callable[[CountVectorizer, TfidfTransformer], sp.csr_matrix],
    ) -> sp.csr_matrix:
        """The blocks side by side: words and phrases as ``weigh`` counts and weighs them with
        their vectorizer, labels by ``labels`` with theirs (L2-normalised rows)."""
        blocks: list[sp.csr_matrix | None] = []
        if self.text_vectorizer_ is not None:
            blocks.append(weigh(self.text_vectorizer_))
        if self.label_vectorizer_ is not None:
            blocks.append(labels(*self.label_vectorizer_))
        phrases: Vectorizer | None = getattr(self, "phrase_vectorizer_", None)  # absent: built before them
        if phrases is not None:
            blocks.append(self.phrase_weight * weigh(phrases))
        return _combine(blocks, n_rows)

    @property
    def size(self) -> int:
        """How many articles the index holds."""
        self._check_fitted()
        return len(self.ids_)

    def row_of(self, article_id: str) -> int | None:
        """The row of ``article_id`` in this index, or ``None`` when it was not indexed."""
        self._check_fitted()
        rows = getattr(self, "_rows", None)
        if rows is None:
            rows = self._rows = {article_id: row for row, article_id in enumerate(self.ids_)}
        return rows.get(article_id)

    def neighbours(self, row: int) -> list[Neighbour]:
        """The precomputed neighbours of an indexed row, best first."""
        return list(self.iter_neighbours(row))

    def iter_neighbours(self, row: int) -> Iterator[Neighbour]:
        """:meth:`neighbours`, made one at a time: a list usually needs only the first few."""
        self._check_fitted()
        # tolist() first: indexing a memory-mapped row element by element is slow.
        columns = self.neighbours_[row].tolist()
        scores, cosines = self.scores_[row].tolist(), self.cosines_[row].tolist()
        ids = self.ids_
        for column, score, cosine in zip(columns, scores, cosines):
            if column >= 0:
                yield Neighbour(ids[column], score, cosine)

    def plain_arrays(self) -> RelatedIndex:
        """Swap numpy memmap wrappers for plain arrays over the same mapped memory.

        Indexing a ``np.memmap`` goes through Python-level hooks (microseconds a call); a plain
        ndarray view of the same pages does not, and workers still share the pages.
        """
        for name, value in vars(self).items():
            if isinstance(value, np.memmap):
                setattr(self, name, value.view(np.ndarray))
            elif sp.issparse(value):
                for part in ("data", "indices", "indptr"):
                    array = getattr(value, part, None)
                    if isinstance(array, np.memmap):
                        setattr(value, part, array.view(np.ndarray))
        return self

    def similar_to(self, document: Document, k: int | None = None) -> list[Neighbour]:
        """Neighbours of a document that is not (or no longer) indexed: one sparse product."""
        return self.similar_to_many([document], k)[0]

    def similar_to_many(self, documents: Sequence[Document], k: int | None = None) -> list[list[Neighbour]]:
        """:meth:`similar_to` for many documents, in batches of sparse products."""
        found: list[list[Neighbour]] = []
        for start in range(0, len(documents), 64):
            batch = documents[start : start + 64]
            (vectors, texts), ids = self.transform_with_texts(batch), [d.id for d in batch]
            titles = [title_text(d.title) for d in batch]
            bodies = [d.body for d in batch]
            found.extend(
                self.neighbours_of_vectors(vectors, ids, k, titles=titles, texts=texts, bodies=bodies)
            )
        return found

    def neighbours_of_vectors(
        self,
        vectors: sp.csr_matrix,
        ids: Sequence[str],
        k: int | None = None,
        *,
        titles: Sequence[str] | None = None,
        texts: Sequence[str] | None = None,
        bodies: Sequence[str] | None = None,
    ) -> list[list[Neighbour]]:
        """The ``k`` best neighbours of each vector (of :meth:`transform`); ``ids[i]`` is left out.
        ``titles[i]`` is the title of the article of ``vectors[i]`` (without: no shared title),
        ``texts[i]`` its text as :meth:`transform_with_texts` gives it (without: no title mentions),
        ``bodies[i]`` its body as written (without: no links)."""
        self._check_fitted()
        k = self.n_neighbors if k is None else k
        similarities = (vectors @ self.matrix_.T).toarray()
        own = np.array([-1 if (row := self.row_of(article_id)) is None else row for article_id in ids])
        similarities[np.flatnonzero(own >= 0), own[own >= 0]] = 0.0
        # None in an index built before they were kept.
        graph, clusters = getattr(self, "graph_", None), getattr(self, "clusters_", None)
        shared_titles: SharedTitles | None = getattr(self, "titles_", None)
        title_words: TitleWords | None = getattr(self, "title_words_", None)
        mentions: TitleMentions | None = getattr(self, "mentions_", None)
        reranked = any(part is not None for part in (graph, clusters, shared_titles, title_words, mentions))
        links: SiteLinks | None = getattr(self, "links_", None)
        linked = None if links is None or bodies is None else links.linked_from_text(bodies, own.tolist())
        reranked = reranked or linked is not None
        columns, scores = top_k_rows(similarities, max(k, self.n_neighbors) if reranked else k)
        if linked is not None:
            columns, scores = _with_linked(columns, scores, similarities, linked)
        query_latent = None if self.latent_ is None else self._latent(vectors)
        columns, scores, cosines = blend_latent(
            columns, scores, query_latent, self.latent_, self.latent_weight_
        )
        if graph is not None:
            query_graph = neighbour_graph(
                columns, scores, self.shared_neighbours, own=own, n_columns=graph.shape[1]
            )
            shared = candidate_products(query_graph, graph, columns)
            columns, scores, cosines = blend_similarity(columns, scores, cosines, shared, self.shared_weight)
        if clusters is not None:
            latent = self._latent(vectors) if query_latent is None else query_latent
            agreement = clusters.agreement(clusters.assign(latent), columns)
            # An index built before the blend multiplied added the agreement instead.
            multiply = getattr(self, "cluster_multiply_", False)
            columns, scores, cosines = blend_similarity(
                columns, scores, cosines, agreement, self.cluster_weight_, multiply=multiply
            )
        if shared_titles is not None:
            groups = shared_titles.groups_of(titles) if titles is not None else np.full(len(ids), -1)
            boost = self._title_boost(shared_titles.same(groups, columns))
            columns, scores, cosines = blend_similarity(columns, scores, cosines, boost, 1.0, multiply=True)
        if title_words is not None and titles is not None:
            similarity = title_words.similarity(self._title_vectors(titles), columns)
            boost = self._title_word_boost(similarity)
            columns, scores, cosines = blend_similarity(columns, scores, cosines, boost, 1.0, multiply=True)
        named = self._named_titles(texts)  # each text read once for both mention steps
        if mentions is not None and named is not None:
            boost = self._mention_boost(mentions.strength(named, columns, own))
            columns, scores, cosines = blend_similarity(columns, scores, cosines, boost, 1.0, multiply=True)
        if linked is not None:
            columns, scores, cosines = self._raise_linked(columns, scores, cosines, linked)
        # Both absent in an index built before they were kept (no blend, no lead).
        weight: float = getattr(self, "closest_weight_", 0.0)
        lead: float | None = getattr(self, "closest_lead_", None)
        duplicates = self.near_duplicates(None if titles is None else title_fingerprints(titles))
        columns, scores, cosines = favour_closest(
            columns, scores, cosines, duplicates, weight=weight, lead=lead
        )
        mention_lead: float | None = getattr(self, "mention_lead_", None)  # absent: built before it
        if mention_lead is not None and mentions is not None and named is not None:
            columns, scores, cosines = second_with_mention(
                columns,
                scores,
                cosines,
                mentions.strength(named, columns, own),
                duplicates=duplicates,
                min_share=mention_lead,
            )
        columns, scores, cosines = columns[:, :k], scores[:, :k], cosines[:, :k]
        return [
            [
                Neighbour(self.ids_[column], float(score), float(cosine))
                for column, score, cosine in zip(columns[row], scores[row], cosines[row])
                if column >= 0
            ]
            for row in range(len(ids))
        ]

    @property
    def titles_describe_(self) -> bool:
        """Whether the site's titles say what its articles are about, so that the title steps
        run: its title coherence reaches ``title_coherence_min`` (or is unknown)."""
        coherence: float | None = getattr(self, "title_coherence_", None)  # absent: built before it
        return coherence is None or coherence >= self.title_coherence_min

    def near_duplicates(self, list_titles: np.ndarray | None) -> NearDuplicates:
        """The rule that tells near-duplicates apart, for lists whose articles have the title
        fingerprints ``list_titles`` (None: by cosine alone)."""
        # Both absent in an index built before titles counted: by cosine alone.
        return NearDuplicates(
            self.duplicate_threshold,
            getattr(self, "duplicate_title_threshold", None),
            getattr(self, "title_fingerprints_", None),
            list_titles,
        )

    def near_duplicates_of(self, title: str, candidates: Sequence[Neighbour]) -> list[Neighbour]:
        """Those of ``candidates`` that duplicate an article titled ``title``; a candidate not
        indexed (learned since the build) by its cosine alone."""
        if not candidates:
            return []
        rows = np.array([[-1 if (row := self.row_of(c.id)) is None else row for c in candidates]])
        cosines = np.array([[candidate.cosine for candidate in candidates]], dtype=np.float32)
        indexed = self.near_duplicates(title_fingerprints([title])).mask(rows, cosines)[0]
        alike = indexed | (cosines[0] >= self.duplicate_threshold)
        return [candidate for candidate, duplicate in zip(candidates, alike) if duplicate]

    def distinct_neighbours(self, row: int, k: int, min_score: float = 0.0) -> list[int]:
        """Rows of the ``k`` best neighbours of ``row``, one per near-duplicate group, none of its own."""
        seen = {int(self.groups_[row])}
        chosen: list[int] = []
        for column, score in zip(self.neighbours_[row].tolist(), self.scores_[row].tolist()):
            if column < 0 or score < min_score or int(self.groups_[column]) in seen:
                continue
            seen.add(int(self.groups_[column]))
            chosen.append(column)
            if len(chosen) == k:
                break
        return chosen

    def group_of(self, article_id: str) -> int | None:
        """The near-duplicate group of an indexed article."""
        row = self.row_of(article_id)
        return None if row is None else int(self.groups_[row])

    def row_vector(self, row: int) -> TermVector:
        """The stored vector of an indexed row, as views of the matrix's arrays (no copy)."""
        self._check_fitted()
        start, end = self.matrix_.indptr[row], self.matrix_.indptr[row + 1]
        indices, data = self.matrix_.indices[start:end], self.matrix_.data[start:end]
        if not self.matrix_.has_sorted_indices:  # an index built before rows were kept sorted
            order = np.argsort(indices)
            indices, data = indices[order], data[order]
        return TermVector(indices, data)

    def shared_terms(self, vector: TermVector, article_id: str, n: int = 3) -> list[str]:
        """The ``n`` words that add most to the cosine of ``vector`` with an indexed article."""
        return self.shared_terms_many(vector, [article_id], n)[0]

    def shared_terms_many(
        self, vector: TermVector, article_ids: Sequence[str], n: int = 3
    ) -> list[list[str]]:
        """:meth:`shared_terms` for several articles, in one pass over their rows."""
        rows = [self.row_of(article_id) for article_id in article_ids]
        found: list[list[str]] = [[] for _ in article_ids]
        indexed = [(place, row) for place, row in enumerate(rows) if row is not None]
        if not indexed or self.text_vectorizer_ is None or not len(vector.indices):
            return found
        others = [self.row_vector(row) for _, row in indexed]
        columns = np.concatenate([other.indices for other in others])
        weights = np.concatenate([other.data for other in others])
        owners = np.repeat(np.arange(len(others)), [len(other.indices) for other in others])
        # The vector's columns are sorted: find each of the others' columns among them.
        at = np.minimum(np.searchsorted(vector.indices, columns), len(vector.indices) - 1)
        names = self._term_names()
        # Shared, and a word (the label block's columns come after the words).
        keep = (vector.indices[at] == columns) & (columns < len(names))
        columns, owners = columns[keep], owners[keep]
        products = vector.data[at[keep]] * weights[keep]
        order = np.lexsort((-products, owners))  # by owner, then the largest products first
        columns, owners = columns[order], owners[order]
        # Each entry's rank among its owner's (owners are sorted): keep the first n of each.
        rank = np.arange(len(owners)) - np.searchsorted(owners, owners)
        first = rank < n
        for column, owner in zip(columns[first].tolist(), owners[first].tolist()):
            found[indexed[owner][0]].append(str(names[column]))
        return found

    def prepare(self) -> RelatedIndex:
        """Build the lookups serving uses (ids to rows, term names) now rather than on the
        first request that needs them (the term names of a 100k index take ~0.4 s)."""
        self.row_of("")
        if self.text_vectorizer_ is not None:
            self._term_names()
        return self

    def _term_names(self) -> np.ndarray:
        names = getattr(self, "_names", None)
        if names is None:
            assert self.text_vectorizer_ is not None
            names = self._names = self.text_vectorizer_[0].get_feature_names_out()
        return names

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state.pop("_rows", None)  # rebuilt on first use
        state.pop("_names", None)
        return state


def _missing_links(
    columns: np.ndarray, linked: Iterable[tuple[int, Iterable[int]]]
) -> tuple[np.ndarray, np.ndarray]:
    """The rows (of ``columns``, the candidates) missing some of the articles they are linked
    with (``linked``: per row, those articles), and per such row the missing ones, ``-1`` padded."""
    rows, missing = [], []
    for row, found in linked:
        absent = np.setdiff1d(np.fromiter(found, np.int64), columns[row])
        if absent.size:
            rows.append(row)
            missing.append(absent)
    padded = np.full((len(rows), max(map(len, missing), default=0)), -1, np.int64)
    for place, absent in enumerate(missing):
        padded[place, : len(absent)] = absent
    return np.array(rows, dtype=np.int64), padded


def _with_linked(
    columns: np.ndarray, scores: np.ndarray, similarities: np.ndarray, linked: Sequence[set[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's candidates with the articles it is linked with, scored by their cosines."""
    rows, extra = _missing_links(columns, enumerate(linked))
    if not len(rows):
        return columns, scores
    extra_scores = np.where(extra >= 0, similarities[rows[:, None], np.maximum(extra, 0)], 0.0)
    extra_scores = extra_scores.astype(np.float32)
    merged, merged_scores, _ = merge_candidates(
        columns, scores, scores, rows, (extra, extra_scores, extra_scores)
    )
    return merged, merged_scores


def _combine(blocks: Sequence[sp.csr_matrix | None], n_rows: int) -> sp.csr_matrix:
    """The blocks side by side, each row L2-normalised (float32 CSR)."""
    present = [block for block in blocks if block is not None]
    if not present:
        return sp.csr_matrix((n_rows, 0), dtype=np.float32)
    matrix = normalize(sp.hstack(present, format="csr", dtype=np.float32), norm="l2", copy=False)
    matrix = matrix.astype(np.float32)
    matrix.sort_indices()  # rows are searched by column (shared_terms)
    return matrix


def _weight_title(counts: TermCounts, extra: np.ndarray | None) -> sp.csr_matrix:
    """Text counts with each title's counts added ``extra`` more times (none when not counted)."""
    if counts.titles is None or extra is None:
        return counts.texts
    return (counts.texts + sp.diags(extra) @ counts.titles).tocsr()


def _title_repeats_body(document: Document) -> bool:
    """Whether the title's words are the first words of the body (a cut first sentence)."""
    title = _WORD.findall(title_text(document.title).lower())
    if not title:
        return False
    opening = _WORD.findall(document.body[: len(document.title) * 2 + 50].lower())
    return opening[: len(title)] == title


def _text_of(document: Document) -> str:
    return f"{title_text(document.title)}\n{strip_html(document.body)}"
