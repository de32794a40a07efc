"""Site links: an article that links to another article of the same site is related to it.

An editor who links "Reset your password" from "Sign-in problems" has said the two belong
together, more plainly than any likeness of words can. So the links in articles' bodies (HTML
``<a href>``, Markdown ``[text](target)`` or ``[text][ref]``, bare ``http(s)://`` addresses, and
wiki links ``[[Title]]``, which name the one article of that title) are resolved to the indexed
articles they point at, and two articles are joined when either links to the other. The
resolver is kept with the index, so that an article written after the build has its links at
once.

A link is resolved by the target's address: to the article whose ``url`` has the same path
(and host, when both name one), or else to the one article whose id ends as the link's path
does, segment by segment (``/docs/web/css/color`` → ``mdn.web.css.color``,
``/2024/05/01/launch-notes/`` → ``2024-05-01-launch-notes``; case, ``.html``/``.md`` endings and
``-``/``_``/``.`` separators aside): many sites use the page's slug as the article's id. Or
else, on the site's own addresses, to the one article whose title the last segment spells
(``/2024/05/reset-your-password/`` → "Reset your password": a blog whose ids are numbers and
whose addresses are slugs of titles), or whose id is (or ends in) a number that begins a segment
(``/hc/articles/1042-reset-your-password`` → ``1042``, as help centres write them;
``/hc/articles/360004415-reset`` → ``kb-360004415``: five digits or more after other words). An
address on another host is only taken by id when at least two of its path segments match
(``site.example/guides/install`` → ``guides.install``, not ``other.example/pkg/install`` →
``install``), unless it is the site's own: named by the articles' urls, or found so because
most of its addresses the articles link end as ids do (a site that links its own pages by
their full address). A link that fits two articles equally well joins neither. An article
linked from more than ``max_share`` of the articles (a site's "Contact us" or glossary page)
joins nothing: it says nothing about any one of them; nor do the links of an article that links
to more than that share (an index of the site's pages).
"""

from __future__ import annotations

import hashlib
import html
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import unquote, urlsplit

import numpy as np

from service.recommender.neighbours import find_sorted

# The targets of links in a body: HTML href attributes, Markdown link targets, bare addresses.
# Markdown's reference definitions too (``[guide]: /kb/install``, a line of its own, an address
# with a "/": not a CSS selector such as ``[popover]:popover-open {``).
# And wiki links by title (``[[Clear the cache]]``, ``[[Clear the cache|clearing it]]``).
_LINK = re.compile(
    r"""href\s*=\s*["']([^"']+)["']|\]\(\s*<?([^)\s>]+)|(https?://[^\s<>"'`)\]]+)"""
    r"""|^[ \t]{0,3}\[[^\]\n]+\]:[ \t]+<?([^\s>]*/[^\s>]*)>?(?:[ \t]+\S.*)?$"""
    r"""|(\[\[)([^\[\]|#\n]{1,300})(?:#[^\[\]|\n]*)?(?:\|[^\[\]\n]*)?\]\]""",
    re.IGNORECASE | re.MULTILINE,
)
# What every link above holds (a quick test before the search).
_LINK_MARKERS = ("href", "HREF", "Href", "](", "://", "]:", "[[")
_PAGE_ENDING = re.compile(r"\.(?:md|markdown|html?|php|aspx?)$", re.IGNORECASE)
_ID_SEGMENTS = re.compile(r"[/.:]")
_WORD_RUN = re.compile(r"[^\W_]+")  # letters and digits; every other character separates words
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
# A number in an address is taken for an article's id only with this many digits or more, and
# for the number that ends an id of more words (``kb-360004415``) only with this many: not a year
# (``/2019/05/launch/`` would else name ``report-2019``).
_MIN_NUMBER_DIGITS = 3
_MIN_ENDING_NUMBER_DIGITS = 5


def link_targets(text: str) -> Iterator[str]:
    """The target of each link in ``text`` (HTML, Markdown, inline or by reference, a bare
    address, or ``[[Title]]`` for a wiki link), in order."""
    if not text or not any(marker in text for marker in _LINK_MARKERS):
        return  # most texts hold no link: looking for these first is ten times faster
    for found in _LINK.finditer(text):
        if found.group(5):
            yield f"[[{found.group(6).strip()}]]"
        else:
            yield found.group(1) or found.group(2) or found.group(3) or found.group(4)


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
    return tuple(_WORD_RUN.findall(segment.lower()))


