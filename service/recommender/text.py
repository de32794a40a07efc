"""Turning article bodies into plain text for indexing."""

from __future__ import annotations

from html.parser import HTMLParser

# Elements whose content is never prose a reader sees.
_SKIPPED_ELEMENTS = frozenset({"script", "style", "noscript", "template", "svg", "head"})
# Elements that separate words, so "<p>one</p><p>two</p>" does not become "onetwo".
_BLOCK_ELEMENTS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "td",
        "th",
        "table",
        "section",
        "article",
        "blockquote",
        "pre",
        "hr",
        "figcaption",
        "dd",
        "dt",
    }
)


class _TextExtractor(HTMLParser):
    """Collects the text content of an HTML fragment with the standard library's parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_ELEMENTS:
            self._skip_depth += 1
        elif tag in _BLOCK_ELEMENTS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_ELEMENTS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_ELEMENTS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def strip_html(body: str) -> str:
    """Return the readable text of ``body``; text that is not markup is kept as it is."""
    if "<" not in body and "&" not in body:
        return body  # plain text: nothing for the parser to do
    extractor = _TextExtractor()
    extractor.feed(body)
    extractor.close()
    return "".join(extractor.parts)
