"""Dashboard sessions signed out before they expired: signing out ends a session everywhere.

Revision ID: 0007_revoked_sessions
Revises: 0006_year_one_after_undated
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_revoked_sessions"
down_revision = "0006_year_one_after_undated"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("revoked_sessions")
