"""Every error a user can meet, in one place.

Each exception carries a message that says what to fix. The HTTP layer maps them to
status codes (``status_code``) and a stable machine-readable ``code``; the CLI prints
the message and exits with ``exit_code``.
"""

from __future__ import annotations

from dataclasses import dataclass


class VariantlyError(Exception):
    """Base class: a problem the user can act on."""

    status_code = 400
    code = "error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, order=True)
class Problem:
    """One lint finding, printed as ``path:line:col: message``."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class WorkspaceError(VariantlyError):
    """The workspace files do not load; ``problems`` lists every finding."""

    code = "workspace_invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"workspace has {len(self.problems)} problem(s):\n{lines}")


class NotFound(VariantlyError):
    status_code = 404
    code = "not_found"


class ChannelNotSupported(VariantlyError):
    status_code = 422
    code = "channel_not_supported"


class ConsentRequired(VariantlyError):
    """An email render for a profile that has not consented to marketing email."""

    status_code = 403
    code = "consent_required"


class ConfigurationError(VariantlyError):
    """A setting is missing or wrong (database URL, LLM endpoint, ...)."""

    code = "configuration"
    exit_code = 2


class StoreUnavailable(VariantlyError):
    status_code = 503
    code = "store_unavailable"


class ImportFileError(VariantlyError):
    """A variants file to import has a bad line; names file and line."""

    code = "import_invalid"


class Conflict(VariantlyError):
    """A write named a version that is no longer current: reload and try again."""

    status_code = 409
    code = "conflict"


class InvalidTransition(VariantlyError):
    status_code = 409
    code = "invalid_transition"


class LLMNotConfigured(ConfigurationError):
    code = "llm_not_configured"


class LLMCallFailed(VariantlyError):
    """The LLM did not give a usable answer, after retries where retrying made sense."""

    status_code = 502
    code = "llm_failed"


class LLMRefused(LLMCallFailed):
    """The model refused, or its content filter stopped it: asking again would not help."""

    code = "llm_refused"


class LLMTruncated(LLMCallFailed):
    """The answer hit max_completion_tokens: raise it or ask for fewer candidates."""

    code = "llm_truncated"


class LLMEndpointMisconfigured(ConfigurationError):
    """401, 403 or 404 from the endpoint: every call would fail alike, so a run stops."""

    code = "llm_misconfigured"


class ReasonRequired(VariantlyError):
    status_code = 422
    code = "reason_required"


class PromptTooLarge(VariantlyError):
    code = "prompt_too_large"


class Unauthenticated(VariantlyError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(VariantlyError):
    status_code = 403
    code = "forbidden"
