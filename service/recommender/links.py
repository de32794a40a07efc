"""Site links: an article that links to another article of the same site is related to it.

An editor who links "Reset your password" from "Sign-in problems" has said the two belong
together, more plainly than any likeness of words can. So the links in articles' bodies (HTML
``<a href>``, Markdown ``[text](target)`` and bare ``http(s)://`` addresses) are resolved to the
indexed articles they point at, and two articles are joined when either links to the other.

A link is resolved by the target's address: to the article whose ``url`` has the same path
(and host, when both name one), or else to the one article whose id ends as the link's path
does, segment by segment (``/docs/web/css/color`` → ``mdn.web.css.color``,
``/2024/05/01/launch-notes/`` → ``2024-05-01-launch-notes``; case, ``.html``/``.md`` endings and
``-``/``_``/``.`` separators aside): many sites use the page's slug as the article's id. Or
else, on the site's own addresses, to the one article whose title the last segment spells
(``/2024/05/reset-your-password/`` → "Reset your password": a blog whose ids are numbers and
whose addresses are slugs of titles), or whose id is a number that begins a segment
(``/hc/articles/1042-reset-your-password`` → ``1042``, as help centres write them). An
address on another host is only taken by id when at least two of its path segments match
(``site.example/guides/install`` → ``guides.install``, not ``other.example/pkg/install`` →
``install``), unless it is the site's own: named by the articles' urls, or found so because
most of its addresses the articles link end as ids do (a site that links its own pages by
their full address). A link that fits two articles equally well joins neither. An article
linked from more than ``max_share`` of the articles (a site's "Contact us" or glossary page)
joins nothing: it says nothing about any one of them.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import numpy as np

# The targets of links in a body: HTML href attributes, Markdown link targets, bare addresses.
_LINK = re.compile(
    r"""href\s*=\s*["']([^"']+)["']|\]\(\s*<?([^)\s>]+)|(https?://[^\s<>"'`)\]]+)""", re.IGNORECASE
)
# What every link above holds (a quick test before the search).
_LINK_MARKERS = ("href", "HREF", "Href", "](", "://")
_PAGE_ENDING = re.compile(r"\.(?:md|markdown|html?|php|aspx?)$", re.IGNORECASE)
_ID_SEGMENTS = re.compile(r"[/.:]")
_WORD_SEPARATORS = re.compile(r"[\W_]+")
# How many path segments an address on another host must match of an article's id.
_FOREIGN_MIN_SEGMENTS = 2
# A host is the site's own when at least this share of its distinct addresses linked from the
# articles end as an article's id does, and it has at least _OWN_HOST_MIN of them: measured,
# 0.81 and 0.88 for two sites' own hosts, at most 0.46 for any other host they link.
_OWN_HOST_SHARE = 2 / 3
_OWN_HOST_MIN = 3
# Endings of ids are kept up to this many words (or the whole last segment): an id of a hundred
# words would otherwise add five thousand words' worth of endings.
_MAX_ENDING_WORDS = 12
# A number in an address is taken for an article's id only with this many digits or more.
_MIN_NUMBER_DIGITS = 3


def link_targets(text: str) -> Iterator[str]:
    """The target of each link in ``text`` (HTML, Markdown or a bare address), in order."""
    if not text or not any(marker in text for marker in _LINK_MARKERS):
        return  # most texts hold no link: looking for these first is ten times faster
    for found in _LINK.finditer(text):
        yield found.group(1) or found.group(2) or found.group(3)


@dataclass(frozen=True)
class _Address:
    host: str  # lower-cased, "" for a link relative to the site
    path: str  # normalised: lower-cased, no page ending, no trailing slash
    segments: tuple[tuple[str, ...], ...]  # per path segment, its words


def _address(target: str) -> _Address | None:
    try:
        parts = urlsplit(target.strip())
    except ValueError:
        return None
    if parts.scheme not in ("", "http", "https"):
        return None
    path = _PAGE_ENDING.sub("", unquote(parts.path).rstrip("/")).lower()
    segments = tuple(words for words in (_words(part) for part in path.split("/")) if words)
    if not segments:
        return None
    return _Address(parts.netloc.lower(), path, segments)


def _words(segment: str) -> tuple[str, ...]:
    return tuple(word for word in _WORD_SEPARATORS.split(segment.lower()) if word)


