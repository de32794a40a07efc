"""Small helpers for calling the API in tests."""

from __future__ import annotations

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
