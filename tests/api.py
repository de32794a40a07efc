"""Small helpers for calling the API in tests."""

from __future__ import annotations

import time
from typing import Any

from flask.testing import FlaskClient

RECOMMENDATIONS = "/api/v1/articles/{}/recommendations"


def recommendations(client: FlaskClient, article_id: str, **params: Any) -> dict[str, Any]:
    """The 200 answer of the recommendations endpoint for ``article_id``."""
    response = client.get(RECOMMENDATIONS.format(article_id), query_string=params)
    assert response.status_code == 200, response.json
    return response.json


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def wait_for_reindex(client: FlaskClient, admin: dict[str, str], timeout: float = 60) -> dict[str, Any]:
    """The latest reindex job once it has finished (succeeded or failed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get("/api/v1/admin/reindex", headers=admin).json["job"]
        if job and job["state"] in ("succeeded", "failed"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError("reindex job did not finish")
