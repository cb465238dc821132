"""Accounts an admin controls: disabled (and when), last used, and the review UI's sessions.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("accounts", sa.Column("disabled_at", TZ, nullable=True))
    op.add_column("accounts", sa.Column("last_used_at", TZ, nullable=True))
    op.create_table(
        "ui_sessions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account", sa.String(100), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("started_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ui_sessions")
    op.drop_column("accounts", "last_used_at")
    op.drop_column("accounts", "disabled_at")
