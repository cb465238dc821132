"""Tables. Changing them means a new Alembic revision in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC, on every engine.

    PostgreSQL keeps the zone; SQLite stores text and gives back naive datetimes, which
    the API would then publish without a zone. Stored as UTC, read back as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, datetime: UTCDateTime()}


STATUSES = ("pending", "approved", "rejected", "guardrail_failed", "stale", "retired")


class VariantRow(Base):
    """One candidate text per slot for a module and cohort.

    ``id`` is derived from what made the variant (module, cohort, prompt, policy,
    model, parameters, candidate number) so generating the same thing twice finds
    the row instead of paying again. ``version`` increases on every change and is
    what optimistic concurrency compares.
    """

    __tablename__ = "variants"
    __table_args__ = (Index("ix_variants_brand_risk_score", "brand_risk", "brand_score"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    module_id: Mapped[str] = mapped_column(String(64), index=True)
    cohort_key: Mapped[str] = mapped_column(String(255), index=True)
    locale: Mapped[str] = mapped_column(String(16))
    slots: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    module_hash: Mapped[str] = mapped_column(String(32))
    prompt_hash: Mapped[str] = mapped_column(String(32), default="")
    policy_hash: Mapped[str] = mapped_column(String(32), default="")
    model: Mapped[str] = mapped_column(String(100), default="")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str] = mapped_column(String(20))
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The brand score (``authoring.brand_score``) under the brand file ``brand_hash``; its figures as columns so the
    # queue filters and sorts by them. NULL: not scored yet.
    brand: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    brand_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    brand_risk: Mapped[str | None] = mapped_column(String(10), nullable=True)
    brand_hash: Mapped[str] = mapped_column(String(32), default="", server_default="")


class AuditEntry(Base):
    """Append-only: database triggers refuse UPDATE and DELETE on this table."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    variant_id: Mapped[str] = mapped_column(ForeignKey("variants.id"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_profile_module_at", "profile_id", "module_id", "at"),
        Index("ix_events_at", "at"),  # retention deletes the oldest without a scan
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    profile_id: Mapped[str] = mapped_column(String(200))
    module_id: Mapped[str] = mapped_column(String(64))
    variant_id: Mapped[str | None] = mapped_column(String(40))
    arm: Mapped[str] = mapped_column(String(20))
    cohort_key: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))  # what a conversion was worth
    currency: Mapped[str | None] = mapped_column(String(3))  # ISO 4217: the workspace's reporting currency


class ExposureRow(Base):
    """A profile's first impression of a variant, and its first conversion after it: variant statistics
    (Thompson sampling) count exposed people and people who converted, 0 or 1 each, never event rows."""

    __tablename__ = "exposures"
    __table_args__ = (Index("ix_exposures_exposed_at", "exposed_at"), Index("ix_exposures_profile_id", "profile_id"))

    variant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    profile_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    exposed_at: Mapped[datetime]
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PrivacyLogRow(Base):
    """What was done for data protection: erasures (under a keyed hash of the id, never the id; ``forget`` lists
    what caches may hold, so every process drops it at its next poll) and purges. Append-only."""

    __tablename__ = "privacy_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(20))  # erase, purge, pseudonymise, rotate
    subject: Mapped[str | None] = mapped_column(String(80), index=True)
    forget: Mapped[list[str] | None] = mapped_column(JSON)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ReleaseRow(Base):
    """A release counter: render processes poll the highest number."""

    __tablename__ = "releases"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # running, done, stopped_budget, failed, interrupted
    actor: Mapped[str] = mapped_column(String(100))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GenerationJobRow(Base):
    """A finished job (module x cohort x locale with given prompt, policy, model and
    parameters). Its presence is what makes a rerun or a resumed run skip the job."""

    __tablename__ = "generation_jobs"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    module_id: Mapped[str] = mapped_column(String(64))
    cohort_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))  # done, failed (retry when asked), unfinished (retried)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    reasks: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)
    # An unfinished job the budget stopped: {"answer", "candidates", "reasks"}, so the next run re-asks
    # from its last (redacted) answer instead of paying for a first answer again.
    resume: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class JobClaimRow(Base):
    """A job a run is generating: two runs on one store (an operator's and a schedule's) each planned it, and both
    paid for it, and the queue got its variants twice. The run renews its claims while it lives; one whose process
    is gone (on this machine) or that was not renewed for a lease (on another) may be taken over."""

    __tablename__ = "job_claims"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    holder: Mapped[str] = mapped_column(String(300))  # host:pid of the process running it
    renewed_at: Mapped[datetime] = mapped_column(default=utcnow)


class LLMCallRow(Base):
    __tablename__ = "llm_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    job_key: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(20))  # generate, top_up, reask
    attempt: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(60))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class BatchRow(Base):
    """Jobs sent through the provider's Batch API. ``status`` is the provider's until the results
    are collected (``collected``); ``jobs`` holds what is needed to check and save each result."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(100))
    input_file_id: Mapped[str] = mapped_column(String(100))
    jobs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AccountRow(Base):
    """A person or a system with a role. Tokens and passwords are stored hashed."""

    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped to end every session at once
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # set: no token, password or session works
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a token or a sign-in, to the minute


class UISessionRow(Base):
    """A review UI sign-in, so an admin can see how many sessions an account has. The session itself is the
    signed cookie; it ends when the account's version moves on or ``MAX_AGE`` after it started."""

    __tablename__ = "ui_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecretRow(Base):
    """Secrets every process of a deployment must share (the session signing key)."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class FeedbackRow(Base):
    """A reviewer's request to regenerate a cohort, with what to do better.
    ``run_id`` is set once a run has used it."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    module_id: Mapped[str] = mapped_column(String(64))
    cohort_key: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    variant_id: Mapped[str | None] = mapped_column(String(40))
    run_id: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ImageFileRow(Base):
    """A picture's bytes, by the name it is served under: the original as the provider made it
    (``<sha256>.<ext>``, its provenance metadata kept) and each smaller copy (``<sha256>-<width>.<ext>``).
    In the store so every render node finds it without a shared disk; content-addressed, never changed."""

    __tablename__ = "image_files"

    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), index=True)
    mime: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
