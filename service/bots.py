"""Telling bots from readers: a maintained crawler list, an operator's pattern, prefetches.

The crawler list is the ``crawler-user-agents`` package (about 1,500 patterns, each tagged by
kind), not a hand-written regex: a hand-written one let ``HeadlessChrome`` through as a reader
and took phones named CUBOT for bots. The documented policy on generic HTTP clients stays: curl,
python-requests, a site's own back end (WordPress' ``wp_remote_get``) are not bots, because sites
record views from their back ends with them. So the list's entries tagged ``http-library`` are
left out, except the crawler frameworks it files under that tag (Scrapy, HTTrack, …).

A decision costs one search of a large alternation (~0.2 ms), so it is cached per User-Agent
string (LRU): a site sees few distinct ones, and the hot path pays a dict lookup.

Requests that announce a prefetch or prerender (``Sec-Purpose: prefetch``, ``Purpose: prefetch``,
``X-Moz: prefetch``, ``X-Purpose: preview``) are not page views either: the reader may never see
the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import crawleruseragents

# Entries of the list tagged "http-library" that are crawlers or scrapers all the same: their
# requests are never a reader's page view.
CRAWLER_FRAMEWORKS = frozenset(
    {
        "Scrapy",
        "HTTrack",
        "crawler4j",
        "phpcrawl",
        "SimpleCrawler",
        "larbin",
        "colly",
        "trafilatura",
        r"newspaper\/",
        "python-opengraph",
        "Download Ninja",
        "GoParserBot",
        "rawweb-bot",
        "BTWebClient",
        "Amazon CloudFront",
    }
)
GENERIC_CLIENT_TAG = "http-library"
# Not tagged as a library by the list, but it is one: what WordPress sends from a site's back end.
SITE_BACK_ENDS = frozenset({r"WordPress\/"})

_CHUNK = 25
# How many distinct User-Agent strings a worker remembers the decision for.
CACHE_SIZE = 8192

# Headers (lower-cased names) whose value announces a speculative load, not a page view.
_SPECULATIVE_HEADERS = {
    "sec-purpose": ("prefetch", "prerender"),  # Chromium's speculation rules, Firefox
    "purpose": ("prefetch", "prerender", "preview"),  # older Chromium, Safari
    "x-purpose": ("prefetch", "preview"),  # Safari's top sites preview
    "x-moz": ("prefetch",),  # older Firefox
}


def crawler_patterns(entries: Iterable[Mapping[str, object]] | None = None) -> list[str]:
    """The list's patterns that mark a bot under the service's policy (generic clients left out)."""
    kept = []
    for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA if entries is None else entries:
        pattern = str(entry["pattern"])
        tags = entry.get("tags")
        generic = isinstance(tags, list) and GENERIC_CLIENT_TAG in tags and pattern not in CRAWLER_FRAMEWORKS
        if not generic and pattern not in SITE_BACK_ENDS:
            kept.append(pattern)
    return kept


@lru_cache(maxsize=1)
def _crawlers() -> tuple[re.Pattern[str], ...]:
    # Case-sensitive, as the list's patterns are written ("[wW]get"): "bot" in CUBOT is no bot.
    # Alternations of 25 patterns: one of all 1,500 searches 15x slower in Python's engine.
    patterns = crawler_patterns()
    return tuple(
        re.compile("|".join(f"(?:{pattern})" for pattern in patterns[start : start + _CHUNK]))
        for start in range(0, len(patterns), _CHUNK)
    )


class BotDetector:
    """Decides, per User-Agent string (cached), whether a request comes from a bot.

    ``extra_pattern``: the operator's own case-insensitive regex (``BOT_USER_AGENT_PATTERN``),
    matched in addition to the list.
    """

    def __init__(self, extra_pattern: str | None = None, *, cache_size: int = CACHE_SIZE) -> None:
        self.extra = re.compile(extra_pattern, re.IGNORECASE) if extra_pattern else None
        self.is_bot = lru_cache(maxsize=cache_size)(self._decide)

    def _decide(self, user_agent: str) -> bool:
        if not user_agent:
            return False
        if self.extra is not None and self.extra.search(user_agent):
            return True
        return any(chunk.search(user_agent) for chunk in _crawlers())


def is_prefetch(headers: Mapping[str, str] | Any) -> bool:
    """Whether the request announces a prefetch or prerender rather than a page view."""
    for name, purposes in _SPECULATIVE_HEADERS.items():
        value = headers.get(name)
        if value and any(purpose in value.lower() for purpose in purposes):
            return True
    return False


@lru_cache(maxsize=8)
def _detector(pattern: str | None) -> BotDetector:
    return BotDetector(pattern)


def is_bot(user_agent: str | None, pattern: str | None = None) -> bool:
    """Whether ``user_agent`` belongs to a known bot (``pattern``: an extra operator regex)."""
    return _detector(pattern).is_bot(user_agent or "")
