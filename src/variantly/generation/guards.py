"""The policy as guardrails-ai Guards: every candidate's every slot goes through one.

Each check in ``variantly.authoring.policy_checks.BUILT_IN_CHECKS`` is registered as a
guardrails-ai validator; custom validators are loaded from ``guardrails/*.py`` by file
path (that folder must never be a package: it would shadow the installed
``guardrails``). Build them with ``variantly.generation.wiring``. One Guard per module
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

from variantly.authoring.policy_checks import (
    BUILT_IN_CHECKS,
    PolicyChecker,
    failure,
    make_report,
    run_check,
    slot_context,
)
from variantly.errors import ConfigurationError
from variantly.workspace import Workspace
from variantly.workspace.policy import Policy, load_policy

KINDS = ("headline", "example", "image", "cta")


def _validator_for(name: str) -> type[Validator]:
    """A guardrails-ai validator that runs one built-in check from the shared table."""

    def _validate(self: Validator, value: Any, metadata: dict[str, Any]) -> Any:
        findings = run_check(name, str(value), metadata["slot_context"], metadata["policy"])
        if not findings:
            return PassResult()
        entry = failure(name, findings)
        spans = [ErrorSpan(start=s, end=e, reason=f.message) for f in findings for s, e in f.spans]
        return FailResult(error_message=entry["message"], error_spans=spans)

    cls = type(name.split("/")[1].title().replace("_", ""), (Validator,), {"_validate": _validate})
    return register_validator(name=name, data_type="string")(cls)


BUILT_IN = tuple(_validator_for(name) for name in BUILT_IN_CHECKS)


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
            raise ConfigurationError(
                f"{path} does not register a validator named '{custom.name}' (use @register_validator(name=...))"
            )
        found[custom.name] = validators_registry[custom.name]
    return found


def _quiet_guard(*validators: Validator) -> Guard:
    guard = Guard().use(*validators)
    guard.configure(allow_metrics_collection=False)
    return guard


class PolicyGuards(PolicyChecker):
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

    def check_slots(
        self, workspace: Workspace, module_id: str, cohort: dict[str, str], slots: dict[str, str]
    ) -> dict[str, Any]:
        """The full validation report for one candidate."""
        kind = workspace.modules[module_id].module.kind
        report_slots: dict[str, list[dict[str, Any]]] = {}
        with self._lock:
            guard = self.guards[kind]
            for name, text in slots.items():
                ctx = slot_context(workspace, self.policy, module_id, name, cohort)
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
        return make_report(report_slots, self.policy_hash)
