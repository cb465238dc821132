"""The policy as guardrails-ai validators: every candidate's every slot goes through each.

Each check in ``variantly.authoring.policy_checks.BUILT_IN_CHECKS`` is registered as a
guardrails-ai validator; custom validators are loaded from ``guardrails/*.py`` by file
path (that folder must never be a package: it would shadow the installed
``guardrails``). ``variantly.checkers`` and ``generation.wiring`` build them.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import types
from pathlib import Path
from typing import Any

from guardrails.validators import ErrorSpan, FailResult, PassResult, Validator, register_validator

from variantly.authoring.policy_checks import (
    BUILT_IN_CHECKS,
    PolicyChecker,
    SlotFailures,
    failure,
    run_check,
    slot_context,
)
from variantly.authoring.report import Failure
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
        return FailResult(error_message=entry.message, error_spans=spans)

    cls = type(name.split("/")[1].title().replace("_", ""), (Validator,), {"_validate": _validate})
    return register_validator(name=name, data_type="string")(cls)


BUILT_IN = tuple(_validator_for(name) for name in BUILT_IN_CHECKS)
_LOADING = threading.Lock()  # two runs at once: the second found the module half run, its validator unregistered


def _load_custom_validators(root: Path, policy: Policy) -> dict[str, type[Validator]]:
    """Run each custom validator file (once per content: an edited file is run again) and find the class it
    registered in what it defined.

    Keyed by the file's content, not its name: kept by name, an edited validator was not read again until the
    process restarted, while the policy's hash (which covers the file) changed at once, so a review server
    re-checked approved variants with the old code and recorded them as checked under the new. The class is
    taken from the file's own names, not guardrails-ai's registry, which keeps only the last class of a name
    (another workspace's file, or the edit before)."""
    found = {}
    for custom in policy.custom_validators:
        path = root / "guardrails" / custom.file
        try:
            source = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"custom validator file {path} cannot be read: {exc.strerror}") from exc
        module_name = f"variantly_custom_validators.{path.stem}_{hashlib.sha256(source).hexdigest()[:16]}"
        with _LOADING:
            module = sys.modules.get(module_name)
            if module is None:
                module = types.ModuleType(module_name)
                module.__file__ = str(path)
                sys.modules[module_name] = module
                try:
                    exec(compile(source, str(path), "exec"), module.__dict__)  # the bytes hashed, not a later read
                except BaseException:
                    del sys.modules[module_name]  # not kept half run: the next run reports the file's own error
                    raise
        registered = [v for v in vars(module).values() if isinstance(v, type) and _alias(v) == custom.name]
        if not registered:
            raise ConfigurationError(
                f"{path} does not register a validator named '{custom.name}' (use @register_validator(name=...))"
            )
        found[custom.name] = registered[0]
    return found


def _alias(value: type) -> str | None:
    return getattr(value, "rail_alias", None) if issubclass(value, Validator) else None


class PolicyGuards(PolicyChecker):
    """Checks candidates with the policy's guardrails-ai validators, built-in and custom.

    The validators are called directly (``Validator.validate``, guardrails-ai's public
    validator API), not through a ``Guard``: a Guard adds history, tracing and a re-ask
    loop of its own, which cost about four times the checks themselves (measured:
    Guard.validate took 32% of a run's time, the checks inside it 7%), and the re-ask loop
    has to be ours (``generation.job``) because it reserves budget and redacts personal
    data. With no Guard there is no Guard telemetry to switch off; ``environment.py``
    keeps the backstop, and a test proves a run contacts only the LLM endpoint.
    """

    def __init__(self, root: str | Path, policy: Policy | None = None, policy_hash: str | None = None) -> None:
        self.root = Path(root)
        if policy is None or policy_hash is None:
            policy, policy_hash = load_policy(self.root)
        self.policy = policy
        self.policy_hash = policy_hash
        custom = _load_custom_validators(self.root, policy)
        built_in = [(cls.rail_alias, cls(on_fail="noop")) for cls in BUILT_IN]
        self.validators: dict[str, list[tuple[str, Validator]]] = {
            kind: built_in
            + [(c.name, custom[c.name](on_fail="noop")) for c in policy.custom_validators if kind in c.kinds]
            for kind in KINDS
        }

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> PolicyGuards:
        return cls(workspace.root, workspace.policy, workspace.policy_hash)

    def slot_failures(
        self, workspace: Workspace, module_id: str, cohort: dict[str, str], slots: dict[str, str]
    ) -> tuple[SlotFailures, list[str]]:
        """Every slot through every validator of the module's kind, custom ones included."""
        kind = workspace.modules[module_id].module.kind
        report_slots: SlotFailures = {}
        for name, text in slots.items():
            metadata = {
                "slot_context": slot_context(workspace, self.policy, module_id, name, cohort),
                "policy": self.policy,
            }
            failures = []
            for validator_name, validator in self.validators[kind]:
                result = validator.validate(text, metadata)
                if isinstance(result, FailResult):
                    spans = tuple((s.start, s.end) for s in (result.error_spans or []))
                    failures.append(Failure(validator=validator_name, message=result.error_message, spans=spans))
            report_slots[name] = failures
        return report_slots, []
