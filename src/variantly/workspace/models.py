"""The schema of the files marketers write: modules, layouts, audiences, settings.

Every model forbids unknown fields, so a typo in a front matter key is a lint error
with a position rather than a silently ignored setting.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date, timedelta
from functools import cached_property
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from variantly.workspace.channels import ChannelLimits, ChannelName, ChannelSettings
from variantly.workspace.images import ImageSettings, Picture
from variantly.workspace.rules import Rule, Test, holds_for_cohort

# What a run may ask for, in variantly.yml, on the command line or through the API (one bound for all three)
MOST_CANDIDATES = 10
MOST_CONCURRENCY = 256

DIMENSIONS = ("segment", "industry", "behaviour", "locale")
Dimension = Literal["segment", "industry", "behaviour", "locale"]
Kind = Literal["headline", "example", "image", "cta"]
KINDS: tuple[Kind, ...] = ("headline", "example", "image", "cta")
VARY_BY_DEFAULT: tuple[Dimension, ...] = ("segment", "industry", "behaviour")
Ident = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)
IDENT = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
CORE_EVENTS = ("impression", "click", "conversion")

# Text per locale, or one text for every locale.
Localized = str | dict[str, str]


def localized(value: Localized, locale: str, default_locale: str) -> str | None:
    if isinstance(value, str):
        return value
    return value.get(locale, value.get(default_locale))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Slot(_Strict):
    """One piece of copy in a module: its constraints and the marketer's default. An ``asset`` slot picks one of
    the module's assets by id; an ``image`` slot is a generated picture (``image``: what is asked for), its default
    one of the module's assets, shown until a generated picture is approved."""

    type: Literal["text", "asset", "image"] = "text"
    description: str = ""
    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=1)
    default: Localized
    image: Picture | None = None

    @model_validator(mode="after")
    def _picture(self) -> Slot:
        if self.type == "image" and self.image is None:
            object.__setattr__(self, "image", Picture())
        if self.type != "image" and self.image is not None:
            raise ValueError("'image' settings belong to a slot with 'type: image'")
        return self

    @property
    def is_text(self) -> bool:
        return self.type == "text"


class Asset(_Strict):
    """An image the copy may pick; generated copy chooses by id, never by URL."""

    id: str = Ident
    url: str
    description: str


class Suppression(_Strict):
    """Stop a module from pushing when the moment is wrong.

    ``then: alternative`` renders the alternative slot texts (e.g. a support message
    instead of "Buy now"); ``then: hide`` renders nothing.
    """

    id: str = Ident
    when: Rule
    then: Literal["alternative", "hide"]
    reason: str
    alternative: dict[str, Localized] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _alternative_given(self) -> Suppression:
        if self.then == "alternative" and not self.alternative:
            raise ValueError("'then: alternative' needs an 'alternative' with slot texts")
        return self


class FrequencyCap(_Strict):
    max_impressions: int = Field(ge=1)
    # At most as long as events can be kept (``EventSettings.retention_days``): a window reaching past any date
    # (999999 days) made every render of the module fail with an overflow, where lint now names the line.
    per_days: float = Field(gt=0, le=3650)

    @cached_property
    def window(self) -> timedelta:
        """``per_days`` as a timedelta, made once: every render of a capped module subtracts it from now (0.49 us
        to build one each time against 0.07 us, timeit)."""
        return timedelta(days=self.per_days)


class Module(_Strict):
    id: str = Ident
    kind: Kind
    channels: list[ChannelName] = Field(min_length=1)
    limits: dict[ChannelName, ChannelLimits] = Field(
        default_factory=dict, description="this module's own channel limits, over variantly.yml's"
    )
    vary_by: list[Dimension] = Field(default_factory=lambda: list(VARY_BY_DEFAULT))
    brief: str = Field(min_length=1)
    facts: list[str] = Field(default_factory=list)
    slots: dict[str, Slot] = Field(min_length=1)
    assets: list[Asset] = Field(default_factory=list)
    suppress: list[Suppression] = Field(default_factory=list)
    frequency_cap: FrequencyCap | None = None

    @property
    def picture_slot(self) -> tuple[str, Picture] | None:
        """The generated image slot, if the module has one (its jobs make pictures)."""
        return next(((n, s.image) for n, s in self.slots.items() if s.type == "image" and s.image), None)

    @cached_property
    def dimensions(self) -> tuple[str, ...]:
        """The cohort dimensions of this module, in fallback order. Locale is always
        one: copy must be in the reader's language, so it is never generalised away."""
        dims = [d for d in dict.fromkeys(self.vary_by) if d != "locale"]
        return (*dims, "locale")

    def suppressed_for_cohort(self, values: Mapping[str, str]) -> str | None:
        """The first suppression rule that holds for everyone in this cohort (``holds_for_cohort``): what an
        anonymous fragment for ``behaviour=open_support_ticket`` shows instead of the sales call to action, and a
        cohort generation skips (no one in it could ever be served its variants)."""
        return next((rule.id for rule in self.suppress if holds_for_cohort(rule.when, values)), None)

    def content_hash(self) -> str:
        """What the copy depends on. Editing it makes this module's variants stale;
        editing the markup or the suppression rules does not."""
        basis = self.model_dump(include={"kind", "brief", "facts", "slots", "assets"}, mode="json")
        return _hash(basis)


