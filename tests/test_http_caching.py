"""HTTP around the lists: ETag, Cache-Control and 304, compression, CORS on public paths only."""

from __future__ import annotations

import gzip
from collections.abc import Callable

import brotli
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import article, corpus

RECOMMENDATIONS = "/api/v1/articles/sleep-1/recommendations"
FRAGMENT = "/api/v1/articles/sleep-1/recommendations.html"
SITE = "https://www.example-health.com"


@pytest.fixture
def client(seeded: Flask) -> FlaskClient:
    return seeded.test_client()


@pytest.mark.parametrize("path", [RECOMMENDATIONS, FRAGMENT])
def test_answer_carries_etag_and_cache_control(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    # stored, but revalidated every time: a write is in the next answer through any cache
    assert response.headers["Cache-Control"] == "no-cache"
    etag, weak = response.get_etag()
    assert etag and not weak


@pytest.mark.parametrize("path", [RECOMMENDATIONS, FRAGMENT])
def test_matching_if_none_match_answers_304_with_empty_body(client: FlaskClient, path: str) -> None:
    etag = client.get(path).headers["ETag"]
    response = client.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == "no-cache"
    assert client.get(path, headers={"If-None-Match": '"something-else"'}).status_code == 200
    assert client.get(path, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304


def test_etag_differs_per_parameters_and_form(client: FlaskClient) -> None:
    tags = {
        client.get(RECOMMENDATIONS).headers["ETag"],
        client.get(RECOMMENDATIONS, query_string={"limit": 2}).headers["ETag"],
        client.get(RECOMMENDATIONS, query_string={"sections": "latest"}).headers["ETag"],
        client.get(FRAGMENT).headers["ETag"],
    }
    assert len(tags) == 4


def test_etag_changes_when_a_list_changes(client: FlaskClient, admin: dict[str, str]) -> None:
    latest = RECOMMENDATIONS + "?sections=latest"
    before = client.get(latest)
    newest = article("sleep", 40, published_at="2026-01-01T00:00:00Z")
    assert client.put(f"/api/v1/articles/{newest['id']}", json=newest, headers=admin).status_code == 201
    after = client.get(latest, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.json["latest"][0]["id"] == newest["id"]
    assert after.headers["ETag"] != before.headers["ETag"]


def test_etag_changes_when_popular_changes(make_app: Callable[..., Flask], admin: dict[str, str]) -> None:
    client = make_app(POPULAR_MAX_LAG_SECONDS=0.0).test_client()
    assert client.post("/api/v1/articles", json=corpus(), headers=admin).status_code == 200
    before = client.get(RECOMMENDATIONS).headers["ETag"]
    assert client.post("/api/v1/articles/running-2/views").status_code == 202
    after = client.get(RECOMMENDATIONS, headers={"If-None-Match": before})
    assert after.status_code == 200
    assert after.json["popular"][0]["id"] == "running-2"


def test_cache_max_age_is_configurable(make_app: Callable[..., Flask], admin: dict[str, str]) -> None:
    app = make_app(HTTP_CACHE_MAX_AGE=5)
    client = app.test_client()
    assert client.put("/api/v1/articles/sleep-1", json=article("sleep", 1), headers=admin).status_code == 201
    assert client.get(RECOMMENDATIONS).headers["Cache-Control"] == "public, max-age=5"


@pytest.mark.parametrize(
    ("encoding", "decompress"), [("gzip", gzip.decompress), ("br", brotli.decompress)], ids=["gzip", "br"]
)
@pytest.mark.parametrize("path", [RECOMMENDATIONS + "?limit=20", FRAGMENT + "?limit=20"])
def test_compressed_when_accepted_and_etag_still_validates(
    client: FlaskClient, path: str, encoding: str, decompress: Callable[[bytes], bytes]
) -> None:
    plain = client.get(path)
    compressed = client.get(path, headers={"Accept-Encoding": encoding})
    assert compressed.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in compressed.headers["Vary"]
    assert decompress(compressed.data) == plain.data
    assert len(compressed.data) < len(plain.data)
    # the compressed body has its own validator, and it revalidates
    assert compressed.headers["ETag"] != plain.headers["ETag"]
    revalidated = client.get(
        path, headers={"Accept-Encoding": encoding, "If-None-Match": compressed.headers["ETag"]}
    )
    assert revalidated.status_code == 304
    assert revalidated.data == b""


def test_no_compression_unless_accepted(client: FlaskClient) -> None:
    assert "Content-Encoding" not in client.get(RECOMMENDATIONS + "?limit=20").headers


def test_no_cors_headers_by_default(client: FlaskClient) -> None:
    response = client.get(RECOMMENDATIONS, headers={"Origin": SITE})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.fixture
def cors_client(make_app: Callable[..., Flask], admin: dict[str, str]) -> FlaskClient:
    app = make_app(CORS_ORIGINS=[SITE, "https://m.example-health.com"])
    client = app.test_client()
    for number in (1, 2):
        record = article("sleep", number)
        assert client.put(f"/api/v1/articles/{record['id']}", json=record, headers=admin).status_code == 201
    return client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", RECOMMENDATIONS),
        ("GET", FRAGMENT),
        ("POST", "/api/v1/articles/sleep-1/views"),
        ("POST", "/api/v1/articles/sleep-1/clicks"),
        ("GET", "/api/v1/articles/unknown/recommendations"),  # errors too, so a site can read them
    ],
)
def test_public_endpoints_allow_configured_origin(cors_client: FlaskClient, method: str, path: str) -> None:
    body = {"section": "related", "target": "sleep-2"} if path.endswith("clicks") else None
    response = cors_client.open(path, method=method, json=body, headers={"Origin": SITE})
    assert response.status_code < 500
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in response.headers["Vary"]


def test_etag_is_exposed_to_the_site(cors_client: FlaskClient) -> None:
    response = cors_client.get(RECOMMENDATIONS, headers={"Origin": SITE})
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]


