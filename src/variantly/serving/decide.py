"""Which copy a viewer gets for each module, and why (``decide``), and for a whole page (``decide_page``).

The order is the product's promise: suppression first (never push at the wrong
moment), then consent, then the holdout, then the most specific approved variant,
and always the marketer's default at the end (DESIGN invariant 4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, Literal

from variantly.errors import ChannelNotSupported, ConsentRequired, NotFound
from variantly.serving.cohorts import Resolution
from variantly.serving.holdout import Arm
from variantly.serving.kept import Kept, Missing
from variantly.serving.profiles import Profile
from variantly.serving.release import Release, ServedVariant
from variantly.serving.signatures import decision_part
from variantly.workspace.channels import Channel, channel_named
from variantly.workspace.cohorts import Cohort
from variantly.workspace.files import LayoutFile, ModuleFile, Workspace

if TYPE_CHECKING:
    from variantly.serving.activity import Activity
    from variantly.serving.shared_activity import SharedActivity

Outcome = Literal["variant", "default", "alternative", "hidden"]


@dataclass
class Viewer:
    """Who a render is for: a profile (personal) or just a cohort (anonymous fragment). Never changed once made
    (``with_seen`` makes another); not declared frozen, since a frozen dataclass sets each field through
    ``object.__setattr__``: two Viewers and a Resolution a render cost 4% of a landing page that way (py-spy)."""

    resolution: Resolution
    arm: Arm
    profile: Profile | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    activity: Activity | SharedActivity | None = None  # recent events: frequency caps and variant statistics
    seen: Mapping[str, int] | None = None  # personalised impressions per capped module, when asked up front

    @property
    def anonymous(self) -> bool:
        return self.profile is None

    def with_seen(self, seen: Mapping[str, int]) -> Viewer:
        """This viewer with its capped modules' impressions asked up front (``dataclasses.replace`` took 5 us of a
        render to work out the same)."""
        return Viewer(self.resolution, self.arm, self.profile, self.now, self.activity, seen)

    def personalised_impressions(self, module_id: str, window: timedelta) -> int | None:
        """How often this profile got a personalised ``module_id`` in the last ``window``; None if nothing knows."""
        if self.seen is not None and module_id in self.seen:
            return self.seen[module_id]  # asked up front, as a render does (the window is the same)
        if self.activity is None or self.profile is None:
            return None
        since = self.now - window
        return self.activity.seen(self.profile.id, {module_id: since}).get(module_id, 0)


@dataclass(frozen=True)
class Decision:
    """Which copy one module shows and why. The same inputs make the same decision, so each is made once and then
    shared (``decide``); what is per request, the signature that proves it was served, travels beside it
    (``RenderedPage.signatures``)."""

    module: str
    outcome: Outcome
    cohort: str
    arm: Arm
    variant_id: str | None = None
    served_cohort: str | None = None
    rule: str | None = None
    reasons: tuple[str, ...] = ()

    @cached_property
    def signed(self) -> bytes:
        """What a signature binds of this decision, made once (``serving.signatures``)."""
        return decision_part(self.module, self.variant_id, self.arm, self.cohort)

    def as_dict(self, signature: str | None = None) -> dict:
        """The decision as a render answers it, with the signature it was served under (None for a cohort)."""
        return {
            "module": self.module,
            "outcome": self.outcome,
            "cohort": self.cohort,
            "arm": self.arm,
            "variant_id": self.variant_id,
            "served_cohort": self.served_cohort,
            "rule": self.rule,
            "reasons": list(self.reasons),
            "signature": signature,
        }


# Decisions made so far, by everything that shapes one (``decide``'s key): the release (its serial) and the module
# file's source are in the key, so a new release or an edit is simply a miss. A decision kept here is never changed
# (it is frozen), which is what lets a prepared answer (``serving.answer``) be keyed by the decisions it was built from.
DECISIONS: Kept[Decision] = Kept(20_000)
# Why a module shows what it shows, as this viewer's profile decided it: ("rule", rule id), ("no consent",),
# ("control",), ("cap", impressions seen), ("variant", variant id) or ("none",): no approved variant.
Why = tuple[str, ...] | tuple[str, int]


def decide(
    workspace: Workspace, release: Release, module_file: ModuleFile, viewer: Viewer
) -> tuple[Decision, ServedVariant | None]:
    """The decision for one module, and the variant it serves (None for the default, an alternative or nothing).

    What the viewer's profile decides is worked out on every request (``_why``); the Decision it comes to, with
    its reasons, is made once and shared (``DECISIONS``): a landing page's four took 5-6 us each to build, against
    under 1 to look up."""
    module = module_file.module
    cohort, said = viewer.resolution.cohort_and_reasons(module.dimensions)
    why, chosen = _why(workspace, release, module_file, cohort, viewer)
    key = (release.serial, module.id, module_file.source_hash, cohort.key, said, viewer.arm, why)
    decision = DECISIONS.find(key)
    if decision is Missing.MISSING:
        decision = DECISIONS.keep(key, _made(release, module_file, cohort, said, viewer.arm, why))
    return decision, chosen


def _why(
    workspace: Workspace, release: Release, module_file: ModuleFile, cohort: Cohort, viewer: Viewer
) -> tuple[Why, ServedVariant | None]:
    module = module_file.module
    profile = viewer.profile
    if profile is not None:
        if module.suppress:
            lookup = viewer.resolution.in_audience
            for rule in module.suppress:
                if rule.when.test(profile, viewer.now, lookup):
                    return ("rule", rule.id), None
        if not profile.consent.personalisation:
            return ("no consent",), None
    elif rule_id := module.suppressed_for_cohort(viewer.resolution.values):  # a cohort fragment: no person to ask
        return ("rule", rule_id), None
    if viewer.arm == "control":
        return ("control",), None
    cap = module.frequency_cap
    if cap and profile is not None:
        seen = viewer.personalised_impressions(module.id, cap.window)
        if seen is not None and seen >= cap.max_impressions:
            return ("cap", seen), None
    found = release.servable(module_file, cohort)
    if found.variants and found.cohort is not None:
        chosen = _pick(found.variants, viewer, module.id, workspace.settings.variant_selection)
        return ("variant", chosen.id), chosen
    return ("none",), None


def _made(
    release: Release, module_file: ModuleFile, cohort: Cohort, said: tuple[str, ...], arm: Arm, why: Why
) -> Decision:
    """The decision ``why`` comes to, said in full: the cohort's reasons, then what decided."""
    module = module_file.module
    made = partial(Decision, module.id, cohort=cohort.key, arm=arm)
    match why:
        case ("rule", rule_id):
            rule = next(r for r in module.suppress if r.id == rule_id)
            outcome: Outcome = "alternative" if rule.then == "alternative" else "hidden"
            return made(outcome, rule=rule.id, reasons=(*said, f"suppressed by rule '{rule.id}': {rule.reason}"))
        case ("no consent",):
            return made("default", reasons=(*said, "default: no personalisation consent"))
        case ("control",):
            return made("default", reasons=(*said, "default: profile is in the holdout control group"))
        case ("cap", seen):
            cap = module.frequency_cap
            assert cap is not None
            reached = (
                f"default: frequency cap reached ({seen} personalised impressions in "
                f"{cap.per_days:g} days, cap {cap.max_impressions})"
            )
            return made("default", reasons=(*said, reached))
    found = release.servable(module_file, cohort)
    if why[0] == "variant" and found.cohort is not None:
        exact = "exact cohort" if found.cohort == cohort else f"fallback cohort {found.cohort.key}"
        return made(
            "variant",
            variant_id=str(why[1]),
            served_cohort=found.cohort.key,
            reasons=(*said, *found.skipped, f"approved variant for {exact}"),
        )
    return made(
        "default", reasons=(*said, *found.skipped, "default: no approved variant for this cohort or any broader one")
    )


