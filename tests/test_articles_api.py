"""Articles: upsert one, bulk all-or-nothing, read, list, delete."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import article, corpus


def test_put_creates_then_updates(client: FlaskClient, admin: dict[str, str]) -> None:
    record = article("sleep", 1)
    created = client.put("/api/v1/articles/sleep-1", json=record, headers=admin)
    assert created.status_code == 201
    assert created.json["title"] == record["title"]
    updated = client.put("/api/v1/articles/sleep-1", json={**record, "title": "New title"}, headers=admin)
    assert updated.status_code == 200
    assert client.get("/api/v1/articles/sleep-1").json["title"] == "New title"


def test_put_takes_the_id_from_the_url(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.put("/api/v1/articles/only-url-id", json={"title": "Hello"}, headers=admin)
    assert response.status_code == 201
    assert client.get("/api/v1/articles/only-url-id").json == {
        "id": "only-url-id",
        "title": "Hello",
        "body": "",
        "url": None,
        "published_at": None,
        "tags": [],
        "category": None,
    }


def test_article_round_trips_with_dates_in_utc(client: FlaskClient, admin: dict[str, str]) -> None:
    record = {
        "id": "tz",
        "title": "Zones",
        "body": "<p>Hi</p>",
        "url": "https://example.com/tz",
        "published_at": "2024-10-16T11:00:00+02:00",
        "tags": ["a", "b"],
        "category": "health",
    }
    client.put("/api/v1/articles/tz", json=record, headers=admin)
    assert client.get("/api/v1/articles/tz").json == {**record, "published_at": "2024-10-16T09:00:00Z"}
    client.put("/api/v1/articles/tz", json={**record, "published_at": "2024-10-16T09:30:00"}, headers=admin)
    assert client.get("/api/v1/articles/tz").json["published_at"] == "2024-10-16T09:30:00Z"


def test_bulk_upsert_counts_created_and_updated(client: FlaskClient, admin: dict[str, str]) -> None:
    first = client.post("/api/v1/articles", json=corpus(2), headers=admin)
    assert first.json == {"created": 8, "updated": 0}
    again = corpus(3)
    second = client.post("/api/v1/articles", json=again, headers=admin)
    assert second.json == {"created": 4, "updated": 8}
    assert client.get("/api/v1/articles").json["total"] == 12


def test_list_is_newest_first_and_pages(seeded: Flask, client: FlaskClient) -> None:
    everything = client.get("/api/v1/articles?limit=100").json
    assert everything["total"] == 16
    dates = [item["published_at"] for item in everything["articles"]]
    assert dates == sorted(dates, reverse=True)
    assert set(everything["articles"][0]) == {"id", "title", "url", "published_at"}
    page = client.get("/api/v1/articles?limit=5&offset=5").json
    assert page["articles"] == everything["articles"][5:10]
    assert page["total"] == 16


def test_delete_then_get_is_404(seeded: Flask, client: FlaskClient, admin: dict[str, str]) -> None:
    assert client.delete("/api/v1/articles/sleep-0", headers=admin).status_code == 204
    assert client.get("/api/v1/articles/sleep-0").status_code == 404
    assert client.delete("/api/v1/articles/sleep-0", headers=admin).status_code == 404


def test_delete_answers_204_without_content_or_a_content_type(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    response = client.delete("/api/v1/articles/sleep-0", headers=admin)
    assert response.status_code == 204 and response.data == b""
    assert "Content-Type" not in response.headers  # it said text/html
    assert "Content-Security-Policy" not in response.headers  # nor is it an HTML page


@pytest.mark.parametrize("failing", ["learn_neighbours", "rebuild_if_due"])
def test_a_failure_after_the_commit_still_acknowledges_the_write(
    seeded: Flask,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failing: str,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the overlay table is unreachable")

    monkeypatch.setattr(f"service.api.articles.{failing}", broken)
    seeded.config["AUTO_REBUILD"] = True
    client = seeded.test_client()
    record = article("sleep", 30)
    assert client.put("/api/v1/articles/sleep-30", json=record, headers=admin).status_code == 201
    assert client.post("/api/v1/articles", json=[article("sleep", 31)], headers=admin).status_code == 200
    assert client.delete("/api/v1/articles/sleep-1", headers=admin).status_code == 204
    assert client.get("/api/v1/articles/sleep-30").json["title"] == record["title"]
    assert client.get("/api/v1/articles/sleep-31").status_code == 200
    assert "work after a committed write failed" in caplog.text