def test_preflight_of_a_public_endpoint(cors_client: FlaskClient) -> None:
    response = cors_client.options(
        "/api/v1/articles/sleep-1/clicks",
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()


def test_other_origins_are_not_allowed(cors_client: FlaskClient) -> None:
    response = cors_client.get(RECOMMENDATIONS, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
def test_public_answers_vary_by_origin_for_any_request(
    make_app: Callable[..., Flask], origin: str | None
) -> None:
    """An answer without the CORS header (no Origin, or one not allowed) is cacheable too: a
    shared cache must not serve it to the allowed site. With one origin configured as well."""
    for origins in ([SITE], [SITE, "https://m.example-health.com"]):
        client = make_app(CORS_ORIGINS=origins).test_client()
        response = client.get(RECOMMENDATIONS, headers={} if origin is None else {"Origin": origin})
        assert "Origin" in response.headers.get("Vary", ""), (origins, origin)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/articles/sleep-1"),
        ("DELETE", "/api/v1/articles/sleep-1"),
        ("POST", "/api/v1/articles"),
        ("GET", "/api/v1/admin/stats"),
        ("GET", "/api/v1/admin/reindex"),
        ("PUT", "/api/v1/admin/articles/sleep-1/editorial"),
    ],
)
def test_admin_endpoints_never_allow_another_origin(
    cors_client: FlaskClient, admin: dict[str, str], method: str, path: str
) -> None:
    preflight = cors_client.options(
        path,
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    response = cors_client.open(path, method=method, headers={"Origin": SITE, **admin})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    "path", ["/healthz", RECOMMENDATIONS, "/api/v1/articles/unknown", "/api/v1/openapi.json", "/widget.js"]
)
def test_every_answer_forbids_content_sniffing(client: FlaskClient, path: str) -> None:
    assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/admin", "/demo/sleep-1", "/demo/unknown", FRAGMENT])
def test_every_html_answer_carries_security_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
