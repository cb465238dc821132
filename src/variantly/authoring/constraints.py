"""The checks every candidate passes, whatever made it: the module's own constraints.

The generation stack (guardrails-ai) adds policy checks on top of these; this
module stays free of it so lint and the render server can use it too.
"""

from __future__ import annotations

from typing import Any

from variantly.authoring.copy_checks import SlotContext, check_asset
from variantly.authoring.importing import Candidate
from variantly.workspace import Workspace
from variantly.workspace.checks import slot_text_problems


def slot_constraint_failures(workspace: Workspace, candidate: Candidate) -> list[dict[str, Any]]:
    module = workspace.modules[candidate.module_id].module
    assets = SlotContext(slot="", kind=module.kind, locale="", assets=frozenset(a.id for a in module.assets))
    failures = []
    for name, text in candidate.slots.items():
        slot = module.slots[name]
        if slot.type == "asset":
            failures += [
                {"slot": name, "validator": f.validator, "message": f.message} for f in check_asset(text, assets)
            ]
            continue
        for message in slot_text_problems(name, slot, text):
            failures.append({"slot": name, "validator": "slot_length", "message": message})
    return failures


def check_constraints(workspace: Workspace, candidate: Candidate) -> tuple[bool, dict[str, Any]]:
    failures = slot_constraint_failures(workspace, candidate)
    summary = "; ".join(f["message"] for f in failures) or "passed"
    return not failures, {"passed": not failures, "failures": failures, "summary": summary}
