"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from service.api.shapes import index_json
from service.index_holder import get_index_holder
from service.recommender.artifacts import IndexArtifact
from service.resources import get_store

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@blueprint.get("/readyz")
def readyz() -> tuple[dict[str, Any], int]:
    holder = get_index_holder()
    store_ok = get_store().ping()
    artifact = holder.current()
    ready = store_ok and artifact is not None
    index = index_json(artifact)
    if index is not None and artifact is not None:
        index.update(_ranking(artifact))
    body: dict[str, Any] = {
        "ready": ready,
        "store": "ok" if store_ok else "unavailable",
        "index": index,
        "index_error": holder.load_error,
        "problems": _problems(store_ok, artifact is not None, holder.load_error),
    }
    return body, 200 if ready else 503


def _ranking(artifact: IndexArtifact) -> dict[str, Any]:
    """How the published index ranks: its article count and the weights it was built with."""
    index = artifact.index
    return {
        "articles": artifact.articles,
        "latent_weight": round(float(getattr(index, "latent_weight_", 0.0)), 4),
        "embedding_weight": float(getattr(index, "embedding_weight_", 0.0)),
    }


def _problems(store_ok: bool, index_loaded: bool, load_error: str | None) -> list[str]:
    """What keeps the service from being ready, in sentences for operators (empty when ready)."""
    problems = []
    if not store_ok:
        problems.append("The article store is not answering (see the server log for the database error).")
    if not index_loaded and load_error is not None:
        problems.append(f"The published index could not be loaded: {load_error}")
    elif not index_loaded:
        problems.append(
            "No index has been published yet: run a reindex (POST /api/v1/admin/reindex or flask reindex)."
        )
    return problems
