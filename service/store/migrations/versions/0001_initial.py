"""The schema of the last release before migrations: what metadata.create_all made then.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def _article_key(name: str) -> sa.Column[str]:
    """A key column of a table about articles: part of its primary key, gone with the article."""
    return sa.Column(name, sa.String(200), sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("url", sa.Text()),
        sa.Column("published_at", sa.DateTime()),
        sa.Column("listed_at", sa.DateTime(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("category", sa.String(200)),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_articles_listed_at", "articles", ["listed_at", "id"])
    op.create_index("ix_articles_category", "articles", ["category", "listed_at"])
    op.create_index("ix_articles_created_at", "articles", ["created_at"])
    op.create_index("ix_articles_updated_at", "articles", ["updated_at"])

    op.create_table(
        "article_tags",
        _article_key("article_id"),
        sa.Column("tag", sa.String(200), primary_key=True),
    )
    op.create_index("ix_article_tags_tag", "article_tags", ["tag"])

    op.create_table(
        "article_editorial",
        _article_key("article_id"),
        sa.Column("pinned", sa.JSON(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )

    op.create_table(
        "site_exclusions",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
    )

    op.create_table(
        "neighbour_overlay",
        _article_key("article_id"),
        _article_key("neighbour_id"),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("cosine", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_neighbour_overlay_neighbour", "neighbour_overlay", ["neighbour_id"])

    op.create_table(
        "article_views",
        _article_key("article_id"),
        sa.Column("hour", sa.DateTime(), primary_key=True),
        sa.Column("views", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_article_views_hour", "article_views", ["hour", "article_id", "views"])

    op.create_table(
        "reindex_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime()),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("heartbeat_at", sa.DateTime()),
        sa.Column("articles", sa.Integer()),
        sa.Column("index_version", sa.String(64)),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_reindex_jobs_created_at", "reindex_jobs", ["created_at"])

    op.create_table(
        "store_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "store_changes",
        sa.Column("version", sa.BigInteger(), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )

    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(36)),
        sa.Column("expires_at", sa.DateTime()),
    )


def downgrade() -> None:
    # children of articles first
    for table in (
        "leases",
        "store_changes",
        "store_state",
        "reindex_jobs",
        "article_views",
        "neighbour_overlay",
        "site_exclusions",
        "article_editorial",
        "article_tags",
        "articles",
    ):
        op.drop_table(table)
