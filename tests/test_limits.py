"""Contract v1.1 limits: hostile articles and bodies get a 4xx naming the field, never a 500,
and a refused write stores nothing, on SQLite and PostgreSQL and through import-corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from service.store import Store
from tests.factories import article

ARTICLE = "/api/v1/articles/sleep-71"
HOSTILE = [
    ("title", "x" * 1_001),
    ("title", "before \ud800 after"),  # an unpaired surrogate
    ("title", "nul \x00 inside"),
    ("body", "nul \x00 inside"),
    ("body", "lone \udfff surrogate"),
    ("published_at", "0001-01-01T00:00:00+01:00"),  # year 0 in UTC
    ("published_at", "9999-12-31T23:59:59-01:00"),  # year 10000 in UTC
    ("url", "https://example.com/" + "a" * 10_000),
    ("url", "javascript:alert(1)"),
    ("url", "data:text/html,<script>alert(1)</script>"),
    ("url", "example.com/no-scheme"),
    ("url", "//evil.example/protocol-relative"),
    ("url", "https://example.com/with\x00nul"),
    ("url", "https://example.com/x\n"),  # Python's "$" matches before a final newline
    ("url", "/x\n"),
    ("url", "/with\ttab"),  # control characters, in a path too
    ("url", "https://example.com/\x01"),
    ("url", "/del\x7f"),
    ("url", "https://example.com/c1\x9b"),
    ("url", "/\\evil.example/phish"),  # browsers read a backslash as "/": //evil.example
    ("url", "https://evil.example\\@good.example/"),  # the host is evil.example to a browser
    ("url", "http://[::1"),  # an IPv6 host never closed
    ("url", "https://example.com:99999/"),  # no such port
    ("category", "c" * 201),
    ("category", ""),
    ("category", "nul \x00"),
    ("tags", ["t" * 101]),
    ("tags", [f"tag-{number}" for number in range(51)]),
    ("tags", [f"tag-{number}" for number in range(20_000)]),
    ("tags", ["   "]),
    ("tags", ["ok", "nul \x00"]),
]
ACCEPTED = [
    ("title", "x" * 1_000),
    ("url", "https://example.com/" + "a" * 2_028),  # 2,048 characters
    ("url", "/relative/path?query=1#part"),
    ("url", "HTTP://EXAMPLE.COM/upper"),
    ("url", "http://[::1]:8080/ipv6"),
    ("category", "c" * 200),
    ("tags", ["t" * 100] + [f"tag-{number}" for number in range(49)]),
    ("published_at", "0001-01-01T00:00:00Z"),
    ("published_at", "9999-12-31T23:59:59Z"),
    ("title", "emoji 🧘 and accents é are fine"),
]


def put(client: FlaskClient, admin: dict[str, str], record: dict[str, Any]) -> Any:
    # json.dumps keeps lone surrogates as \\ud800 escapes, as a hostile client would send them
    return client.put(ARTICLE, data=json.dumps(record), content_type="application/json", headers=admin)


@pytest.mark.parametrize(("field", "value"), HOSTILE, ids=[f"{f}-{i}" for i, (f, _) in enumerate(HOSTILE)])
def test_hostile_field_is_422_naming_it_and_nothing_is_stored(
    client: FlaskClient, admin: dict[str, str], store: Store, field: str, value: Any
) -> None:
    response = put(client, admin, {**article("sleep", 71), field: value})
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "invalid_article"
    assert [problem["field"] for problem in response.json["error"]["details"]] == [field]
    assert store.articles.get("sleep-71") is None


@pytest.mark.parametrize(("field", "value"), ACCEPTED, ids=[f"{f}-{i}" for i, (f, _) in enumerate(ACCEPTED)])
def test_values_at_the_limits_are_stored_and_read_back(
    client: FlaskClient, admin: dict[str, str], field: str, value: Any
) -> None:
    response = put(client, admin, {**article("sleep", 71), field: value})
    assert response.status_code == 201, response.json
    assert client.get(ARTICLE).json[field] == value


def test_bulk_with_one_hostile_record_stores_none(
    client: FlaskClient, admin: dict[str, str], store: Store
) -> None:
    records = [article("sleep", 71), {**article("sleep", 72), "title": "nul \x00"}, article("sleep", 73)]
    response = client.post(
        "/api/v1/articles", data=json.dumps(records), content_type="application/json", headers=admin
    )
    assert response.status_code == 422
    assert [(p["index"], p["field"]) for p in response.json["error"]["details"]] == [(1, "title")]
    assert store.articles.summaries(["sleep-71", "sleep-72", "sleep-73"]) == {}


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_body_nested_too_deep_is_400_invalid_json(
    client: FlaskClient, admin: dict[str, str], store: Store, depth: int
) -> None:
    body = "[" * depth + "]" * depth
    for method, path in [("PUT", ARTICLE), ("POST", "/api/v1/articles")]:
        response = client.open(path, method=method, data=body, content_type="application/json", headers=admin)
        assert response.status_code == 400
        assert response.json["error"]["code"] == "invalid_json"
    response = client.post("/api/v1/articles/sleep-71/clicks", data=body, content_type="text/plain")
    assert response.status_code in (400, 404)
    assert store.articles.get("sleep-71") is None


def test_body_nested_64_deep_is_read(client: FlaskClient, admin: dict[str, str]) -> None:
    title = "[" * 63 + "]" * 63  # the object is the 64th level
    body = '{"title": ' + title + "}"
    response = client.put(ARTICLE, data=body, content_type="application/json", headers=admin)
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["field"] == "title"


def test_import_corpus_applies_the_same_limits(runner: FlaskCliRunner, store: Store, tmp_path: Path) -> None:
    lines = [
        json.dumps(article("sleep", 71)),
        json.dumps({**article("sleep", 72), "url": "javascript:alert(1)"}),
        json.dumps({**article("sleep", 73), "published_at": "9999-12-31T23:59:59-01:00"}),
        "[" * 5_000 + "]" * 5_000,
        json.dumps({**article("sleep", 74), "title": "bad \ud800"}),
        json.dumps({**article("sleep", 75), "id": "sleep-75\n"}),
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["import-corpus", str(path)])
    assert result.exit_code != 0
    assert f"{path}:2: url:" in result.output
    assert f"{path}:3: published_at:" in result.output
    assert f"{path}:4: not valid JSON: nested deeper than 64 levels" in result.output
    assert f"{path}:5: title:" in result.output
    assert f"{path}:6: id:" in result.output
    assert store.articles.get("sleep-71") is None
