"""Reindex jobs count the articles they indexed as plain text (bodies the HTML parser failed on).

Revision ID: 0005_job_plain_text_articles
Revises: 0004_counting_and_rollups
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_job_plain_text_articles"
down_revision = "0004_counting_and_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reindex_jobs", sa.Column("plain_text_articles", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reindex_jobs") as batch:
        batch.drop_column("plain_text_articles")
