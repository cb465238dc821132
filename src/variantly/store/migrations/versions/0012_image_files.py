"""Pictures in the store: each original and its smaller copies by the name they are served under.

Revision ID: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_files",
        sa.Column("name", sa.String(96), primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("mime", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_image_files_hash", "image_files", ["hash"])


def downgrade() -> None:
    op.drop_index("ix_image_files_hash", "image_files")
    op.drop_table("image_files")
