"""Articles: the record the service stores, and validation of what clients send."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from service.recommender import Document

# Matched whole (``fullmatch``; ``\Z`` too, for callers that use ``match``): Python's ``$`` also
# matches before a final newline, which let "a\n" through.
ID_PATTERN = re.compile(r"(?=.*[A-Za-z0-9])[A-Za-z0-9._~-]{1,200}\Z")
# Limits of contract v1.1, the same for the API and import-corpus on every store.
MAX_TITLE = 1_000
MAX_URL = 2_048
MAX_TAGS = 50
MAX_TAG = 100
MAX_CATEGORY = 200
# NUL (PostgreSQL cannot store it) and unpaired surrogates (not encodable as UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ABSOLUTE_URL = re.compile(r"https?://[^\s/?#]+\S*", re.IGNORECASE)  # fullmatch
# Control characters (C0, DEL, C1) have no place in a URL, absolute or a path.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


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
            url=self.url,
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
    """Parse ISO 8601; a time without a zone is UTC. Returns an aware UTC datetime.

    Raises ``ValueError`` also when the UTC time falls outside years 1-9999."""
    text = value.strip()
    if not text or text[0] in "+-":
        raise ValueError("not an ISO 8601 date")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("outside years 1-9999 in UTC") from None


def _optional_string(record: dict[str, Any], name: str, errors: list[FieldError]) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError(name, "must be a string or null"))
        return None
    return value


def unstorable(text: str) -> bool:
    """Whether ``text`` holds U+0000 or an unpaired surrogate, which no store can keep alike."""
    return _UNSTORABLE.search(text) is not None


def _storable(name: str, value: object, errors: list[FieldError]) -> None:
    if isinstance(value, str) and unstorable(value):
        errors.append(FieldError(name, "must not contain U+0000 or an unpaired surrogate"))


def is_article_id(value: object) -> bool:
    """Whether ``value`` is an article id: 1-200 characters of ``[A-Za-z0-9._~-]``, one a letter
    or digit."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def _check_url(url: str | None, errors: list[FieldError]) -> None:
    if url is None:
        return
    if len(url) > MAX_URL:
        errors.append(FieldError("url", f"must be at most {MAX_URL} characters"))
    elif _CONTROL.search(url):
        errors.append(FieldError("url", "must not contain control characters"))
    elif "\\" in url:  # browsers read a backslash as "/": /\evil.example is //evil.example
        errors.append(FieldError("url", "must not contain a backslash (percent-encode it as %5C)"))
    elif not (_ABSOLUTE_URL.fullmatch(url) or (url.startswith("/") and not url.startswith("//"))):
        errors.append(FieldError("url", "must be an absolute http(s) URL or a path starting with /"))
    elif not _readable_address(url):
        errors.append(FieldError("url", "must be a valid URL (its host or port cannot be read)"))
    else:
        _storable("url", url, errors)


def _readable_address(url: str) -> bool:
    """Whether ``url``'s host and port can be read: not "http://[::1" or "http://host:99999"."""
    try:
        urlsplit(url).port  # noqa: B018 (raises ValueError for a broken host or port)
    except ValueError:
        return False
    return True


def _check_tags(tags: Any, errors: list[FieldError]) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        errors.append(FieldError("tags", "must be a list of strings"))
        return []
    if len(tags) > MAX_TAGS:
        errors.append(FieldError("tags", f"must be at most {MAX_TAGS} tags"))
        return []
    trimmed = [tag.strip() for tag in tags]
    if not all(1 <= len(tag) <= MAX_TAG for tag in trimmed):
        errors.append(FieldError("tags", f"each tag must be 1-{MAX_TAG} characters"))
    for tag in trimmed:
        _storable("tags", tag, errors)
    return trimmed


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
    if not is_article_id(raw_id):
        errors.append(
            FieldError("id", "must be 1-200 characters of A-Z a-z 0-9 . _ ~ - with a letter or digit")
        )
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        errors.append(FieldError("title", "must be a non-empty string"))
    elif len(title) > MAX_TITLE:
        errors.append(FieldError("title", f"must be at most {MAX_TITLE} characters"))
    _storable("title", title, errors)
    body = record.get("body", "")
    if body is None:
        body = ""
    if not isinstance(body, str):
        errors.append(FieldError("body", "must be a string"))
    _storable("body", body, errors)
    url = _optional_string(record, "url", errors)
    _check_url(url, errors)
    category = _optional_string(record, "category", errors)
    if category is not None and not 1 <= len(category) <= MAX_CATEGORY:
        errors.append(FieldError("category", f"must be 1-{MAX_CATEGORY} characters"))
    _storable("category", category, errors)
    published_at = None
    raw_date = record.get("published_at")
    if raw_date is not None:
        try:
            if not isinstance(raw_date, str):
                raise ValueError
            published_at = parse_datetime(raw_date)
        except ValueError:
            errors.append(FieldError("published_at", "must be an ISO 8601 date and time, or null"))
    tags = _check_tags(record.get("tags"), errors)
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
        tags=_unique(tags),
        category=category,
    )


def _unique(values: Any) -> list[str]:
    return list(dict.fromkeys(values))
