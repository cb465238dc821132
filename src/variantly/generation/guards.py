"""The policy as guardrails-ai Guards: every candidate's every slot goes through one.

Each check in ``variantly.copy_checks`` is registered as a guardrails-ai validator;
custom validators are loaded from ``guardrails/*.py`` by file path (that folder must
never be a package: it would shadow the installed ``guardrails``). One Guard per module
kind, with all its validators passed to a single ``.use()`` (a second call replaces the
first), and telemetry switched off on every Guard.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any

from guardrails import Guard
from guardrails.validators import ErrorSpan, FailResult, PassResult, Validator, register_validator

from variantly import copy_checks
from variantly.copy_checks import Finding, SlotContext
from variantly.importing import Candidate
from variantly.policy import Policy, load_policy
from variantly.workspace import Workspace
from variantly.workspace.models import localized

KINDS = ("headline", "example", "image", "cta")


def _result(findings: list[Finding]) -> Any:
    if not findings:
        return PassResult()
    return FailResult(
        error_message="; ".join(f.message for f in findings),
        error_spans=[ErrorSpan(start=s, end=e, reason=f.message) for f in findings for s, e in f.spans],
    )


class _PolicyValidator(Validator):
    """Reads the slot context and the policy from the metadata of each validate call."""

    def check(self, value: str, ctx: SlotContext, policy: Policy) -> list[Finding]:
        raise NotImplementedError

    def _validate(self, value: Any, metadata: dict[str, Any]) -> Any:
        ctx: SlotContext = metadata["slot_context"]
        if ctx.slot_type == "asset" and self.rail_alias != "variantly/asset_choice":
            return PassResult()
        return _result(self.check(str(value), ctx, metadata["policy"]))


@register_validator(name="variantly/slot_length", data_type="string")
class SlotLength(_PolicyValidator):
    def check(self, value, ctx, policy):
        return copy_checks.check_length(value, ctx)


@register_validator(name="variantly/banned_phrases", data_type="string")
class BannedPhrases(_PolicyValidator):
    def check(self, value, ctx, policy):
        return copy_checks.check_banned_phrases(value, policy)


@register_validator(name="variantly/competitors", data_type="string")
class Competitors(_PolicyValidator):
    def check(self, value, ctx, policy):
        return copy_checks.check_competitors(value, policy)


@register_validator(name="variantly/required_disclaimer", data_type="string")
class RequiredDisclaimer(_PolicyValidator):
    def check(self, value, ctx, policy):
        return copy_checks.check_disclaimer(value, ctx)


@register_validator(name="variantly/claims_from_facts", data_type="string")
class ClaimsFromFacts(_PolicyValidator):
    def check(self, value, ctx, policy):
        return copy_checks.check_claims(value, ctx) if policy.claims_from_facts else []


@register_validator(name="variantly/personal_data", data_type="string")
class PersonalData(_PolicyValidator):
    def check(self, value, ctx, policy):
        return copy_checks.check_personal_data(value) if policy.block_personal_data else []


@register_validator(name="variantly/markup_and_links", data_type="string")
class MarkupAndLinks(_PolicyValidator):
    def check(self, value, ctx, policy):
        return copy_checks.check_markup_and_links(value, ctx, policy)


@register_validator(name="variantly/language", data_type="string")
class Language(_PolicyValidator):
    def check(self, value, ctx, policy):
        return copy_checks.check_language(value, ctx, policy)


@register_validator(name="variantly/asset_choice", data_type="string")
class AssetChoice(_PolicyValidator):
    def _validate(self, value: Any, metadata: dict[str, Any]) -> Any:
        ctx: SlotContext = metadata["slot_context"]
        return _result(copy_checks.check_asset(str(value), ctx)) if ctx.slot_type == "asset" else PassResult()


BUILT_IN = (
    SlotLength,
    BannedPhrases,
    Competitors,
    RequiredDisclaimer,
    ClaimsFromFacts,
    PersonalData,
    MarkupAndLinks,
    Language,
    AssetChoice,
)


def _load_custom_validators(root: Path, policy: Policy) -> dict[str, type[Validator]]:
    """Import each custom validator file by path and find the class it registered."""
    from guardrails.validator_base import validators_registry

    found = {}
    for custom in policy.custom_validators:
        path = root / "guardrails" / custom.file
        module_name = f"variantly_custom_validators.{path.stem}"
        if module_name not in sys.modules:
            spec = importlib.util.spec_from_file_location(module_name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        if custom.name not in validators_registry:
            from variantly.errors import ConfigurationError

            raise ConfigurationError(
                f"{path} does not register a validator named '{custom.name}' (use @register_validator(name=...))"
            )
        found[custom.name] = validators_registry[custom.name]
    return found


def _quiet_guard(*validators: Validator) -> Guard:
    guard = Guard().use(*validators)
    guard.configure(allow_metrics_collection=False)
    return guard


class PolicyGuards:
    """Checks candidates against the workspace's policy. Thread-safe (one lock)."""

    def __init__(self, root: str | Path, policy: Policy | None = None, policy_hash: str | None = None) -> None:
        self.root = Path(root)
        if policy is None or policy_hash is None:
            policy, policy_hash = load_policy(self.root)
        self.policy = policy
        self.policy_hash = policy_hash
        custom = _load_custom_validators(self.root, policy)
        self.guards: dict[str, Guard] = {}
        for kind in KINDS:
            validators = [cls(on_fail="noop") for cls in BUILT_IN]
            validators += [custom[c.name](on_fail="noop") for c in policy.custom_validators if kind in c.kinds]
            self.guards[kind] = _quiet_guard(*validators)
        self._lock = threading.Lock()

    def slot_context(self, workspace: Workspace, module_id: str, slot_name: str, cohort: dict[str, str]) -> SlotContext:
        module = workspace.modules[module_id].module
        slot = module.slots[slot_name]
        locale = cohort.get("locale", workspace.settings.default_locale)
        disclaimer = self.policy.disclaimer_for(cohort.get("industry"), module.kind, slot_name)
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

    def check_slots(
        self, workspace: Workspace, module_id: str, cohort: dict[str, str], slots: dict[str, str]
    ) -> dict[str, Any]:
        """The full validation report for one candidate."""
        kind = workspace.modules[module_id].module.kind
        report_slots: dict[str, list[dict[str, Any]]] = {}
        with self._lock:
            guard = self.guards[kind]
            for name, text in slots.items():
                ctx = self.slot_context(workspace, module_id, name, cohort)
                outcome = guard.validate(text, metadata={"slot_context": ctx, "policy": self.policy})
                failures = []
                if not outcome.validation_passed:
                    for log in guard.history.last.iterations.last.validator_logs:
                        result = log.validation_result
                        if isinstance(result, FailResult):
                            failures.append(
                                {
                                    "validator": log.registered_name or log.validator_name,
                                    "message": result.error_message,
                                    "spans": [[s.start, s.end] for s in (result.error_spans or [])],
                                }
                            )
                report_slots[name] = failures
            guard.history.clear()  # the report is ours to keep; do not let history grow
        failed = {name: f for name, f in report_slots.items() if f}
        summary = "; ".join(f"{name}: {f['message']}" for name, fs in failed.items() for f in fs) or "passed"
        return {"passed": not failed, "policy_hash": self.policy_hash, "slots": report_slots, "summary": summary}

    def check(self, workspace: Workspace, candidate: Candidate) -> tuple[bool, dict[str, Any]]:
        """The import check: same guardrails as generated copy."""
        report = self.check_slots(workspace, candidate.module_id, candidate.cohort.as_dict(), candidate.slots)
        return report["passed"], report
