"""The guardrail policy applied to a candidate: every slot through every check, one report.

``BUILT_IN_CHECKS`` is the single list of what the policy checks, by validator name.
Two runners share it and produce the same report: ``BuiltInChecker`` here (plain
Python, so import and review work on an install without the generation extra) and
``variantly.generation.guards.PolicyGuards`` (guardrails-ai, which also runs the custom
validators in ``guardrails/*.py``). ``variantly.generation.wiring.policy_checker``
picks between them.

A report (``report.CheckReport``) has one failure per validator per slot, with its spans.
Whichever checker ran, ``PolicyChecker.check_slots`` then renders the candidate in each of
its module's channels that has rules of its own (an SMS counted in segments, a push title's
length) and adds what breaks them, naming the channel.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable

from variantly import metrics
from variantly.authoring.candidates import Candidate
from variantly.authoring.report import CheckReport, Failure
from variantly.workspace import Workspace, copy_checks
from variantly.workspace.blocks import channel_problems, render_copy
from variantly.workspace.channels import CHANNELS
from variantly.workspace.copy_checks import Finding, SlotContext
from variantly.workspace.models import localized
from variantly.workspace.policy import Policy

Check = Callable[[str, SlotContext, Policy], list[Finding]]

# The validators' names, as reports, metrics and re-asks carry them.
SLOT_LENGTH = "variantly/slot_length"
BANNED_PHRASES = "variantly/banned_phrases"
COMPETITORS = "variantly/competitors"
REQUIRED_DISCLAIMER = "variantly/required_disclaimer"
CLAIMS_FROM_FACTS = "variantly/claims_from_facts"
PERSONAL_DATA = "variantly/personal_data"
MARKUP_AND_LINKS = "variantly/markup_and_links"
HIDDEN_CHARACTERS = "variantly/hidden_characters"
MIXED_SCRIPTS = "variantly/mixed_scripts"
LANGUAGE = "variantly/language"
ASSET_CHECK = "variantly/asset_choice"
ALT_TEXT = "variantly/alt_text"
MERGE_FIELD_DEFAULTS = "variantly/merge_field_defaults"
CHANNEL_RULES = "variantly/channel_rules"  # a rendered message against its channel's rules

# The built-in checks' revision. A variant records what it passed as ``checked_under(workspace)``: the policy's
# files, the settings the checks read (``Workspace.checks_basis``) and this revision. Raise it when a built-in check
# refuses copy it passed before (a new check, a wider match): approved variants recorded under an older revision are
# then checked again when a review server starts, or by ``variantly review recheck``, and those that fail are
# pulled from serving. (2: ``hidden_characters``, and banned phrases read through invisible characters and hyphens.
# 3: ``mixed_scripts``, and banned phrases read through look-alike letters. 4: ``merge_field_defaults``.) A run's
# jobs do not depend on it: they are keyed by the policy's files alone, so raising it re-checks copy but never pays
# for it again.
CHECKS_REVISION = 4

BUILT_IN_CHECKS: dict[str, Check] = {
    SLOT_LENGTH: lambda text, ctx, policy: copy_checks.check_length(text, ctx),
    BANNED_PHRASES: lambda text, ctx, policy: copy_checks.check_banned_phrases(text, policy),
    COMPETITORS: lambda text, ctx, policy: copy_checks.check_competitors(text, policy),
    REQUIRED_DISCLAIMER: lambda text, ctx, policy: copy_checks.check_disclaimer(text, ctx),
    CLAIMS_FROM_FACTS: lambda text, ctx, policy: (
        copy_checks.check_claims(text, ctx) if policy.claims_from_facts else []
    ),
    PERSONAL_DATA: lambda text, ctx, policy: (
        copy_checks.check_personal_data(text) if policy.block_personal_data else []
    ),
    MARKUP_AND_LINKS: lambda text, ctx, policy: copy_checks.check_markup_and_links(text, ctx, policy),
    HIDDEN_CHARACTERS: lambda text, ctx, policy: copy_checks.check_hidden_characters(text),
    MIXED_SCRIPTS: lambda text, ctx, policy: copy_checks.check_mixed_scripts(text),
    LANGUAGE: lambda text, ctx, policy: copy_checks.check_language(text, ctx, policy),
    ASSET_CHECK: lambda text, ctx, policy: copy_checks.check_asset(text, ctx),
    ALT_TEXT: lambda text, ctx, policy: copy_checks.check_alt_text(text, ctx),
    MERGE_FIELD_DEFAULTS: lambda text, ctx, policy: copy_checks.check_merge_field_defaults(text, ctx),
}


def checked_under(workspace: Workspace, *, partly: bool = False) -> str:
    """What a variant checked now passed: the policy and the settings the checks read, and the built-in checks'
    revision (26 characters at most). ``partly``: its custom validators could not run here (no guardrails-ai), so
    it is checked again where they can."""
    return f"{workspace.checks_basis}.{CHECKS_REVISION}" + ("p" if partly else "")


def run_check(name: str, text: str, ctx: SlotContext, policy: Policy) -> list[Finding]:
    """One built-in check on one slot. An asset or image slot names a picture, not copy: only the asset check
    applies (a generated picture's own checks are in ``authoring.pictures``)."""
    if (ctx.slot_type in ("asset", "image")) != (name == ASSET_CHECK):
        return []
    return BUILT_IN_CHECKS[name](text, ctx, policy)


def failure(validator: str, findings: list[Finding]) -> Failure:
    """The report entry for one validator's findings on one slot: each message once, every span.

    Six pieces of template syntax read "contains template syntax (6 places)", not the
    same sentence six times.
    """
    counts = Counter(f.message for f in findings)
    messages = [m if n == 1 else f"{m} ({n} places)" for m, n in counts.items()]
    return Failure(validator=validator, message="; ".join(messages), spans=tuple(s for f in findings for s in f.spans))


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
        merge_defaults=tuple(workspace.settings.merge_defaults(locale).items()),
        alt_text=module.picture_slot is not None and module.picture_slot[1].alt_slot == slot_name,
    )


