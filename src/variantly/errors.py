"""Every error a user can meet, in one place.

Each exception carries a message that says what to fix. The HTTP layer maps them to a
status code (``status_code``) and a stable machine-readable ``code`` in one handler;
the CLI prints the message and exits with ``exit_code`` through one decorator.

Class map::

    VariantlyError                       400  base: a problem the user can act on
    ├── WorkspaceError                   400  the files do not lint (``problems``)
    ├── ImportFileError                  400  a variants file has bad lines
    ├── NotText                          400  a file people write that is not UTF-8 text, named at its first bad byte
    ├── InvalidProfile                   422  a profile file or pasted profile with a bad field
    ├── InvalidRequest                   422  a field no store could hold (a NUL character), named
    ├── NotFound                         404  an id, module, layout or audience that does not exist
    ├── ChannelNotSupported              422  a module or layout without that channel
    ├── ConsentRequired                  403  email to a profile without marketing consent
    ├── ConfigurationError               503  a setting is missing or wrong (exit 2)
    │   └── GenerationStackMissing            the generation extra is not installed
    ├── AuthError                             who is calling
    │   ├── Unauthenticated              401  no or bad credentials
    │   ├── TooManyAttempts              429  too many failed sign-ins: wait ``retry_after`` seconds
    │   └── Forbidden                    403  a role too low, or a form without its CSRF token
    ├── ReviewError                           the approval queue
    │   ├── Conflict                     409  a stale version: reload and try again
    │   ├── InvalidTransition            409  a status change the workflow does not allow
    │   └── ReasonRequired               422  a rejection without a reason
    ├── GenerationError                       prompts and the LLM
    │   ├── PromptTooLarge               400  a prompt over its token budget after every cut
    │   ├── PromptBroken                 400  a prompt template that fails as it renders, named at its line
    │   ├── LLMNotConfigured             503  no API key or endpoint (exit 2)
    │   ├── LLMEndpointMisconfigured     503  401/403/404 from the endpoint (exit 2)
    │   ├── LLMUnreachable               503  connections refused again and again (exit 2)
    │   └── LLMCallFailed                502  no usable answer after retries
    │       ├── LLMRefused               502  the model refused
    │       └── LLMTruncated             502  the answer hit max_completion_tokens
    └── StoreError                            the database
        └── StoreUnavailable             503  unreachable or failing: try again shortly

``LLMNotConfigured``, ``LLMEndpointMisconfigured`` and ``LLMUnreachable`` are also
``ConfigurationError``: every later call would fail alike, so a run stops at the first.
"""

from __future__ import annotations

from dataclasses import dataclass


class VariantlyError(Exception):
    """Base class: a problem the user can act on; the message says how."""

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
    """The workspace files do not load: fix each ``path:line:col`` in ``problems``."""

    code = "workspace_invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"workspace has {len(self.problems)} problem(s):\n{lines}")


class ImportFileError(VariantlyError):
    """A variants file has bad lines (each named ``file:line``): fix them; nothing was imported."""

    code = "import_invalid"


class NotText(VariantlyError):
    """A file that is not UTF-8 text (saved as UTF-16 or Latin-1, say): ``problem`` names it at the first byte that
    cannot be read; save it as UTF-8."""

    code = "not_text"

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class InvalidProfile(VariantlyError):
    """A profile (a file, or pasted in the preview) has bad fields, each named: fix them and try again."""

    status_code = 422
    code = "profile_invalid"


class InvalidRequest(VariantlyError):
    """A request field that cannot be used (text with a NUL character), named in ``field``."""

    status_code = 422
    code = "invalid_request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message

    @property
    def details(self) -> list[dict[str, str]]:
        """The field as an error answer's ``details`` name it, as they name each field pydantic refused."""
        return [{"field": self.field, "message": self.detail}]


class NotFound(VariantlyError):
    """No such id, module, layout or audience: the message lists the ones that exist."""

    status_code = 404
    code = "not_found"


class ChannelNotSupported(VariantlyError):
    """The module or layout has no such channel: ask for one it lists, or add the blocks."""

    status_code = 422
    code = "channel_not_supported"


