"""Telling known bots from readers by their User-Agent."""

from __future__ import annotations

import re
from functools import lru_cache

# Crawlers, link-preview fetchers and uptime monitors that announce themselves. Generic
# HTTP libraries (curl, requests, a site's own server-side client) are not bots: sites
# record views from their back ends with them.
DEFAULT_BOT_PATTERN = (
    r"bot\b|bot[-_/;)]|crawler|crawling|spider|slurp|archiver|facebookexternalhit"
    r"|facebookcatalog|embedly|quora link preview|outbrain|pinterest|vkshare|w3c_validator"
    r"|mediapartners-google|adsbot|feedfetcher|lighthouse|pingdom|uptimerobot|statuscake"
    r"|site24x7|gtmetrix|scrapy|ia_archiver|bingpreview|yahoo! slurp|petalsearch|headless-bot"
)


@lru_cache(maxsize=8)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def is_bot(user_agent: str | None, pattern: str | None = None) -> bool:
    """Whether ``user_agent`` belongs to a known bot."""
    if not user_agent:
        return False
    return _compiled(pattern or DEFAULT_BOT_PATTERN).search(user_agent) is not None
