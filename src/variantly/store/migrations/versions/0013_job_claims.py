"""Jobs a run is generating, so that two runs on one store never pay for the same job.

Revision ID: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_claims",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_job_claims_run_id", "job_claims", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_job_claims_run_id", "job_claims")
    op.drop_table("job_claims")
