"""Which policy checks run here, for everything above the authoring library: one answer.

The CLI, the HTTP API and the review UI ask here for a checker rather than building one,
so there is one answer to "which checks run" and one message when the generation extra is
missing. With guardrails-ai installed (``variantly[generate]``) the checker is the
guardrails-ai validators, custom ones included (``generation.guards``); on a plain install
(a render node) it is the built-in checks in plain Python, and each report names the
custom validators it could not run. Importing this module is cheap: guardrails-ai is
imported only when a checker is built.
"""

from __future__ import annotations

import threading
from pathlib import Path

from variantly.authoring.importing import ImportSummary, import_variants
from variantly.authoring.policy_checks import BuiltInChecker, PolicyChecker
from variantly.authoring.review import SlotChecker
from variantly.extras import guardrails_available
from variantly.settings import ProcessSettings
from variantly.store import Store
from variantly.workspace import Workspace


def policy_checker(workspace: Workspace) -> PolicyChecker:
    """guardrails-ai validators (built-ins and custom ones) when installed, else the built-in checks."""
    if not guardrails_available():
        return BuiltInChecker(workspace.policy, workspace.policy_hash)
    from variantly.generation.guards import PolicyGuards

    return PolicyGuards.for_workspace(workspace)


class CheckerCache:
    """For a long-lived server: one checker, built on first use, rebuilt when the policy changes."""

    def __init__(self) -> None:
        self._checker: PolicyChecker | None = None
        self._lock = threading.Lock()

    def for_workspace(self, workspace: Workspace) -> PolicyChecker:
        with self._lock:
            if self._checker is None or self._checker.policy_hash != workspace.policy_hash:
                self._checker = policy_checker(workspace)
            return self._checker

    def slot_checker(self, workspace: Workspace) -> SlotChecker:
        """``check_slots`` of the checker for ``workspace``, built when first called: an approval needs one only for
        copy checked under another policy, and building one imports guardrails-ai (seconds)."""
        return lambda *args: self.for_workspace(workspace).check_slots(*args)


def import_file(store: Store, workspace: Workspace, path: str | Path, *, actor: str, approve: bool) -> ImportSummary:
    """Import a variants file through the same checks as generated copy."""
    return import_variants(store, workspace, path, actor=actor, check=policy_checker(workspace).check, approve=approve)


async def judge_again(store: Store, workspace: Workspace, settings: ProcessSettings, variant_id: str) -> str:
    """ "Check again" for one variant's judged brand guidelines: the judge, where the generation extra and an LLM
    endpoint are configured (else the error says what is missing). What the reviewer is told."""
    from variantly.generation.budget import Budget
    from variantly.generation.wiring import judge_stored
    from variantly.store.variants import get_variant

    run = await judge_stored(store, workspace, settings, [get_variant(store, variant_id)], Budget(None))
    if run.failed:
        return f"the judge could not answer: {run.failed[0].partition(': ')[2]}"
    if run.cached and not run.judged:
        return "already judged for this copy: the verdicts stand"
    dropped = f" ({run.unsupported} judgement(s) dropped: they quoted words not in the copy)" if run.unsupported else ""
    return f"judged again in {run.calls} call(s){dropped}"
