"""Counting readers: visitors per article and day, bot hits, daily rollups and window sums.

Revision ID: 0004_counting_and_rollups
Revises: 0003_drop_article_tags

The new tables start empty: the first rollup (by the service, or ``flask prune``) fills the
daily tables and the window sums from the hourly views a store already has.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_counting_and_rollups"
down_revision = "0003_drop_article_tags"
branch_labels = None
depends_on = None


def _article_key() -> sa.Column[str]:
    return sa.Column(
        "article_id",
        sa.String(200),
        sa.ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "article_visitors",
        _article_key(),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("visitor", sa.BigInteger(), primary_key=True),
        sa.Column("hour", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_article_visitors_day", "article_visitors", ["day", "hour", "visitor", "article_id"])

    op.create_table(
        "bot_hits",
        sa.Column("hour", sa.DateTime(), primary_key=True),
        sa.Column("hits", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "article_daily",
        _article_key(),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("visitors", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_article_daily_day", "article_daily", ["day", "article_id", "views"])

    op.create_table(
        "site_daily",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("visitors", sa.BigInteger(), nullable=False),
        sa.Column("bot_hits", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "popularity_sums",
        sa.Column("window_name", sa.String(16), primary_key=True),
        _article_key(),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("visitors", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("listed_at", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ix_popularity_sums_rank", "popularity_sums", ["window_name", "score", "listed_at", "article_id"]
    )

    op.create_table(
        "counter_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("checkpoint", sa.DateTime()),
        sa.Column("retention_days", sa.Integer()),
    )

    op.create_table(
        "visitor_salts",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("salt", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("visitor_salts")
    op.drop_table("counter_state")
    op.drop_index("ix_popularity_sums_rank", table_name="popularity_sums")
    op.drop_table("popularity_sums")
    op.drop_table("site_daily")
    op.drop_index("ix_article_daily_day", table_name="article_daily")
    op.drop_table("article_daily")
    op.drop_table("bot_hits")
    op.drop_index("ix_article_visitors_day", table_name="article_visitors")
    op.drop_table("article_visitors")
