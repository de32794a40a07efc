"""Clicks on recommendations per article, list, clicked article and UTC hour.

Revision ID: 0002_article_clicks
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_article_clicks"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Development stores made by metadata.create_all in the week before migrations have it
    # already (they are stamped 0001_initial, then upgraded).
    if sa.inspect(op.get_bind()).has_table("article_clicks"):
        return
    op.create_table(
        "article_clicks",
        sa.Column(
            "article_id",
            sa.String(200),
            sa.ForeignKey("articles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("section", sa.String(16), primary_key=True),
        sa.Column(
            "target_id",
            sa.String(200),
            sa.ForeignKey("articles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("hour", sa.DateTime(), primary_key=True),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_article_clicks_hour", "article_clicks", ["hour", "section", "clicks"])


def downgrade() -> None:
    op.drop_index("ix_article_clicks_hour", table_name="article_clicks")
    op.drop_table("article_clicks")
