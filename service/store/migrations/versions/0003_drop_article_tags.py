"""Drop article_tags: written on every upsert but read by nothing (tags live in articles.tags).

Revision ID: 0003_drop_article_tags
Revises: 0002_article_clicks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_drop_article_tags"
down_revision = "0002_article_clicks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_article_tags_tag", table_name="article_tags")
    op.drop_table("article_tags")


def downgrade() -> None:
    # Recreated empty: no released version reads it.
    op.create_table(
        "article_tags",
        sa.Column(
            "article_id",
            sa.String(200),
            sa.ForeignKey("articles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(200), primary_key=True),
    )
    op.create_index("ix_article_tags_tag", "article_tags", ["tag"])
