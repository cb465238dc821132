"""Variants, the append-only audit log, events and the release counter.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "variants",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("module_id", sa.String(64), nullable=False, index=True),
        sa.Column("cohort_key", sa.String(255), nullable=False, index=True),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("slots", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("module_hash", sa.String(32), nullable=False),
        sa.Column("prompt_hash", sa.String(32), nullable=False),
        sa.Column("policy_hash", sa.String(32), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("variant_id", sa.String(40), sa.ForeignKey("variants.id"), nullable=False, index=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("from_status", sa.String(20)),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("profile_id", sa.String(200), nullable=False),
        sa.Column("module_id", sa.String(64), nullable=False),
        sa.Column("variant_id", sa.String(40)),
        sa.Column("arm", sa.String(20), nullable=False),
        sa.Column("cohort_key", sa.String(255)),
        sa.Column("at", TZ, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
    )
    op.create_index("ix_events_profile_module_at", "events", ["profile_id", "module_id", "at"])
    op.create_table(
        "releases",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("published_at", TZ, nullable=False),
    )
    _make_audit_log_append_only()


def _make_audit_log_append_only() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
