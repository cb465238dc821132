"""Each variant's brand score kept with it, so the queue filters and sorts by risk without scoring on read.

``brand`` is the whole score (every guideline's verdict and findings), ``brand_score`` and
``brand_risk`` its two figures as columns for the queue's filters and order, and
``brand_hash`` the version of ``guardrails/brand.yml`` it was made under (a different one:
scored again). Existing variants are scored by the first process that sees them unscored.

Revision ID: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("variants", sa.Column("brand", sa.JSON(), nullable=True))
    op.add_column("variants", sa.Column("brand_score", sa.Integer(), nullable=True))
    op.add_column("variants", sa.Column("brand_risk", sa.String(10), nullable=True))
    op.add_column("variants", sa.Column("brand_hash", sa.String(32), nullable=False, server_default=""))
    op.create_index("ix_variants_brand_risk_score", "variants", ["brand_risk", "brand_score"])


def downgrade() -> None:
    op.drop_index("ix_variants_brand_risk_score", "variants")
    for column in ("brand_hash", "brand_risk", "brand_score", "brand"):
        op.drop_column("variants", column)