def _pick(variants: tuple[ServedVariant, ...], viewer: Viewer, module_id: str, selection: str) -> ServedVariant:
    """Several approved variants: Thompson sampling on their conversion rates, or an even split.

    Thompson sampling draws a plausible conversion rate for each variant from
    Beta(1 + conversions, 1 + impressions - conversions) and serves the highest, so
    traffic moves to what converts while uncertain variants still get tried.
    """
    if len(variants) == 1:
        return variants[0]
    activity = viewer.activity
    if selection == "thompson" and activity is not None:
        rng = activity.rng

        def draw(variant: ServedVariant) -> float:
            impressions, conversions = activity.stats(variant.id)
            return rng.betavariate(1 + conversions, 1 + max(impressions - conversions, 0))

        return max(variants, key=draw)
    who = viewer.profile.id if viewer.profile else viewer.resolution.cohort(("locale",)).key
    digest = hashlib.sha256(f"{module_id}\x00{who}".encode()).digest()
    return variants[int.from_bytes(digest[:4], "big") % len(variants)]


@dataclass
class Decided:
    """What a render shows before anything is filled in: the channel, the layout (if any) and each module's decision
    with the variant it serves. Everything after this is the same for every viewer with the same decisions."""

    channel: Channel
    layout_file: LayoutFile | None
    modules: list[tuple[ModuleFile, Decision, ServedVariant | None]]
    locale: str
    arm: Arm
    target: tuple[str, ...]  # ("layout", id) or ("modules", id, ...): what was asked for

    @property
    def decisions(self) -> list[Decision]:
        return [decision for _, decision, _ in self.modules]


