"""The guardrail policy applied to a candidate: every slot through every check, one report.

``BUILT_IN_CHECKS`` is the single list of what the policy checks, by validator name.
Two runners share it and produce the same report: ``BuiltInChecker`` here (plain
Python, so import and review work on an install without the generation extra) and
``variantly.generation.guards.PolicyGuards`` (guardrails-ai, which also runs the custom
validators in ``guardrails/*.py``). ``variantly.generation.wiring.policy_checker``
picks between them.

A report is ``{"passed", "policy_hash", "slots": {slot: [failure, ...]}, "summary"}``
with one failure per validator per slot: ``{"validator", "message", "spans"}``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from typing import Any

from variantly import metrics
from variantly.authoring import copy_checks
from variantly.authoring.candidates import Candidate
from variantly.authoring.copy_checks import Finding, SlotContext
from variantly.workspace import Workspace
from variantly.workspace.models import localized
from variantly.workspace.policy import Policy

Check = Callable[[str, SlotContext, Policy], list[Finding]]
ASSET_CHECK = "variantly/asset_choice"

BUILT_IN_CHECKS: dict[str, Check] = {
    "variantly/slot_length": lambda text, ctx, policy: copy_checks.check_length(text, ctx),
    "variantly/banned_phrases": lambda text, ctx, policy: copy_checks.check_banned_phrases(text, policy),
    "variantly/competitors": lambda text, ctx, policy: copy_checks.check_competitors(text, policy),
    "variantly/required_disclaimer": lambda text, ctx, policy: copy_checks.check_disclaimer(text, ctx),
    "variantly/claims_from_facts": lambda text, ctx, policy: (
        copy_checks.check_claims(text, ctx) if policy.claims_from_facts else []
    ),
    "variantly/personal_data": lambda text, ctx, policy: (
        copy_checks.check_personal_data(text) if policy.block_personal_data else []
    ),
    "variantly/markup_and_links": lambda text, ctx, policy: copy_checks.check_markup_and_links(text, ctx, policy),
    "variantly/language": lambda text, ctx, policy: copy_checks.check_language(text, ctx, policy),
    ASSET_CHECK: lambda text, ctx, policy: copy_checks.check_asset(text, ctx),
}


def run_check(name: str, text: str, ctx: SlotContext, policy: Policy) -> list[Finding]:
    """One built-in check on one slot. An asset slot holds an asset id, not copy: only the asset check applies."""
    if (ctx.slot_type == "asset") != (name == ASSET_CHECK):
        return []
    return BUILT_IN_CHECKS[name](text, ctx, policy)


def failure(validator: str, findings: list[Finding]) -> dict[str, Any]:
    """The report entry for one validator's findings on one slot: each message once, every span.

    Six pieces of template syntax read "contains template syntax (6 places)", not the
    same sentence six times.
    """
    counts = Counter(f.message for f in findings)
    messages = [m if n == 1 else f"{m} ({n} places)" for m, n in counts.items()]
    return {
        "validator": validator,
        "message": "; ".join(messages),
        "spans": [[s, e] for f in findings for s, e in f.spans],
    }


def slot_context(
    workspace: Workspace, policy: Policy, module_id: str, slot_name: str, cohort: dict[str, str]
) -> SlotContext:
    """What the checks need to know about one slot for one cohort."""
    module = workspace.modules[module_id].module
    slot = module.slots[slot_name]
    locale = cohort.get("locale", workspace.settings.default_locale)
    disclaimer = policy.disclaimer_for(cohort.get("industry"), module.kind, slot_name)
    return SlotContext(
        slot=slot_name,
        kind=module.kind,
        locale=locale,
        slot_type=slot.type,
        min_chars=slot.min_chars,
        max_chars=slot.max_chars,
        facts=tuple(module.facts),
        disclaimer=localized(disclaimer.text, locale, workspace.settings.default_locale) if disclaimer else None,
        assets=frozenset(a.id for a in module.assets),
        merge_fields=frozenset(workspace.settings.merge_fields),
    )


def make_report(
    slots: dict[str, list[dict[str, Any]]], policy_hash: str, unchecked: list[str] | None = None
) -> dict[str, Any]:
    """The report for one candidate. ``unchecked`` names custom validators that could not run."""
    failed = {name: fs for name, fs in slots.items() if fs}
    summary = "; ".join(f"{name}: {f['message']}" for name, fs in failed.items() for f in fs) or "passed"
    report: dict[str, Any] = {"passed": not failed, "policy_hash": policy_hash, "slots": slots, "summary": summary}
    if unchecked:
        report["unchecked"] = unchecked
        report["summary"] += f" (not run: {', '.join(unchecked)}; install variantly[generate] to run them)"
    return report


SlotFailures = dict[str, list[dict[str, Any]]]


class PolicyChecker(ABC):
    """What import, review edits, policy re-checks and runs need from a checker.

    A subclass finds the failures (``slot_failures``); ``check_slots`` makes the report
    and counts the failures for ``/metrics``, once per check, whichever checker ran.
    """

    policy_hash: str

    @abstractmethod
    def slot_failures(
        self, workspace: Workspace, module_id: str, cohort: dict[str, str], slots: dict[str, str]
    ) -> tuple[SlotFailures, list[str]]:
        """Every slot's failures, and the custom validators that could not run."""

    def check_slots(
        self, workspace: Workspace, module_id: str, cohort: dict[str, str], slots: dict[str, str]
    ) -> dict[str, Any]:
        """The report for one candidate's slots, for one cohort."""
        failures, unchecked = self.slot_failures(workspace, module_id, cohort, slots)
        for found in failures.values():
            for f in found:
                metrics.GUARDRAIL_FAILURES.labels(f["validator"]).inc()
        return make_report(failures, self.policy_hash, unchecked)

    def check(self, workspace: Workspace, candidate: Candidate) -> tuple[bool, dict[str, Any]]:
        """The import check: (passed, report)."""
        report = self.check_slots(workspace, candidate.module_id, candidate.cohort.as_dict(), candidate.slots)
        return report["passed"], report


class BuiltInChecker(PolicyChecker):
    """The built-in checks in plain Python, for an install without guardrails-ai.

    Custom validators are guardrails-ai classes and cannot run here; the report names
    them under ``unchecked`` so nothing claims a check it did not make.
    """

    def __init__(self, policy: Policy, policy_hash: str) -> None:
        self.policy = policy
        self.policy_hash = policy_hash

    def slot_failures(
        self, workspace: Workspace, module_id: str, cohort: dict[str, str], slots: dict[str, str]
    ) -> tuple[SlotFailures, list[str]]:
        kind = workspace.modules[module_id].module.kind
        report_slots: SlotFailures = {}
        for name, text in slots.items():
            ctx = slot_context(workspace, self.policy, module_id, name, cohort)
            report_slots[name] = [
                failure(check, findings)
                for check in BUILT_IN_CHECKS
                if (findings := run_check(check, text, ctx, self.policy))
            ]
        return report_slots, [c.name for c in self.policy.custom_validators if kind in c.kinds]
