"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from service.api.shapes import index_json
from service.index_holder import get_index_holder
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
    body: dict[str, Any] = {
        "ready": ready,
        "store": "ok" if store_ok else "unavailable",
        "index": index_json(artifact),
        "index_error": holder.load_error,
    }
    return body, 200 if ready else 503
