"""The channels content is sent through, as one registry: web, email, SMS and push.

A channel says what a module or layout file writes for it (its parts: a Jinja block
each, HTML or plain text, CSS inlined or not), which consent flag a profile needs to be
sent it, whether a layout needs a subject, and its own rules (lengths, SMS segments, an
opt-out text, links only to allowed domains). Render, lint, the guardrails, the API's
types, the preview page and the CLI all read ``CHANNELS``; nothing else branches on a
channel's name. Adding a channel is one entry here, a consent flag on the profile, and
the blocks in the module files that use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal, Protocol

from markupsafe import escape
from pydantic import BaseModel, ConfigDict, Field

from variantly.errors import ChannelNotSupported
from variantly.workspace.links import find_links
from variantly.workspace.segments import sms_segments

Markup = Literal["html", "text"]


@dataclass(frozen=True)
class Part:
    """One piece of what a channel sends: the answer's key, the Jinja block that writes it, how it is escaped."""

    name: str
    block: str
    markup: Markup
    inline_css: bool = False  # a layout's <style> copied onto its tags: email clients drop <style>

    @property
    def escaped(self) -> bool:
        """HTML parts escape the person's values and the copy; text parts carry them as they are."""
        return self.markup == "html"


class ChannelLimits(BaseModel):
    """A channel's limits, in ``variantly.yml`` (``channels:``) or a module's ``limits:``; unset means the
    channel's own default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_segments: int | None = Field(default=None, ge=1, le=10, description="SMS segments a message may cost")
    max_chars: dict[str, int] = Field(default_factory=dict, description="characters per part, e.g. {title: 50}")


class ChannelSettings(ChannelLimits):
    """A channel's workspace-wide settings."""

    opt_out: str | dict[str, str] | None = Field(
        default=None,
        description="text every message must carry, per locale (SMS: 'Reply STOP to opt out'; email: an unsubscribe "
        "line with your sending service's unsubscribe tag)",
    )


@dataclass(frozen=True)
class RuleInput:
    """What a channel rule judges: one rendered message and the settings that apply to it."""

    outputs: Mapping[str, str]  # part name -> rendered text
    limits: ChannelLimits  # the module's own over the workspace's
    opt_out: str | None  # the workspace's opt-out text in the message's locale (no other locale's stands in)
    allowed_link_domains: tuple[str, ...]
    channel: str = ""
    locale: str = ""
    whole: bool = True  # a layout's message; a module's is a block of one for channels that send layouts (email)


class Rule(Protocol):
    def problems(self, given: RuleInput) -> list[str]: ...


@dataclass(frozen=True)
class MaxChars:
    part: str
    default: int

    def problems(self, given: RuleInput) -> list[str]:
        limit = given.limits.max_chars.get(self.part, self.default)
        length = len(given.outputs.get(self.part, ""))
        return [f"the {self.part} is {length} characters, over its limit of {limit}"] if length > limit else []


@dataclass(frozen=True)
class MaxSegments:
    part: str
    default: int

    def problems(self, given: RuleInput) -> list[str]:
        limit = given.limits.max_segments or self.default
        counted = sms_segments(given.outputs.get(self.part, ""))
        if counted.count > limit:
            return [f"costs {counted.describe()}, over max_segments {limit}"]
        return []


@dataclass(frozen=True)
class CarriesOptOut:
    """The workspace's opt-out text in the locale, in ``part``: an SMS's "Reply STOP", an email's unsubscribe
    line. ``whole_only``: asked of whole messages only (an email is its layout; a module's email block is a piece
    of one, placed by the layout or by a sender's own template)."""

    part: str
    whole_only: bool = False

    def problems(self, given: RuleInput) -> list[str]:
        if self.whole_only and not given.whole:
            return []
        if not given.opt_out:
            where = f"channels.{given.channel}.opt_out"
            return [f"needs an opt-out text in '{given.locale}': add it under {where} in variantly.yml"]
        written = given.outputs.get(self.part, "")
        if given.opt_out not in written and str(escape(given.opt_out)) not in written:  # an HTML part escapes it
            where = f" in its {self.part} part" if self.whole_only else ""
            return [
                f'must carry the opt-out text "{given.opt_out}"{where} (write {{{{ channel.opt_out }}}} in the block)'
            ]
        return []