def decide_page(
    workspace: Workspace,
    release: Release,
    viewer: Viewer,
    *,
    channel: str,
    module: str | None = None,
    modules: list[str] | None = None,
    layout: str | None = None,
) -> Decided:
    """Each module's decision for a layout, a module or several; a refusal (an unknown name, a channel the target
    does not have, no consent for it) is raised here, before anything is rendered."""
    chosen = channel_named(channel)
    layout_file = None
    if layout:
        layout_file = _find("layout", workspace.layouts, layout)
        _require_channel("layout", layout, layout_file.layout.channels, chosen)
        module_ids, target = layout_file.layout.modules, ("layout", layout)
    else:
        module_ids = modules or [module or ""]
        target = ("modules", *module_ids)
    _check_consent(chosen, viewer)
    decided = []
    for module_id in module_ids:
        module_file = module_for(workspace, module_id, chosen)
        decided.append((module_file, *decide(workspace, release, module_file, viewer)))
    return Decided(chosen, layout_file, decided, viewer.resolution.values["locale"], viewer.arm, target)


def module_for(workspace: Workspace, module_id: str, channel: Channel) -> ModuleFile:
    """The module file, refused (NotFound, ChannelNotSupported) if there is none or it has no such channel."""
    module_file: ModuleFile = _find("module", workspace.modules, module_id)
    _require_channel("module", module_id, module_file.module.channels, channel)
    return module_file


def _find(kind: str, items: dict[str, Any], ident: str) -> Any:
    if ident not in items:
        raise NotFound(f"unknown {kind} '{ident}' ({kind}s: {', '.join(sorted(items))})")
    return items[ident]


def _require_channel(kind: str, ident: str, channels: list[str], channel: Channel) -> None:
    if channel.name not in channels:
        raise ChannelNotSupported(f"{kind} '{ident}' has no {channel.name} channel (it has: {', '.join(channels)})")


def _check_consent(channel: Channel, viewer: Viewer) -> None:
    """A channel that needs a consent flag (email, SMS, push) is refused for a profile without it."""
    if channel.consent is None or viewer.profile is None:
        return
    if not getattr(viewer.profile.consent, channel.consent):
        raise ConsentRequired(
            f"profile '{viewer.profile.id}' has not consented to {channel.consent.replace('_', ' ')}"
            f" (consent.{channel.consent} is false or missing): do not send"
        )
