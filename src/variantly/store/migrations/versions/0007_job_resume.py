"""A job the budget stopped keeps where it was: its last answer and failing candidates, to go on from.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("generation_jobs", sa.Column("resume", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("generation_jobs", "resume")