@dataclass(frozen=True)
class LinksOnlyToAllowedDomains:
    part: str

    def problems(self, given: RuleInput) -> list[str]:
        text = given.outputs.get(self.part, "")
        found = (link.problem(given.allowed_link_domains) for link in find_links(text, given.allowed_link_domains))
        return [problem for problem in found if problem]


@dataclass(frozen=True)
class Channel:
    name: str
    description: str
    parts: tuple[Part, ...]
    consent: str | None = None  # the profile's consent flag a message needs (refused with 403 without it)
    subject: bool = False  # a layout in this channel has a subject line
    absolute_urls: bool = False  # read away from the site (a mail client): pictures by absolute URL, no srcset
    rules: tuple[Rule, ...] = field(default=())

    @property
    def blocks(self) -> tuple[str, ...]:
        return tuple(p.block for p in self.parts)

    @cached_property
    def sized(self) -> bool:
        """Whether its messages have a size a person's merge fields can push past: an SMS's segments (what a
        sender pays for), a push title's length. Worked out once: every render asks."""
        return any(isinstance(rule, MaxChars | MaxSegments) for rule in self.rules)

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)


HTML = "html"
TEXT = "text"

WEB = Channel("web", "a landing page or a block of one", (Part(HTML, "web", "html"),))
EMAIL = Channel(
    "email",
    "an email: HTML with its CSS inlined, a plain-text part and a subject",
    (Part(HTML, "email_html", "html", inline_css=True), Part(TEXT, "email_text", "text")),
    consent="marketing_email",
    subject=True,
    absolute_urls=True,
    rules=(CarriesOptOut(HTML, whole_only=True), CarriesOptOut(TEXT, whole_only=True)),
)
SMS = Channel(
    "sms",
    "a text message: plain text, counted in carrier segments, with an opt-out",
    (Part(TEXT, "sms", "text"),),
    consent="marketing_sms",
    rules=(MaxSegments(TEXT, default=2), CarriesOptOut(TEXT), LinksOnlyToAllowedDomains(TEXT)),
)
PUSH = Channel(
    "push",
    "a push notification: a short title and body, answered as JSON parts",
    (Part("title", "push_title", "text"), Part("body", "push_body", "text")),
    consent="marketing_push",
    rules=(MaxChars("title", default=50), MaxChars("body", default=150), LinksOnlyToAllowedDomains("body")),
)

CHANNELS: dict[str, Channel] = {c.name: c for c in (WEB, EMAIL, SMS, PUSH)}

if TYPE_CHECKING:
    ChannelName = str
else:  # a Literal built from the registry: pydantic refuses an unknown channel and OpenAPI lists them
    ChannelName = Literal[tuple(CHANNELS)]

KNOWN_BLOCKS = frozenset(block for channel in CHANNELS.values() for block in channel.blocks)
TEXT_BLOCKS = frozenset(p.block for channel in CHANNELS.values() for p in channel.parts if not p.escaped)


def channel_named(name: str) -> Channel:
    """The registered channel; ``ChannelNotSupported`` (422) for a name nothing validated before (a UI link)."""
    try:
        return CHANNELS[name]
    except KeyError:
        raise ChannelNotSupported(f"no channel '{name}' (channels: {', '.join(CHANNELS)})") from None


def merged_limits(workspace_wide: ChannelSettings | None, own: ChannelLimits | None) -> ChannelLimits:
    """A module's own limits over the workspace's."""
    base = workspace_wide or ChannelSettings()
    if own is None:
        return ChannelLimits(max_segments=base.max_segments, max_chars=dict(base.max_chars))
    return ChannelLimits(
        max_segments=own.max_segments or base.max_segments, max_chars={**base.max_chars, **own.max_chars}
    )
