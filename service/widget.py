"""The embeddable widget (``/widget.js``) and a demo article page (``/demo/<id>``) that uses it."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from service.articles import Article, isoformat, unstorable
from service.recommender.text import strip_html
from service.resources import get_store

STATIC_DIR = Path(__file__).resolve().parent / "static" / "widget"

blueprint = Blueprint(
    "widget",
    __name__,
    template_folder="templates",
    static_folder=STATIC_DIR,
    static_url_path="/demo/static",
)

# Like the dashboard's, except for styles: the widget injects its small default style as a
# <style> element (a site embeds it with two lines, no stylesheet to link), and that needs
# 'unsafe-inline' for styles. Scripts stay 'self' only and every value on the page is escaped,
# so no injected markup could make use of it.
DEMO_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
WIDGET_MAX_AGE = 300  # seconds a browser or CDN may keep /widget.js before asking again
WORDS_PER_MINUTE = 220

# A body is HTML when it has a tag or a comment; anything else is text (light Markdown).
_HTML_TAG = re.compile(r"<(?:[A-Za-z][A-Za-z0-9-]*[\s>/]|/[A-Za-z][A-Za-z0-9-]*\s*>|!--)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d{1,9}[.)]\s+(.*)$")
_EMPHASIS = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
# A Markdown link to a web address or a path of the site: ``[text](https://…)``, ``[text](/…)``.
_LINK = re.compile(r"\[([^\[\]\n]+)\]\(\s*(https?://[^\s()<>\\]+|/(?!/)[^\s()<>\\]*)\s*\)", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


class Span(NamedTuple):
    """A piece of inline text and how it is shown: ``tag`` "" plain, "strong", "em" or "a" (a
    link to ``href``; the template's only tags, and the text itself is always escaped)."""

    text: str
    tag: str = ""
    href: str = ""


@dataclass(frozen=True)
class Block:
    """One block of an article body: a paragraph, a heading (``level`` 2-4) or a list."""

    kind: str  # "p", "h", "ul" or "ol"
    items: tuple[tuple[Span, ...], ...]
    level: int = 0


def body_blocks(body: str) -> list[Block]:
    """The body as blocks of escaped-later text. HTML is reduced to its text by the standard
    library's parser (never rendered as markup); plain text is read as light Markdown."""
    if _HTML_TAG.search(body):
        text = strip_html(body)
        paragraphs = (" ".join(part.split()) for part in _PARAGRAPH_BREAK.split(text))
        return [Block("p", ((Span(paragraph),),)) for paragraph in paragraphs if paragraph]
    return _markdown_blocks(body)


def _markdown_blocks(text: str) -> list[Block]:
    """Paragraphs split on blank lines, plus ``#`` headings, ``-``/``1.`` lists, ``**``/``*``."""
    blocks: list[Block] = []
    lines: list[str] = []  # the open paragraph, or the open list's items
    open_kind = ""

    def close() -> None:
        nonlocal open_kind
        if lines:
            if open_kind == "p":
                blocks.append(Block("p", (_spans(" ".join(lines)),)))
            else:
                blocks.append(Block(open_kind, tuple(_spans(line) for line in lines)))
        lines.clear()
        open_kind = ""

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        heading, bullet = _HEADING.match(line), _BULLET.match(raw)
        item = bullet or _NUMBERED.match(raw)
        if not line:
            close()
        elif heading:
            close()
            level = min(max(len(heading.group(1)), 2), 4)  # the page's h1 is the title
            blocks.append(Block("h", (_spans(heading.group(2)),), level))
        elif item:
            kind = "ul" if bullet else "ol"
            if open_kind != kind:
                close()
                open_kind = kind
            lines.append(item.group(1).strip())
        elif open_kind in ("ul", "ol"):
            lines[-1] = f"{lines[-1]} {line}"  # a wrapped list item goes on
        else:
            open_kind = "p"
            lines.append(line)
    close()
    return blocks


def _spans(text: str) -> tuple[Span, ...]:
    """Inline text: links, and ``**strong**`` and ``*emphasis*`` outside them."""
    spans: list[Span] = []
    position = 0
    for match in _LINK.finditer(text):
        spans += _emphasis_spans(text[position : match.start()])
        spans.append(Span(match.group(1), "a", match.group(2)))
        position = match.end()
    return (*spans, *_emphasis_spans(text[position:]))


def _emphasis_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    position = 0
    for match in _EMPHASIS.finditer(text):
        if match.start() > position:
            spans.append(Span(text[position : match.start()]))
        strong, emphasis = match.group(1), match.group(2)
        spans.append(Span(strong, "strong") if strong is not None else Span(emphasis, "em"))
        position = match.end()
    if position < len(text):
        spans.append(Span(text[position:]))
    return spans


def long_date(moment: datetime | None) -> str | None:
    """``October 16, 2025`` (UTC), or None for an undated article."""
    if moment is None:
        return None
    return f"{moment:%B} {moment.day}, {moment.year}"


def reading_minutes(blocks: list[Block]) -> int:
    words = sum(len(span.text.split()) for block in blocks for item in block.items for span in item)
    return max(1, math.ceil(words / WORDS_PER_MINUTE))


def label(name: str) -> str:
    """``mental-health`` → ``Mental health``."""
    text = " ".join(name.replace("-", " ").replace("_", " ").split())
    return text[:1].upper() + text[1:]


def _summary(blocks: list[Block], limit: int = 160) -> str:
    for block in blocks:
        if block.kind == "p":
            text = "".join(span.text for span in block.items[0])
            return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return ""


def _page(html: str, status: int = 200) -> Response:
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(DEMO_SECURITY_HEADERS)
    return response


@blueprint.get("/")
def home() -> BaseResponse:
    """The demo site's front door: its sample article."""
    return redirect(url_for("widget.demo", article_id=current_app.config["DEMO_ARTICLE"]), code=302)


@blueprint.get("/demo/<article_id>")
def demo(article_id: str) -> Response:
    """An article page of a sample blog, with the three blocks filled by ``/widget.js``."""
    article: Article | None = None if unstorable(article_id) else get_store().articles.get(article_id)
    if article is None:
        return _page(render_template("demo.html", article=None), status=404)
    blocks = body_blocks(article.body)
    html = render_template(
        "demo.html",
        article=article,
        blocks=blocks,
        summary=_summary(blocks),
        published_iso=isoformat(article.published_at),
        published_label=long_date(article.published_at),
        minutes=reading_minutes(blocks),
        category=label(article.category) if article.category else None,
    )
    return _page(html)


@lru_cache(maxsize=4)
def _widget_source(path: Path, mtime_ns: int, size: int) -> tuple[bytes, str]:
    """The script and an ETag of its content (not of its mtime: every replica and deploy of the
    same script answers the same ETag, so caches revalidate anywhere); re-read when it changes."""
    source = path.read_bytes()
    return source, hashlib.sha256(source).hexdigest()[:32]


@blueprint.get("/widget.js")
def script() -> Response:
    """The widget; cached for five minutes, then revalidated by its ETag (304). Built as a
    plain response, not a file one, so that it is compressed like the API's answers."""
    path = STATIC_DIR / "widget.js"
    stat = path.stat()
    source, etag = _widget_source(path, stat.st_mtime_ns, stat.st_size)
    response = Response(source, mimetype="application/javascript")
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = WIDGET_MAX_AGE
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.make_conditional(request)  # 304 on a matching If-None-Match
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