class LinkResolver:
    """Resolves link targets to the rows of the articles they point at (see the module's doc)."""

    def __init__(
        self, ids: Sequence[str], urls: Sequence[str | None] = (), titles: Sequence[str] = ()
    ) -> None:
        self._by_path: dict[str, list[tuple[str, int]]] = defaultdict(list)
        self._own_hosts: set[str] = set()
        for row, url in enumerate(urls):
            address = _address(url) if url else None
            if address is not None:
                self._by_path[address.path].append((address.host, row))
                if address.host:
                    self._own_hosts.add(address.host)
        # Per run of words that ends an id (its last segment at least): the rows of those ids;
        # per number that is a whole id (``1042``), its rows.
        self._by_ending: dict[tuple[str, ...], list[int]] = defaultdict(list)
        self._by_number: dict[str, list[int]] = defaultdict(list)
        for row, article_id in enumerate(ids):
            words = [_words(part) for part in _ID_SEGMENTS.split(article_id)]
            flat = [word for part in words for word in part]
            last = len(next((part for part in reversed(words) if part), ()))
            longest = max(last, _MAX_ENDING_WORDS)
            for start in range(max(0, len(flat) - longest), len(flat) - last + 1):
                self._by_ending[tuple(flat[start:])].append(row)
            if len(flat) == 1 and flat[0].isdigit() and len(flat[0]) >= _MIN_NUMBER_DIGITS:
                self._by_number[flat[0]].append(row)
        # Per title of two words or more, as a slug holds it: its rows.
        self._by_title: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for row, title in enumerate(titles):
            spelled = _words(html.unescape(title))
            if len(spelled) >= 2:
                self._by_title[spelled].append(row)

    def resolve(self, target: str) -> int | None:
        """The row of the article ``target`` points at, or ``None`` (none, or not one alone)."""
        address = _address(target)
        if address is None:
            return None
        by_url = [row for host, row in self._by_path.get(address.path, ()) if _same_host(host, address.host)]
        if by_url:
            return _one(by_url)
        if bool(address.host) and address.host not in self._own_hosts:
            return _one(self._by_id(address, min_segments=_FOREIGN_MIN_SEGMENTS))
        return _one(self._by_own_address(address))

    def learn_hosts(self, targets: Iterable[str]) -> None:
        """Count as the site's own each host of which at least ``_OWN_HOST_SHARE`` of the distinct
        addresses among ``targets`` (``_OWN_HOST_MIN`` or more) resolve as the site's own would."""
        by_host: dict[str, dict[str, _Address]] = defaultdict(dict)  # per host, its paths
        for target in set(targets):
            address = _address(target)
            if address is not None and address.host and address.host not in self._own_hosts:
                by_host[address.host][address.path] = address
        for host, paths in by_host.items():
            resolved = sum(_one(self._by_own_address(address)) is not None for address in paths.values())
            if len(paths) >= _OWN_HOST_MIN and resolved >= _OWN_HOST_SHARE * len(paths):
                self._own_hosts.add(host)

    def _by_own_address(self, address: _Address) -> list[int]:
        """The rows an address of the site's own may name: by its id's ending, else by a title
        its last segment spells, else by a number that is an id at the start of a segment
        (``/articles/1042-reset-your-password``)."""
        found = self._by_id(address, min_segments=1)
        if not found:
            found = self._by_title.get(address.segments[-1], [])
        if not found:
            numbers = {segment[0] for segment in address.segments if segment[0] in self._by_number}
            found = [row for number in numbers for row in self._by_number[number]]
        return found

    def _by_id(self, address: _Address, *, min_segments: int) -> list[int]:
        """The rows of the ids that end as ``address``'s path does, by the longest such ending,
        none unless it holds at least ``min_segments`` of the path's last segments whole."""
        words = [word for segment in address.segments for word in segment]
        last = len(address.segments[-1])
        for start in range(max(0, len(words) - max(last, _MAX_ENDING_WORDS)), len(words) - last + 1):
            rows = self._by_ending.get(tuple(words[start:]))
            if rows:
                return rows if _whole_segments(address.segments, len(words) - start) >= min_segments else []
        return []


def _one(rows: list[int]) -> int | None:
    """The row, if ``rows`` name exactly one."""
    return rows[0] if len(set(rows)) == 1 else None


def _same_host(indexed: str, linked: str) -> bool:
    return not indexed or not linked or indexed == linked


def _whole_segments(segments: Sequence[tuple[str, ...]], words: int) -> int:
    """How many of the last path segments ``words`` trailing words hold whole."""
    whole = 0
    for segment in reversed(segments):
        if words < len(segment):
            break
        words -= len(segment)
        whole += 1
    return whole


@dataclass
class SiteLinks:
    """Which indexed articles link to which others, either way round."""

    size: int  # indexed articles
    pairs: np.ndarray  # sorted keys ``row * size + column``, both ways round

    @classmethod
    def fit(
        cls,
        ids: Sequence[str],
        bodies: Sequence[str],
        urls: Sequence[str | None],
        max_share: float,
        titles: Sequence[str] = (),
    ) -> SiteLinks | None:
        """From the indexed articles' ids, bodies, urls and titles; ``None`` when no link joins two."""
        size = len(ids)
        targets = [list(link_targets(body)) for body in bodies]
        if not any(targets):
            return None
        resolver = LinkResolver(ids, urls, titles)
        resolver.learn_hosts(target for found in targets for target in found)
        linking: dict[int, set[int]] = defaultdict(set)  # per linked article, who links to it
        for row, found_in_body in enumerate(targets):
            for target in found_in_body:
                found = resolver.resolve(target)
                if found is not None and found != row:
                    linking[found].add(row)
        limit = max(1, int(max_share * size))
        keys = {
            key
            for target, sources in linking.items()
            if len(sources) <= limit
            for source in sources
            for key in (source * size + target, target * size + source)
        }
        if not keys:
            return None
        return cls(size, np.array(sorted(keys), dtype=np.int64))

    def linked_to(self, row: int) -> np.ndarray:
        """The rows joined to ``row`` by a link, in order."""
        start, stop = np.searchsorted(self.pairs, [row * self.size, (row + 1) * self.size])
        return self.pairs[start:stop] - row * self.size

    def rows(self) -> np.ndarray:
        """The rows joined to another by a link, in order."""
        return np.unique(self.pairs // self.size)

    def indexed_linked(self, start: int, stop: int, columns: np.ndarray) -> np.ndarray:
        """1 where indexed article ``start + i`` and candidate ``columns[i, j]`` are joined by a
        link, else 0 (and for ``-1`` pads)."""
        rows = np.arange(start, stop, dtype=np.int64)[:, None]
        keys = rows * self.size + columns
        places = np.minimum(np.searchsorted(self.pairs, keys), len(self.pairs) - 1)
        return ((columns >= 0) & (self.pairs[places] == keys)).astype(np.float32)
