"""Money on events, and exposures: who saw which variant first, and converted after.

``events.value`` and ``events.currency`` carry what a conversion was worth (sent by a server
with a token). ``exposures`` holds one row per variant and profile: the first impression,
and the first conversion after it, so variant statistics count people, not rows.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("events", sa.Column("value", sa.Numeric(18, 4), nullable=True))
    op.add_column("events", sa.Column("currency", sa.String(3), nullable=True))
    op.create_table(
        "exposures",
        sa.Column("variant_id", sa.String(40), primary_key=True),
        sa.Column("profile_id", sa.String(200), primary_key=True),
        sa.Column("exposed_at", TZ, nullable=False),
        sa.Column("converted_at", TZ, nullable=True),
    )
    # existing impressions and conversions, so statistics carry on as people rather than rows
    op.execute(
        """
        INSERT INTO exposures (variant_id, profile_id, exposed_at)
        SELECT variant_id, profile_id, MIN(at) FROM events
        WHERE type = 'impression' AND variant_id IS NOT NULL
        GROUP BY variant_id, profile_id
        """
    )
    op.execute(
        """
        UPDATE exposures SET converted_at = (
            SELECT MIN(e.at) FROM events e
            WHERE e.type = 'conversion' AND e.variant_id = exposures.variant_id
              AND e.profile_id = exposures.profile_id AND e.at >= exposures.exposed_at
        )
        """
    )


def downgrade() -> None:
    op.drop_table("exposures")
    op.drop_column("events", "currency")
    op.drop_column("events", "value")
