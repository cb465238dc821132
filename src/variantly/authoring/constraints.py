"""The checks every candidate passes, whatever made it: the module's own constraints.

The generation stack (guardrails-ai) adds policy checks on top of these; this
module stays free of it so lint and the render server can use it too.
"""

from __future__ import annotations

from variantly.authoring.candidates import Candidate
from variantly.authoring.policy_checks import ASSET_CHECK, SLOT_LENGTH, checked_under
from variantly.authoring.report import CheckReport, Failure
from variantly.workspace import Workspace
from variantly.workspace.checks import slot_text_problems
from variantly.workspace.copy_checks import SlotContext, check_asset


def slot_constraint_failures(workspace: Workspace, candidate: Candidate) -> dict[str, list[Failure]]:
    module = workspace.modules[candidate.module_id].module
    failures: dict[str, list[Failure]] = {}
    for name, text in candidate.slots.items():
        slot = module.slots[name]
        if slot.type in ("asset", "image"):
            ctx = SlotContext(slot=name, kind=module.kind, locale="", slot_type=slot.type,
                              assets=frozenset(a.id for a in module.assets))  # fmt: skip
            found = [Failure(validator=ASSET_CHECK, message=f.message) for f in check_asset(text, ctx)]
        else:
            found = [Failure(validator=SLOT_LENGTH, message=m) for m in slot_text_problems(name, slot, text)]
        failures[name] = found
    return failures


def check_constraints(workspace: Workspace, candidate: Candidate) -> tuple[bool, CheckReport]:
    """The module's own constraints only, as an import check (the tests' and benchmarks' fixtures use it)."""
    report = CheckReport.of(slot_constraint_failures(workspace, candidate), checked_under(workspace))
    return report.passed, report
