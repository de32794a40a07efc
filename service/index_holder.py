"""Each worker's view of the published index, reloaded when the pointer changes."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from flask import Flask, current_app

from service.recommender.artifacts import ArtifactError, IndexArtifact, load_artifact, read_pointer

log = logging.getLogger(__name__)


class IndexHolder:
    """Holds the loaded artifact; looks for a new one at most every ``reload_seconds``.

    A new artifact is loaded completely before the reference is swapped, so requests see
    the old index or the new one. When loading fails the old one keeps serving and
    ``load_error`` says why (``/readyz`` reports it).
    """

    def __init__(self, model_dir: Path, *, reload_seconds: float = 1.0) -> None:
        self.model_dir = model_dir
        self.reload_seconds = reload_seconds
        self.load_error: str | None = None
        self._artifact: IndexArtifact | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> IndexArtifact | None:
        """The artifact to serve now, or ``None`` before the first build."""
        if time.monotonic() - self._checked_at >= self.reload_seconds:
            self.refresh()
        return self._artifact

    def refresh(self) -> None:
        """Load the published artifact if it is not the one held."""
        # While one thread loads, the others go on serving what is held.
        if not self._lock.acquire(blocking=self._artifact is None):
            return
        try:
            self._checked_at = time.monotonic()
            pointer = read_pointer(self.model_dir)
            if pointer is None or (self._artifact and pointer["file"] == self._artifact.file):
                self.load_error = None
                return
            artifact = load_artifact(self.model_dir, pointer)
            artifact.index.row_of("")  # build the id lookup now, not on a request
            self._artifact = artifact
            self.load_error = None
            log.info("serving index %s (%d articles)", artifact.version, artifact.articles)
        except (ArtifactError, OSError, ValueError, EOFError) as error:
            self.load_error = str(error)
            log.error("could not load the published index, still serving the previous one: %s", error)
        finally:
            self._lock.release()


def init_app(app: Flask) -> None:
    app.extensions["index_holder"] = IndexHolder(
        Path(app.config["MODEL_DIR"]), reload_seconds=float(app.config["INDEX_RELOAD_SECONDS"])
    )


def get_index_holder() -> IndexHolder:
    holder: IndexHolder = current_app.extensions["index_holder"]
    return holder