class LinkResolver:
    """Resolves link targets to the rows of the articles they point at (see the module's doc).

    Its tables are two arrays (a stable 63-bit fingerprint of each key, sorted, and the row it
    names), so that the index keeps it for articles written after the build at a few bytes a key.
    """

    def __init__(
        self, ids: Sequence[str], urls: Sequence[str | None] = (), titles: Sequence[str] = ()
    ) -> None:
        entries: list[tuple[str, int]] = []
        self.own_hosts: set[str] = set()
        for row, url in enumerate(urls):
            address = _address(url) if url else None
            if address is not None:
                entries.append((f"path:{address.path}", row))  # for links relative to the site
                if address.host:
                    entries.append((f"url:{address.host}{address.path}", row))
                    self.own_hosts.add(address.host)
                else:
                    entries.append((f"no host:{address.path}", row))
        for row, article_id in enumerate(ids):
            words = [_words(part) for part in _ID_SEGMENTS.split(article_id)]
            flat = [word for part in words for word in part]
            last = len(next((part for part in reversed(words) if part), ()))
            longest = max(last, _MAX_ENDING_WORDS)
            for start in range(max(0, len(flat) - longest), len(flat) - last + 1):
                entries.append(("ending:" + " ".join(flat[start:]), row))
            if flat and flat[-1].isdigit() and len(flat[-1]) >= _id_number_digits(len(flat)):
                entries.append((f"number:{flat[-1]}", row))
        for row, title in enumerate(titles):
            spelled = _words(html.unescape(title))
            if spelled:
                entries.append(("title:" + " ".join(spelled), row))
        keys = np.fromiter((_fingerprint(key) for key, _ in entries), np.int64, len(entries))
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.rows = np.fromiter((row for _, row in entries), np.int32, len(entries))[order]

    def resolve(self, target: str) -> int | None:
        """The row of the article ``target`` points at, or ``None`` (none, or not one alone)."""
        if target.startswith("[["):  # a wiki link names the title itself
            return _one(self._rows("title:" + " ".join(_words(html.unescape(target[2:-2])))))
        address = _address(target)
        if address is None:
            return None
        if address.host:
            by_url = self._rows(f"url:{address.host}{address.path}") + self._rows(f"no host:{address.path}")
        else:
            by_url = self._rows(f"path:{address.path}")
        if by_url:
            return _one(by_url)
        if address.host and address.host not in self.own_hosts:
            return _one(self._by_id(address, min_segments=_FOREIGN_MIN_SEGMENTS))
        return _one(self._by_own_address(address))

    def learn_hosts(self, targets: Iterable[str]) -> None:
        """Count as the site's own each host of which at least ``_OWN_HOST_SHARE`` of the distinct
        addresses among ``targets`` (``_OWN_HOST_MIN`` or more) resolve as the site's own would."""
        by_host: dict[str, dict[str, _Address]] = defaultdict(dict)  # per host, its paths
        for target in set(targets):
            address = _address(target)
            if address is not None and address.host and address.host not in self.own_hosts:
                by_host[address.host][address.path] = address
        for host, paths in by_host.items():
            resolved = sum(_one(self._by_own_address(address)) is not None for address in paths.values())
            if len(paths) >= _OWN_HOST_MIN and resolved >= _OWN_HOST_SHARE * len(paths):
                self.own_hosts.add(host)

    def _rows(self, key: str) -> list[int]:
        fingerprint = _fingerprint(key)
        start = np.searchsorted(self.keys, fingerprint, side="left")
        stop = np.searchsorted(self.keys, fingerprint, side="right")
        return self.rows[start:stop].tolist()

    def _by_own_address(self, address: _Address) -> list[int]:
        """The rows an address of the site's own may name: by its id's ending, else by a title
        its last segment spells, else by a number that is an id at the start of a segment
        (``/articles/1042-reset-your-password``)."""
        found = self._by_id(address, min_segments=1)
        if not found and len(address.segments[-1]) >= 2:  # a slug of one word is no title
            found = self._rows("title:" + " ".join(address.segments[-1]))
        if not found:
            numbers = {segment[0] for segment in address.segments if segment[0].isdigit()}
            found = [row for number in sorted(numbers) for row in self._rows(f"number:{number}")]
        return found

    def _by_id(self, address: _Address, *, min_segments: int) -> list[int]:
        """The rows of the ids that end as ``address``'s path does, by the longest such ending,
        none unless it holds at least ``min_segments`` of the path's last segments whole."""
        words = [word for segment in address.segments for word in segment]
        last = len(address.segments[-1])
        for start in range(max(0, len(words) - max(last, _MAX_ENDING_WORDS)), len(words) - last + 1):
            rows = self._rows("ending:" + " ".join(words[start:]))
            if rows:
                return rows if _whole_segments(address.segments, len(words) - start) >= min_segments else []
        return []


