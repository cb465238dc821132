"""The process's settings: every environment variable Variantly reads, read here and only here.

What a workspace says (``variantly.yml``) belongs to the people who write it; how one
process runs (which store, which Redis, how often to poll, which LLM endpoint) belongs to
the operator, and comes from the environment or the command line. ``ProcessSettings`` is
that second kind, frozen: the CLI, the app factory, the render service and the LLM client
are handed one, and a worker process gets it pickled from its parent rather than through
``os.environ``. ``ENVIRONMENT`` maps each field to its variable; the README's table lists
them (a test keeps the two the same).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from variantly.errors import ConfigurationError

MB = 1024 * 1024
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?$")
DEFAULT_BODY_LIMITS = {"render": 256 * 1024, "batch": 64 * MB, "stream": 16 * 1024 * MB, "events": 8 * MB, "other": MB}
SIZE_UNITS = {"k": 1024, "m": MB, "g": 1024 * MB, "": 1}


class ProcessSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    workspace: Path = Field(default=Path("."), description="the workspace folder")
    database_url: str | None = Field(default=None, description="the store; default: SQLite under the workspace")
    redis_url: str | None = Field(default=None, description="share frequency caps")
    redis_prefix: str = Field(default="variantly:", description="key prefix, to share one Redis")
    render_only: bool = Field(default=False, description="a render node: no review UI or runs")
    # Bounded: a background thread waits this long between looks, and a wait past what the platform's clock can
    # hold ("inf", 1e300) killed the poller at its first wait: the process went on serving its first release and
    # workspace, a token revoked later still let its holder in (until an unknown token made it read the accounts),
    # an erased person's caps stayed, and the log said so once, in a traceback.
    poll_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="how often to look for a new release or edit (at most hourly)"
    )
    activity_pairs: int = Field(
        default=25_000, ge=1, description="profile and module pairs each process keeps for caps without Redis"
    )
    picture_cache_mb: int = Field(default=64, ge=0, description="megabytes of pictures each process keeps in memory")
    body_limits: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_BODY_LIMITS),
        description="request body limits per route, e.g. render=256k,batch=64m,stream=16g,events=8m,other=1m",
    )
    secure_cookies: bool = Field(default=False, description="mark the review UI's cookies Secure (behind TLS)")
    log_format: Literal["plain", "json"] = Field(default="plain", description="json: one JSON object a line")
    server_stack: Literal["fast", "asyncio"] = Field(
        default="fast", description="fast: uvloop and httptools; asyncio: the standard library's loop and h11"
    )
    forwarded_allow_ips: str | None = Field(
        default=None, description="proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (none by default)"
    )
    page_origins: tuple[str, ...] = Field(
        default=(),
        description="sites whose pages may call render and events from the browser (CORS), e.g. "
        "https://www.lumen.example,https://lumen.example; none by default",
    )
    purge_seconds: float = Field(  # bounded like poll_seconds: the purge thread waits this long
        default=3600,
        ge=0,
        le=7 * 86400,
        description="how often a server deletes events past events.retention_days (0: never; at most weekly)",
    )
    model: str | None = Field(default=None, description="the LLM model, over generation.model in variantly.yml")
    openai_api_key: str | None = Field(default=None, description="the LLM endpoint's key", repr=False)
    openai_base_url: str | None = Field(default=None, description="any OpenAI-compatible endpoint")
    metrics_dir: str | None = Field(default=None, description="Prometheus multi-process folder (several workers)")
    # A name the audit log can hold (its column takes 100 characters: a longer $USER was a traceback on PostgreSQL)
    # and shows on one line; an empty --actor had made an entry by nobody.
    actor: str = Field(
        default="cli",
        min_length=1,
        max_length=100,
        description="who a command acts as in the audit log, unless --actor says",
    )

    @field_validator("body_limits", mode="before")
    @classmethod
    def _limits(cls, value: Any) -> Any:
        return parse_body_limits(value) if isinstance(value, str) else value

    @field_validator("page_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        """Origins as a browser sends them (scheme, host and any port: no path, no trailing slash), or "*"."""
        listed = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        for origin in listed:
            if origin != "*" and not ORIGIN.match(origin):
                raise ValueError(
                    f"{origin!r} is not an origin as a browser sends it: scheme and host, with a port if any, no path"
                    " (https://www.lumen.example)"
                )
        return tuple(listed)

    @field_validator("actor")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError(f"{value!r} is not a name on one line (it has a control character)")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **given: Any) -> ProcessSettings:
        """The environment's settings, with what a caller ``given`` (the command line) over them; a bad value
        is a ``ConfigurationError`` naming its variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}  # where each value came from: the variable that was set, or the option
        for name, variables in ENVIRONMENT.items():
            found = next((v for v in variables if environ.get(v, "").strip()), None)
            if found is not None:
                values[name], sources[name] = environ[found].strip(), found
        for name, value in given.items():
            if value is not None:
                values[name], sources[name] = value, f"--{name.replace('_', '-')}"
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else ""
            raise ConfigurationError(f"{sources.get(name, name)}: {error['msg']}") from None

    def but(self, **changes: Any) -> ProcessSettings:
        """These settings with some changed (``None`` leaves a setting as it is)."""
        return self.model_validate(self.model_dump() | {k: v for k, v in changes.items() if v is not None})


# field -> the variables it is read from, first set wins
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "workspace": ("VARIANTLY_WORKSPACE",),
    "database_url": ("VARIANTLY_DATABASE_URL",),
    "redis_url": ("VARIANTLY_REDIS_URL",),
    "redis_prefix": ("VARIANTLY_REDIS_PREFIX",),
    "render_only": ("VARIANTLY_RENDER_ONLY",),
    "poll_seconds": ("VARIANTLY_POLL_SECONDS",),
    "activity_pairs": ("VARIANTLY_ACTIVITY_PAIRS",),
    "picture_cache_mb": ("VARIANTLY_PICTURE_CACHE_MB",),
    "body_limits": ("VARIANTLY_BODY_LIMITS",),
    "secure_cookies": ("VARIANTLY_SECURE_COOKIES",),
    "log_format": ("VARIANTLY_LOG_FORMAT",),
    "server_stack": ("VARIANTLY_SERVER_STACK",),
    "forwarded_allow_ips": ("VARIANTLY_FORWARDED_ALLOW_IPS",),
    "page_origins": ("VARIANTLY_PAGE_ORIGINS",),
    "purge_seconds": ("VARIANTLY_PURGE_SECONDS",),
    "model": ("VARIANTLY_MODEL",),
    "openai_api_key": ("OPENAI_API_KEY",),
    "openai_base_url": ("OPENAI_BASE_URL",),
    "metrics_dir": ("PROMETHEUS_MULTIPROC_DIR",),
    "actor": ("VARIANTLY_ACTOR", "USER"),
}


def parse_body_limits(spec: str) -> dict[str, int]:
    """``render=64k,events=2m`` over the defaults; a bad entry names itself."""
    limits = dict(DEFAULT_BODY_LIMITS)
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        name, _, size = entry.partition("=")
        size = size.strip().lower()
        unit = size[-1] if size and size[-1] in "kmg" else ""
        number = size[:-1] if unit else size
        if name.strip() not in DEFAULT_BODY_LIMITS or not number.isdigit():
            raise ValueError(
                f"'{entry}' is not NAME=SIZE with NAME one of {', '.join(DEFAULT_BODY_LIMITS)} "
                "and SIZE like 256k, 8m or 16g"
            )
        limits[name.strip()] = int(number) * SIZE_UNITS[unit]
    return limits
