"""Validating corpus records into articles, with each problem named by file and line."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from service.articles import Article, ArticleValidationError, parse_article
from service.corpus import SourceRecord, Unparsable


@dataclass
class ParsedCorpus:
    articles: list[Article] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file:line: field: message"
    invalid: int = 0


def parse_records(
    records: Iterable[SourceRecord],
    *,
    prepare: Callable[[int, Any], Any] | None = None,
) -> ParsedCorpus:
    """Validate every record; ``prepare(position, record)`` may rewrite a record first (and
    refuse it with :class:`ArticleValidationError`)."""
    parsed = ParsedCorpus()
    for position, source in enumerate(records):
        record = source.record
        if isinstance(record, Unparsable):
            parsed.problems.append(f"{source.location}: {record.reason}")
            parsed.invalid += 1
            continue
        try:
            if prepare is not None:
                record = prepare(position, record)
            parsed.articles.append(parse_article(record))
        except ArticleValidationError as error:
            parsed.invalid += 1
            parsed.problems.extend(
                f"{source.location}: {error_field.field}: {error_field.message}"
                + (f" (id {error_field.id!r})" if error_field.id else "")
                for error_field in error.errors
            )
    return parsed
