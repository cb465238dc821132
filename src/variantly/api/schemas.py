"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from variantly.serving.profiles import Profile, count_first, reject_invalid_text
from variantly.workspace.channels import ChannelName

MAX_BATCH = 20_000


class Body(BaseModel):
    """A request body: unknown fields refused, and text no store could hold refused with the field named
    (a NUL, a lone surrogate) before anything reaches the store."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return reject_invalid_text(value)


class Target(BaseModel):
    """What to render: exactly one of a module, a list of modules, or a layout."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["module"], "properties": {"module": {"type": "string", "minLength": 1}}},
                {"required": ["modules"], "properties": {"modules": {"type": "array", "minItems": 1}}},
                {"required": ["layout"], "properties": {"layout": {"type": "string", "minLength": 1}}},
            ]
        },
    )

    module: str | None = Field(default=None, min_length=1, max_length=64)
    modules: list[str] | None = Field(default=None, min_length=1, max_length=50)
    layout: str | None = Field(default=None, min_length=1, max_length=64)
    channel: ChannelName = Field(default="web", description="web, email, sms or push (the channel registry)")

    @model_validator(mode="after")
    def _exactly_one_target(self):
        if bool(self.module) + bool(self.modules) + bool(self.layout) == 1:  # every render asks: the short way first
            return self
        given = [name for name in ("module", "modules", "layout") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of module, modules or layout (got {', '.join(given) or 'none'})")
        return self


class RenderRequest(Target):
    profile: Profile


class BatchRenderRequest(Target):
    profiles: list[Profile] = Field(min_length=1, max_length=MAX_BATCH)

    @model_validator(mode="before")
    @classmethod
    def _count_first(cls, value: Any) -> Any:
        """The count is checked before 20,001 profiles are validated one by one."""
        count_first(value, "profiles", MAX_BATCH, "split the send")
        return value


class ErrorDetail(BaseModel):
    field: str = Field(description="where in the request, e.g. body.profile.events.3.at")
    message: str


class ErrorBody(BaseModel):
    code: str = Field(description="stable and machine-readable, e.g. not_found, invalid_request, consent_required")
    message: str = Field(description="what went wrong and what to do about it")
    details: list[ErrorDetail] = Field(default_factory=list, description="one entry per bad field, for 422")


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer has this shape. It never repeats the request's content."""

    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "no or bad token"},
    403: {"model": ErrorResponse, "description": "role too low, or consent missing"},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse, "description": "stale version"},
    413: {"model": ErrorResponse, "description": "the body is over this route's limit"},
    400: {"model": ErrorResponse, "description": "the body could not be read as JSON"},
    422: {
        "model": ErrorResponse,
        "description": "invalid_request: the body or a parameter is invalid (details name each field); "
        "channel_not_supported: the module or layout has no such channel; profile_invalid, reason_required",
    },
    503: {"model": ErrorResponse, "description": "the store is unreachable (render goes on from the last release)"},
}


class DecisionOut(BaseModel):
    module: str
    outcome: Literal["variant", "default", "alternative", "hidden"]
    cohort: str
    arm: str
    variant_id: str | None
    served_cohort: str | None
    rule: str | None
    reasons: list[str]
    signature: str | None = Field(
        default=None, description="send it back with this decision's events (required for events without a token)"
    )


class RenderResponse(BaseModel):
    """The message in the channel asked for: one field per part of the channel (web: html; email: html, text
    and subject; sms: text; push: title and body). ``html`` and ``text`` are always present, null when the
    channel has no such part."""

    html: str | None
    text: str | None = None
    subject: str | None = None
    title: str | None = Field(default=None, description="push only")
    body: str | None = Field(default=None, description="push only")
    arm: str
    release: int
    decisions: list[DecisionOut]


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    release: int
    release_variants: int
    workspace: str
    problems: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, health: Any) -> HealthResponse:
        problems = [p for p in (health.workspace_error, health.store_error, health.activity_error) if p]
        return cls(
            status="degraded" if problems else "ok",
            release=health.release,
            release_variants=health.release_variants,
            workspace=health.workspace_fingerprint,
            problems=problems,
        )