class Layout(_Strict):
    """A landing page or an email composed of modules."""

    id: str = Ident
    channels: list[ChannelName] = Field(min_length=1)
    modules: list[str] = Field(min_length=1)
    title: Localized = ""
    subject: Localized = ""


class Audience(_Strict):
    id: str = Ident
    description: str = ""
    when: Rule


class Locale(Audience):
    """A locale's id is stored beside each variant in a column of 16 characters (``pt-br``, ``zh-hant-tw``): a longer
    one linted clean and was a traceback on PostgreSQL at the first import or run."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=16)


class MergeField(_Strict):
    trait: str
    default: Localized


class Price(_Strict):
    """US dollars per million tokens."""

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)
    cached_input_per_million: float | None = Field(
        default=None, ge=0, description="prompt tokens served from the provider's cache; input price if unset"
    )
    batch_discount: float = Field(default=0.5, ge=0, le=1, description="share of the price the Batch API charges")


class GenerationSettings(_Strict):
    """How the authoring path calls the LLM. Operators own these; env vars override
    the model (``VARIANTLY_MODEL``) and the endpoint (``OPENAI_BASE_URL``)."""

    model: str = "gpt-4o-mini"
    temperature: float = Field(default=0.8, ge=0, le=2)
    candidates: int = Field(default=3, ge=1, le=MOST_CANDIDATES)
    max_reasks: int = Field(default=2, ge=0, le=5)
    concurrency: int = Field(default=8, ge=1, le=MOST_CONCURRENCY)
    response_format: Literal["json_schema", "json_object"] = "json_schema"
    schema_string_lengths: bool = Field(
        default=False,
        description="also state text slots' limits as minLength/maxLength in the JSON schema: for servers that "
        "enforce them (vLLM, llama.cpp, Ollama); OpenAI's strict mode refuses those keywords",
    )
    prompt_token_budget: int = Field(default=3000, ge=200)
    max_completion_tokens: int = Field(default=1200, ge=50)
    timeout_seconds: float = Field(default=60, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0, description="base of the exponential backoff")
    tokenizer: str = "o200k_base"
    prices: dict[str, Price] = Field(
        default_factory=lambda: {
            "gpt-4o-mini": Price(input_per_million=0.15, output_per_million=0.60, cached_input_per_million=0.075),
            "gpt-4o": Price(input_per_million=2.50, output_per_million=10.00, cached_input_per_million=1.25),
            "gpt-4.1-mini": Price(input_per_million=0.40, output_per_million=1.60, cached_input_per_million=0.10),
        }
    )


class FixedHorizon(_Strict):
    """A result read once, at a moment planned in advance: then "significant" is the fixed-horizon test's."""

    sample_size: int | None = Field(default=None, ge=100, description="exposed profiles per module, both arms")
    end: date | None = Field(default=None, description="the day the result is read")

    @model_validator(mode="after")
    def _one(self) -> FixedHorizon:
        if (self.sample_size is None) == (self.end is None):
            raise ValueError("give exactly one of sample_size or end")
        return self


