"""An article dated the first moment of year 1 is listed a microsecond later, after the undated.

Undated articles are listed at that moment (``schema.UNDATED``), so one dated at it tied with
them and could be listed among them; new writes list it at ``schema.EARLIEST_DATED``.

Revision ID: 0006_year_one_after_undated
Revises: 0005_job_plain_text_articles
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0006_year_one_after_undated"
down_revision = "0005_job_plain_text_articles"
branch_labels = None
depends_on = None

# Naive UTC, as the columns hold them; fixed here, as a revision must not follow later code.
_UNDATED = datetime(1, 1, 1)
_EARLIEST_DATED = _UNDATED + timedelta(microseconds=1)

_articles = sa.table(
    "articles",
    sa.column("id", sa.String),
    sa.column("published_at", sa.DateTime),
    sa.column("listed_at", sa.DateTime),
)
_sums = sa.table("popularity_sums", sa.column("article_id", sa.String), sa.column("listed_at", sa.DateTime))


def _list_year_one_at(moment: datetime) -> None:
    year_one = sa.select(_articles.c.id).where(_articles.c.published_at == _UNDATED)
    op.execute(_articles.update().where(_articles.c.published_at == _UNDATED).values(listed_at=moment))
    op.execute(_sums.update().where(_sums.c.article_id.in_(year_one)).values(listed_at=moment))


def upgrade() -> None:
    _list_year_one_at(_EARLIEST_DATED)


def downgrade() -> None:
    _list_year_one_at(_UNDATED)
