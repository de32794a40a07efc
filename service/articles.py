"""Articles: the record the service stores, and validation of what clients send."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from service.recommender import Document

ID_PATTERN = re.compile(r"^(?=.*[A-Za-z0-9])[A-Za-z0-9._~-]{1,200}$")


@dataclass(frozen=True)
class Article:
    """One stored article, as in CONTRACT.md."""

    id: str
    title: str
    body: str = ""
    url: str | None = None
    published_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    category: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "url": self.url,
            "published_at": isoformat(self.published_at),
            "tags": list(self.tags),
            "category": self.category,
        }

    def to_document(self) -> Document:
        return Document(
            id=self.id,
            title=self.title,
            body=self.body,
            tags=tuple(self.tags),
            category=self.category,
        )

    def content_hash(self) -> str:
        return self.to_document().content_hash()


@dataclass(frozen=True)
class FieldError:
    """One reason an article was refused; ``index`` is its place in a bulk request."""

    field: str
    message: str
    id: str | None = None
    index: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "field": self.field, "message": self.message}


class ArticleValidationError(ValueError):
    """Raised by :func:`parse_article` with every problem found in one record."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))
        self.errors = errors


def isoformat(moment: datetime | None) -> str | None:
    """``2024-10-16T09:00:00Z`` for an aware or UTC-naive datetime; ``None`` stays ``None``."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"


def parse_datetime(value: str) -> datetime:
    """Parse ISO 8601; a time without a zone is UTC. Returns an aware UTC datetime."""
    text = value.strip()
    if not text or text[0] in "+-":
        raise ValueError("not an ISO 8601 date")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _optional_string(record: dict[str, Any], name: str, errors: list[FieldError]) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError(name, "must be a string or null"))
        return None
    return value


def parse_article(record: Any, *, article_id: str | None = None) -> Article:
    """Validate a JSON record into an :class:`Article`, or raise :class:`ArticleValidationError`.

    ``article_id`` is the id from the URL of a ``PUT``: the body may omit ``id`` or repeat it.
    """
    if not isinstance(record, dict):
        raise ArticleValidationError([FieldError("article", "must be a JSON object")])
    errors: list[FieldError] = []
    raw_id = record.get("id", article_id)
    if article_id is not None and raw_id != article_id:
        errors.append(FieldError("id", f"does not match the id in the URL ({article_id!r})"))
    if not isinstance(raw_id, str) or not ID_PATTERN.match(raw_id):
        errors.append(
            FieldError("id", "must be 1-200 characters of A-Z a-z 0-9 . _ ~ - with a letter or digit")
        )
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        errors.append(FieldError("title", "must be a non-empty string"))
    body = record.get("body", "")
    if body is None:
        body = ""
    if not isinstance(body, str):
        errors.append(FieldError("body", "must be a string"))
    url = _optional_string(record, "url", errors)
    category = _optional_string(record, "category", errors)
    published_at = None
    raw_date = record.get("published_at")
    if raw_date is not None:
        try:
            if not isinstance(raw_date, str):
                raise ValueError
            published_at = parse_datetime(raw_date)
        except ValueError:
            errors.append(FieldError("published_at", "must be an ISO 8601 date and time, or null"))
    tags = record.get("tags")
    if tags is None:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        errors.append(FieldError("tags", "must be a list of strings"))
        tags = []
    if errors:
        shown_id = raw_id if isinstance(raw_id, str) else None
        raise ArticleValidationError([FieldError(e.field, e.message, id=shown_id) for e in errors])
    assert isinstance(raw_id, str) and isinstance(title, str)  # checked above
    return Article(
        id=raw_id,
        title=title,
        body=body,
        url=url,
        published_at=published_at,
        tags=_unique(tag.strip() for tag in tags if tag.strip()),
        category=category,
    )


def _unique(values: Any) -> list[str]:
    return list(dict.fromkeys(values))