class ReportingSettings(_Strict):
    """How lift is measured and read: money, guardrail metrics, and when a result may be called."""

    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217; conversions in any other currency are refused"
    )
    guardrail_events: list[str] = Field(
        default_factory=lambda: ["unsubscribe"],
        description="event types whose rate personalisation must not raise (flagged when treatment is worse)",
    )
    fixed_horizon: FixedHorizon | None = Field(
        default=None, description="declared in advance: the result is read at this size or date, not before"
    )
    sequential_tuning: int = Field(
        default=5000, ge=100, description="exposed profiles at which the anytime-valid interval is tightest"
    )
    winsorize_percentile: float | None = Field(
        default=None, gt=50, le=100, description="cap revenue per visitor at this percentile of the pooled values"
    )
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="1 - the intervals' confidence")
    minimum_per_arm: int = Field(
        default=10, ge=1, description="profiles with a value (converted, bought) each arm needs before any interval"
    )

    @field_validator("guardrail_events")
    @classmethod
    def _event_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not IDENT.match(name) or name in CORE_EVENTS:
                raise ValueError(f"'{name}' is not a guardrail event name (lower case; not one of {CORE_EVENTS})")
        return names


class EventSettings(_Strict):
    """How long what people did is kept, and how the person is named in it: the workspace's data-protection choices."""

    retention_days: int = Field(
        default=395,
        ge=1,
        le=3650,
        description="events and exposures older than this are purged (395 days: 13 months, a year-on-year comparison)",
    )
    pseudonymise: bool = Field(
        default=True,
        description="the store keeps a keyed hash of each profile id, never the id (Redis and memory always)",
    )


class Settings(_Strict):
    """``variantly.yml``: workspace-wide settings that marketers and operators own."""

    name: str = "Variantly workspace"
    default_locale: str = "en"
    merge_fields: dict[str, MergeField] = Field(default_factory=dict)
    holdout_percent: float = Field(default=10.0, ge=0, le=100)
    holdout_salt: str = "variantly"
    anonymous_render: bool = Field(default=False, description="allow render and events without a token")
    variant_selection: Literal["thompson", "even"] = Field(
        default="thompson", description="how to choose between several approved variants of one cohort"
    )
    brand_voice: str = ""
    channels: dict[ChannelName, ChannelSettings] = Field(
        default_factory=dict, description="per channel: limits and texts every message carries (SMS opt-out)"
    )
    reporting: ReportingSettings = Field(default_factory=ReportingSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)

    def merge_defaults(self, locale: str) -> dict[str, str]:
        """Every merge field at its default for ``locale``: what a reader without a value of their own reads."""
        return {name: localized(m.default, locale, self.default_locale) or "" for name, m in self.merge_fields.items()}


class InOrder(NamedTuple):
    """One audience as resolution walks it (``Audiences.in_order``)."""

    key: tuple[str, str]  # (dimension, id)
    test: Test
    reason: str  # "enterprise: trait company_size >= 1000"
    said: tuple[str, str, str]  # (dimension, id, "segment = enterprise: trait company_size >= 1000")


class Audiences(_Strict):
    """``audiences.yml``: ordered rules per dimension; the first that matches wins."""

    segments: list[Audience] = Field(default_factory=list)
    industries: list[Audience] = Field(default_factory=list)
    behaviours: list[Audience] = Field(default_factory=list)
    locales: list[Locale] = Field(min_length=1)

    def of(self, dimension: str) -> list[Audience]:
        return self._by_dimension[dimension]

    def find(self, dimension: str, ident: str) -> Audience | None:
        return self._by_id.get((dimension, ident))

    def reason(self, dimension: str, ident: str) -> str:
        """Why a profile is in this audience, as a render decision says it (worked out once per rule)."""
        return self._reasons[(dimension, ident)]

    @cached_property
    def _by_dimension(self) -> dict[str, list[Audience]]:
        return {
            "segment": self.segments,
            "industry": self.industries,
            "behaviour": self.behaviours,
            "locale": list[Audience](self.locales),
        }

    @cached_property
    def in_order(self) -> tuple[tuple[str, tuple[InOrder, ...]], ...]:
        """Per dimension, in file order, each audience's (dimension, id), rule check, reason and what a decision
        says of it: what resolving a profile walks on every render, laid out once."""
        return tuple(
            (
                d,
                tuple(
                    InOrder((d, a.id), a.when.test, reason := self._reasons[(d, a.id)], (d, a.id, f"{d} = {reason}"))
                    for a in audiences
                ),
            )
            for d, audiences in self._by_dimension.items()
        )

    @cached_property
    def _by_id(self) -> dict[tuple[str, str], Audience]:
        return {(d, a.id): a for d, audiences in reversed(self._by_dimension.items()) for a in reversed(audiences)}

    @cached_property
    def _reasons(self) -> dict[tuple[str, str], str]:
        return {key: f"{a.id}: {a.when.describe()}" for key, a in self._by_id.items()}


def _hash(data: object) -> str:
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]
