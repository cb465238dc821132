"""Privacy: profile ids pseudonymised at rest, an append-only privacy log, indexes for retention.

Existing stores migrate: every profile id in ``events`` and ``exposures`` becomes
``ps1.<hmac>`` under a key made here (``secrets.pseudonym_key.1``), and every idempotency key
a sender made is hashed the same way, in batches of 5,000 rows. ``privacy_log`` records
erasures (under a keyed hash of the id, never the id) and purges. ``events.at`` and
``exposures.exposed_at`` get indexes so retention deletes old rows without a scan, and
``exposures.profile_id`` one so an erasure finds a person's rows.

Revision ID: 0010
"""

import hashlib
import hmac
import re
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
BATCH = 5000
PSEUDONYM = re.compile(r"^ps\d+\.[0-9a-f]{32}$")


def _key(conn, name: str) -> bytes:
    value = conn.execute(sa.text("SELECT value FROM secrets WHERE name = :n"), {"n": name}).scalar()
    if value is None:
        value = secrets.token_urlsafe(32)
        conn.execute(sa.text("INSERT INTO secrets (name, value) VALUES (:n, :v)"), {"n": name, "v": value})
    return value.encode()


def upgrade() -> None:
    op.create_table(
        "privacy_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(80), nullable=True, index=True),
        sa.Column("forget", sa.JSON, nullable=True),
        sa.Column("detail", sa.JSON, nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_exposures_exposed_at", "exposures", ["exposed_at"])
    op.create_index("ix_exposures_profile_id", "exposures", ["profile_id"])
    conn = op.get_bind()
    key = _key(conn, "pseudonym_key.1")
    _key(conn, "erasure_key")

    def pseudonym(profile_id: str) -> str:
        if PSEUDONYM.match(profile_id):
            return profile_id
        return "ps1." + hmac.new(key, profile_id.encode(), hashlib.sha256).hexdigest()[:32]

    def hashed_key(idempotency_key: str) -> str:
        if idempotency_key.startswith(("sig:", "key.")):
            return idempotency_key
        return "key." + hmac.new(key, b"key\x1f" + idempotency_key.encode(), hashlib.sha256).hexdigest()[:40]

    last = 0
    while True:
        rows = conn.execute(
            sa.text("SELECT id, profile_id, idempotency_key FROM events WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            break
        changed = [
            {"i": i, "p": pseudonym(p), "k": hashed_key(k)}
            for i, p, k in rows
            if pseudonym(p) != p or hashed_key(k) != k
        ]
        if changed:
            conn.execute(sa.text("UPDATE events SET profile_id = :p, idempotency_key = :k WHERE id = :i"), changed)
        last = rows[-1][0]
    clear = conn.execute(sa.text("SELECT DISTINCT profile_id FROM exposures")).scalars().all()
    changed = [{"old": p, "new": pseudonym(p)} for p in clear if pseudonym(p) != p]
    for start in range(0, len(changed), BATCH):
        conn.execute(
            sa.text("UPDATE exposures SET profile_id = :new WHERE profile_id = :old"), changed[start : start + BATCH]
        )


def downgrade() -> None:
    op.drop_index("ix_exposures_profile_id", "exposures")
    op.drop_index("ix_exposures_exposed_at", "exposures")
    op.drop_index("ix_events_at", "events")
    op.drop_table("privacy_log")
