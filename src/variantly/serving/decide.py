"""Which copy a viewer gets for one module, and why.

The order is the product's promise: suppression first (never push at the wrong
moment), then consent, then the holdout, then the most specific approved variant,
and always the marketer's default at the end (DESIGN invariant 4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from variantly.serving.cohorts import Resolution
from variantly.serving.holdout import Arm
from variantly.serving.profiles import Profile
from variantly.serving.release import Release, ServedVariant
from variantly.workspace.files import ModuleFile, Workspace
from variantly.workspace.rules import AudienceLookup
from variantly.workspace.rules import Profile as RuleProfile

if TYPE_CHECKING:
    from variantly.serving.activity import Activity
    from variantly.serving.shared_activity import SharedActivity

Outcome = Literal["variant", "default", "alternative", "hidden"]


@dataclass(frozen=True)
class Viewer:
    """Who a render is for: a profile (personal) or just a cohort (anonymous fragment)."""

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

    def personalised_impressions(self, module_id: str, since: datetime) -> int | None:
        """How often this profile got a personalised ``module_id`` since ``since``; None if nothing knows."""
        if self.seen is not None and module_id in self.seen:
            return self.seen[module_id]
        if self.activity is None or self.profile is None:
            return None
        return self.activity.seen(self.profile.id, {module_id: since}).get(module_id, 0)


@dataclass
class Decision:
    module: str
    outcome: Outcome
    cohort: str
    arm: Arm
    variant_id: str | None = None
    served_cohort: str | None = None
    rule: str | None = None
    reasons: list[str] = field(default_factory=list)
    signature: str | None = None  # set by the render service for a profile; events without a token bring it back

    def as_dict(self) -> dict:
        return {
            "module": self.module,
            "outcome": self.outcome,
            "cohort": self.cohort,
            "arm": self.arm,
            "variant_id": self.variant_id,
            "served_cohort": self.served_cohort,
            "rule": self.rule,
            "reasons": list(self.reasons),
            "signature": self.signature,
        }


def decide(
    workspace: Workspace, release: Release, module_file: ModuleFile, viewer: Viewer
) -> tuple[Decision, ServedVariant | None]:
    module = module_file.module
    cohort = viewer.resolution.cohort(module.dimensions)
    decision = Decision(
        module.id, "default", cohort.key, viewer.arm, reasons=viewer.resolution.dimension_reasons(module.dimensions)
    )

    if viewer.profile is not None:
        lookup = _audience_lookup(viewer)
        for rule in module.suppress:
            if rule.when.matches(viewer.profile, viewer.now, lookup):
                decision.outcome = "alternative" if rule.then == "alternative" else "hidden"
                decision.rule = rule.id
                decision.reasons.append(f"suppressed by rule '{rule.id}': {rule.reason}")
                return decision, None
        if not viewer.profile.consent.personalisation:
            decision.reasons.append("default: no personalisation consent")
            return decision, None
    if viewer.arm == "control":
        decision.reasons.append("default: profile is in the holdout control group")
        return decision, None
    cap = module.frequency_cap
    if cap and viewer.profile is not None:
        seen = viewer.personalised_impressions(module.id, viewer.now - timedelta(days=cap.per_days))
        if seen is not None and seen >= cap.max_impressions:
            decision.reasons.append(
                f"default: frequency cap reached ({seen} personalised impressions in "
                f"{cap.per_days:g} days, cap {cap.max_impressions})"
            )
            return decision, None

    found = release.servable(module_file, cohort)
    decision.reasons += found.skipped
    if found.variants and found.cohort is not None:
        chosen = _pick(found.variants, viewer, module.id, workspace.settings.variant_selection)
        decision.outcome = "variant"
        decision.variant_id = chosen.id
        decision.served_cohort = found.cohort.key
        exact = "exact cohort" if found.cohort == cohort else f"fallback cohort {found.cohort.key}"
        decision.reasons.append(f"approved variant for {exact}")
        return decision, chosen
    decision.reasons.append("default: no approved variant for this cohort or any broader one")
    return decision, None


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


def _audience_lookup(viewer: Viewer) -> AudienceLookup:
    def lookup(dimension: str, ident: str, profile: RuleProfile) -> bool:
        return viewer.resolution.values.get(dimension) == ident or _matches_named(viewer, dimension, ident)

    return lookup


def _matches_named(viewer: Viewer, dimension: str, ident: str) -> bool:
    # A profile can match several behaviours while its cohort records only the first;
    # suppression must see all of them ("open ticket" wins over "pricing researcher").
    return viewer.resolution.in_audience(dimension, ident)