SlotFailures = dict[str, list[Failure]]


def channel_failures(
    workspace: Workspace, module_id: str, cohort: dict[str, str], slots: dict[str, str]
) -> dict[str, list[Failure]]:
    """What breaks the rules of each channel the module is sent in, with this copy (merge fields at their defaults).

    Slots are channel-free; only the rendered message can cost three SMS segments.
    """
    module_file = workspace.modules[module_id]
    locale = cohort.get("locale", workspace.settings.default_locale)
    found: dict[str, list[Failure]] = {}
    for name in module_file.module.channels:
        channel = CHANNELS[name]
        if not channel.rules:
            continue
        try:
            outputs = render_copy(workspace, module_file, channel, cohort, slots)
            problems = channel_problems(workspace, channel, outputs, locale, module_file.module)
        except Exception as exc:  # copy is data, so only a template bug gets here: say so, do not pass it
            problems = [f"does not render: {exc}"]
        if problems:
            found[name] = [Failure(validator=CHANNEL_RULES, message=problem) for problem in problems]
    return found


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
    ) -> CheckReport:
        """The report for one candidate's slots, for one cohort."""
        failures, unchecked = self.slot_failures(workspace, module_id, cohort, slots)
        channels = channel_failures(workspace, module_id, cohort, slots)
        report = CheckReport.of(
            failures, checked_under(workspace, partly=bool(unchecked)), channels=channels, unchecked=unchecked
        )
        for _, found in report.failures():
            metrics.GUARDRAIL_FAILURES.labels(found.validator).inc()
        return report

    def check(self, workspace: Workspace, candidate: Candidate) -> tuple[bool, CheckReport]:
        """The import check: (passed, report)."""
        report = self.check_slots(workspace, candidate.module_id, candidate.cohort.as_dict(), candidate.slots)
        return report.passed, report


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
