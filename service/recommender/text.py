"""Turning article bodies into plain text for indexing."""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from html.parser import HTMLParser

log = logging.getLogger(__name__)

# Bodies indexed as plain text because the HTML parser failed on them, counted while a
# :func:`counting_plain_text` block runs (a build counts them for its job's result).
_plain_text_count: ContextVar[list[int] | None] = ContextVar("plain_text_count", default=None)

# Runs of Chinese characters (and Japanese kana) are not split into words by spaces: the
# token pattern would make each run between punctuation one long, unique token. They are
# indexed as overlapping character bigrams instead, as search engines do (Lucene's
# CJKAnalyzer). Thai, Lao, Myanmar and Khmer are written without spaces between words too, and
# are read the same way. Hangul is written with spaces between words and needs no change.
_UNSPACED_RUN = re.compile(
    r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}"
)

# Elements whose content is never prose a reader sees. (Not ``head``: a document may leave out
# ``</head>``, and its body would go with it.)
_SKIPPED_ELEMENTS = frozenset({"script", "style", "noscript", "template", "svg"})
# Elements that separate words, so "<p>one</p><p>two</p>" does not become "onetwo": HTML's
# block-level and table elements, and those that stand apart from the text around them.
_BLOCK_ELEMENTS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "details", "dialog", "dd", "div", "dl"),
        *("dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup", "hr"),
        *("li", "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "ul", "legend"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "br", "body", "title", "option", "label"),
        *("table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th"),
        *("iframe", "object", "textarea", "video", "audio", "canvas", "img", "button", "select"),
    }
)


class _TextExtractor(HTMLParser):
    """Collects the text content of an HTML fragment with the standard library's parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        # What a skipped element held so far: text after all if the element never ends
        # ("put it in the `<script>` tag" in a Markdown body is prose, not a script).
        self._skipped: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_ELEMENTS:
            self._skip_depth += 1
        elif tag in _BLOCK_ELEMENTS:
            self._text("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_ELEMENTS and self._skip_depth:
            self._skip_depth -= 1
            if not self._skip_depth:
                self._skipped.clear()
        elif tag in _BLOCK_ELEMENTS:
            self._text("\n")

    def handle_data(self, data: str) -> None:
        self._text(data)

    def _text(self, text: str) -> None:
        (self._skipped if self._skip_depth else self.parts).append(text)

    def text(self) -> str:
        """The text collected, once the whole body is fed and closed: with what an element that
        never ended held (the parser keeps an unended script's or style's content unread)."""
        if not self._skip_depth:
            return "".join(self.parts)
        return "".join([*self.parts, *self._skipped, self.rawdata])

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        # "<![a-z]>" in a Perl article is no marked section the parser knows: the standard
        # library asserts; it is text.
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            self.handle_data(self.rawdata[i : i + 3])
            return i + 3


def strip_html(body: str) -> str:
    """Return the readable text of ``body``; text that is not markup is kept as it is."""
    if "<" not in body and "&" not in body:
        return body  # plain text: nothing for the parser to do
    extractor = _TextExtractor()
    try:
        extractor.feed(body)
        extractor.close()
    except Exception:  # any parser failure: one article must never fail a build
        log.warning("body not parsable as HTML; indexed as plain text", exc_info=True)
        counter = _plain_text_count.get()
        if counter is not None:
            counter[0] += 1
        return body
    return extractor.text()


def title_text(title: str) -> str:
    """A title as text: HTML character references decoded (feeds and WordPress send "Tips &amp;
    tricks&#8217;"), which would otherwise be indexed as the words "amp" and "8217"."""
    return html.unescape(title) if "&" in title else title


@contextmanager
def counting_plain_text() -> Iterator[Callable[[], int]]:
    """Count the bodies :func:`strip_html` falls back on as plain text within the block (in
    this thread); yields a function that returns the count so far."""
    counter = [0]
    token = _plain_text_count.set(counter)
    try:
        yield lambda: counter[0]
    finally:
        _plain_text_count.reset(token)


def _bigrams(match: re.Match[str]) -> str:
    run = match.group(0)
    return " " + " ".join(run[i : i + 2] for i in range(len(run) - 1)) + " "


def index_text(text: str) -> str:
    """Lower-case ``text`` in Unicode's composed form (NFC) and spell each run of characters of a
    script written without spaces (CJK, Thai, …) as its character bigrams.

    The preprocessor of the index's vectorizer: words in other scripts are left to its token
    pattern, :func:`word_pattern` (a lone CJK character, like a one-letter word, is not a token).
    """
    text = text.lower()
    if text.isascii():  # no scan for most text
        return text
    if not unicodedata.is_normalized("NFC", text):  # "café" typed as "cafe" + a combining accent
        text = unicodedata.normalize("NFC", text)
    if _UNSPACED_RUN.search(text) is None:
        return text
    return _UNSPACED_RUN.sub(_bigrams, text)


# Marks that belong to symbols, not words: those drawn on symbols (a keycap) and the variation
# selectors after an emoji ("ℹ️", a letter and a selector, is no word).
_SYMBOL_MARKS = range(0x20D0, 0x2100), range(0xFE00, 0xFE10)


@cache
def word_pattern() -> str:
    """The index's token pattern: runs of two or more word characters and combining marks.

    scikit-learn's default, ``\\b\\w\\w+\\b``, ends a word at the first combining mark, since
    ``\\w`` holds none: Hindi "नमस्ते दुनिया" gave only "नमस" and lost "दुनिया" (a vowel sign
    ends it), and Bengali, Tamil and the other Indic scripts, Arabic with its vowel marks and
    Hebrew with its points were cut alike. Text without combining marks is split into the same
    words as by the default pattern (every word of 20,000 film reviews alike), a little faster.
    """
    ranges: list[str] = []
    start = previous = -2
    for code in range(0x300, 0x10000):  # every combining mark of the Basic Multilingual Plane
        if not _is_word_mark(code):
            continue
        if code != previous + 1:
            if start >= 0:
                ranges.append(_range(start, previous))
            start = code
        previous = code
    ranges.append(_range(start, previous))
    return "[\\w" + "".join(ranges) + "]{2,}"


def _is_word_mark(code: int) -> bool:
    symbol = any(code in marks for marks in _SYMBOL_MARKS)
    return not symbol and unicodedata.category(chr(code)).startswith("M")


def _range(first: int, last: int) -> str:
    return re.escape(chr(first)) if first == last else f"{re.escape(chr(first))}-{re.escape(chr(last))}"