def _id_number_digits(words: int) -> int:
    """The fewest digits of a number that ends an id of ``words`` words, for it to name the article."""
    return _MIN_NUMBER_DIGITS if words == 1 else _MIN_ENDING_NUMBER_DIGITS


def _fingerprint(key: str) -> int:
    """A 63-bit digest of ``key``, the same in every process."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _one(rows: list[int]) -> int | None:
    """The row, if ``rows`` name exactly one."""
    return rows[0] if len(set(rows)) == 1 else None


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
    """Which indexed articles link to which others, and how to resolve the links of new text."""

    size: int  # indexed articles
    incoming: np.ndarray  # sorted keys ``target * size + source``: who links to whom
    resolver: LinkResolver
    ignored: frozenset[int]  # articles linked from too many to join any (a "Contact us" page)
    limit: int  # the most articles one may link to, or be linked from, and join them

    @classmethod
    def fit(
        cls,
        ids: Sequence[str],
        bodies: Sequence[str],
        urls: Sequence[str | None],
        max_share: float,
        titles: Sequence[str] = (),
    ) -> SiteLinks:
        """From the indexed articles' ids, bodies, urls and titles (the resolver is kept for the
        links of articles written later, even where no indexed article links another)."""
        size = len(ids)
        resolver = LinkResolver(ids, urls, titles)
        # The bodies are read once: most hold no link, so the targets kept are few.
        targets = [(row, found) for row, body in enumerate(bodies) if (found := list(link_targets(body)))]
        resolver.learn_hosts({target for _, found in targets for target in found if "://" in target})
        linking: dict[int, set[int]] = defaultdict(set)  # per linked article, who links to it
        for row, found in targets:
            for target in found:
                resolved = resolver.resolve(target)
                if resolved is not None and resolved != row:
                    linking[resolved].add(row)
        limit = max(1, int(max_share * size))
        ignored = frozenset(target for target, sources in linking.items() if len(sources) > limit)
        linked_from = Counter(source for sources in linking.values() for source in sources)
        keys = sorted(
            target * size + source
            for target, sources in linking.items()
            if target not in ignored
            for source in sources
            if linked_from[source] <= limit  # not an index of the site's pages
        )
        return cls(size, np.array(keys, dtype=np.int64), resolver, ignored, limit)

    @cached_property
    def pairs(self) -> np.ndarray:
        """Sorted keys ``row * size + column`` of the joined pairs, both ways round."""
        targets, sources = np.divmod(self.incoming, self.size)
        return np.unique(np.concatenate([self.incoming, sources * self.size + targets]))

    def linked_to(self, row: int) -> np.ndarray:
        """The rows joined to ``row`` by a link, either way, in order."""
        return _of_row(self.pairs, row, self.size)

    def rows(self) -> np.ndarray:
        """The rows joined to another by a link, in order."""
        return np.unique(self.pairs // self.size)

    def indexed_linked(self, start: int, stop: int, columns: np.ndarray) -> np.ndarray:
        """1 where indexed article ``start + i`` and candidate ``columns[i, j]`` are joined by a
        link, else 0 (and for ``-1`` pads)."""
        if not len(self.pairs):
            return np.zeros(columns.shape, np.float32)
        rows = np.arange(start, stop, dtype=np.int64)[:, None]
        _, found = find_sorted(self.pairs, rows * self.size + columns)
        return ((columns >= 0) & found).astype(np.float32)

    def linked_from_text(self, bodies: Sequence[str], rows: Sequence[int]) -> list[set[int]]:
        """For articles scored on the fly: per body, the indexed articles it links to and, for an
        indexed article (``rows[i]`` ≥ 0, else -1), those that linked to it at the build."""
        found: list[set[int]] = []
        for body, own in zip(bodies, rows, strict=True):
            resolved = (self.resolver.resolve(target) for target in link_targets(body))
            linked = {row for row in resolved if row is not None}
            if len(linked) > self.limit:
                linked = set()  # an index of the site's pages links everything, so nothing
            if own >= 0:
                linked.update(_of_row(self.incoming, own, self.size).tolist())
            found.append({row for row in linked if row != own and row not in self.ignored})
        return found

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state.pop("pairs", None)  # derived from ``incoming`` when needed
        return state


def _of_row(keys: np.ndarray, row: int, size: int) -> np.ndarray:
    """The columns of ``row`` among sorted keys ``row * size + column``."""
    start, stop = np.searchsorted(keys, [row * size, (row + 1) * size])
    return keys[start:stop] - row * size
