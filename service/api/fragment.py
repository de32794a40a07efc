"""The three blocks as an HTML fragment a site can include server-side."""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template

from service.articles import isoformat
from service.recommend import Item, Recommendations

HEADINGS = {"related": "Related Posts", "latest": "Latest Posts", "popular": "Popular Posts"}
# Links only to web pages: a stored URL of another scheme (javascript:, data:) is shown as text.
_LINKABLE = ("https://", "http://", "/")


@dataclass(frozen=True)
class FragmentItem:
    id: str
    title: str
    href: str | None
    published_at: str | None
    date_label: str | None


@dataclass(frozen=True)
class FragmentBlock:
    section: str
    heading: str
    items: list[FragmentItem]


def render_fragment(answer: Recommendations) -> str:
    """The answer's non-empty lists as ``rp-block`` sections (the widget's markup)."""
    blocks = [
        FragmentBlock(section, HEADINGS[section], [_fragment_item(item) for item in items])
        for section, items in answer.lists.items()
        if items
    ]
    return render_template("recommendations_fragment.html", article_id=answer.article.id, blocks=blocks)


def _fragment_item(item: Item) -> FragmentItem:
    summary = item.summary
    url = summary.url
    published = summary.published_at
    return FragmentItem(
        id=summary.id,
        title=summary.title,
        href=url if url and url.lower().startswith(_LINKABLE) else None,
        published_at=isoformat(published),
        date_label=None if published is None else f"{published:%b} {published.day}, {published.year}",
    )