class ConsentRequired(VariantlyError):
    """A message to a profile without that channel's consent flag (email, SMS, push): do not send it."""

    status_code = 403
    code = "consent_required"


class ConfigurationError(VariantlyError):
    """A setting is missing or wrong (database URL, LLM endpoint, ...): correct it and rerun.

    Over HTTP it is the server's setting, not the caller's mistake: 503.
    """

    status_code = 503
    code = "configuration"
    exit_code = 2


class GenerationStackMissing(ConfigurationError):
    """The generation extra is not installed: ``pip install 'variantly[generate]'``."""

    code = "generation_not_installed"


# --- who is calling ---------------------------------------------------------------


class AuthError(VariantlyError):
    """Base for problems with who is calling."""


class Unauthenticated(AuthError):
    """No credentials, or bad ones: send a valid token or sign in again."""

    status_code = 401
    code = "unauthenticated"


class TooManyAttempts(AuthError):
    """Too many failed sign-ins for this account or address: wait ``retry_after`` seconds."""

    status_code = 429
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(AuthError):
    """Signed in, but not allowed: ask an admin for a higher role, or reload the form."""

    status_code = 403
    code = "forbidden"


# --- the approval queue ---------------------------------------------------------


class ReviewError(VariantlyError):
    """Base for review actions the queue refuses."""


class Conflict(ReviewError):
    """A write named a version that is no longer current: reload and try again."""

    status_code = 409
    code = "conflict"


class InvalidTransition(ReviewError):
    """That status change is not allowed from the variant's current status: see its history."""

    status_code = 409
    code = "invalid_transition"


class SecondReviewerNeeded(ReviewError):
    """A variant of a brand risk the guidelines want two reviewers for was approved once by this reviewer: another
    reviewer must approve it."""

    status_code = 409
    code = "second_reviewer_needed"


class FailsPolicy(ReviewError):
    """Copy checked under an older policy fails it as it is checked now: it was moved to guardrail_failed, not
    approved. Its report says why."""

    status_code = 409
    code = "fails_policy"


class ReasonRequired(ReviewError):
    """A rejection needs a reason: say what is wrong so the next version can be better."""

    status_code = 422
    code = "reason_required"


# --- prompts and the LLM ----------------------------------------------------------


class GenerationError(VariantlyError):
    """Base for problems making copy with the LLM."""


class PromptTooLarge(GenerationError):
    """A prompt is over its token budget after every cut: shorten the brief or facts, or raise the budget."""

    code = "prompt_too_large"


class PromptBroken(GenerationError):
    """A prompt template fails as it renders (an undefined name, a missing include): fix the line named."""

    code = "prompt_broken"


class LLMNotConfigured(GenerationError, ConfigurationError):
    """No API key or endpoint: set OPENAI_API_KEY (and OPENAI_BASE_URL for other servers)."""

    code = "llm_not_configured"


class LLMEndpointMisconfigured(GenerationError, ConfigurationError):
    """401, 403 or 404 from the endpoint, or a 400 refusing a setting every request sends (the model, the
    response format, the temperature): no job of the run could succeed, so the run stops."""

    code = "llm_misconfigured"


class LLMUnreachable(GenerationError, ConfigurationError):
    """The endpoint refused connection after connection: check OPENAI_BASE_URL and the network."""

    code = "llm_unreachable"


class LLMCallFailed(GenerationError):
    """The LLM gave no usable answer after retries: run again later to retry the job."""

    status_code = 502
    code = "llm_failed"


class LLMRefused(LLMCallFailed):
    """The model refused, or its content filter stopped it: change the brief; asking again would not help."""

    code = "llm_refused"


class LLMTruncated(LLMCallFailed):
    """The answer hit max_completion_tokens: raise it or ask for fewer candidates."""

    code = "llm_truncated"


# --- the store ----------------------------------------------------------------------


class StoreError(VariantlyError):
    """Base for problems with the database."""


class StoreUnavailable(StoreError):
    """The store is unreachable or failing: check the database, then try again.

    ``message`` is safe to show to any caller; ``detail`` (the driver's words) is for
    the operator's log and terminal, never for an HTTP response.
    """

    status_code = 503
    code = "store_unavailable"

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail
