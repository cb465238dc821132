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

import importlib.util
import threading
from pathlib import Path

from variantly.authoring.importing import ImportSummary, import_variants
from variantly.authoring.policy_checks import BuiltInChecker, PolicyChecker
from variantly.errors import GenerationStackMissing
from variantly.store import Store
from variantly.workspace import Workspace

INSTALL_COMMAND = "pip install 'variantly[generate]'"
# import name -> distribution name, for the message
GENERATION_STACK = {"openai": "openai", "tiktoken": "tiktoken", "tenacity": "tenacity", "guardrails": "guardrails-ai"}


def missing_packages(modules: tuple[str, ...] = tuple(GENERATION_STACK)) -> list[str]:
    """Distributions of the generation stack that cannot be imported here.

    A namespace package does not count: the workspace's own ``guardrails/`` folder is
    one, and it must not pass for guardrails-ai.
    """
    missing = []
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin in (None, "namespace"):
            missing.append(GENERATION_STACK[module])
    return missing


def require_generation_stack(what: str) -> None:
    if missing := missing_packages():
        raise GenerationStackMissing(
            f"{what} needs the generation extra ({', '.join(missing)} not installed): {INSTALL_COMMAND}"
        )


def guardrails_available() -> bool:
    return not missing_packages(("guardrails",))


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


def import_file(store: Store, workspace: Workspace, path: str | Path, *, actor: str, approve: bool) -> ImportSummary:
    """Import a variants file through the same checks as generated copy."""
    return import_variants(store, workspace, path, actor=actor, check=policy_checker(workspace).check, approve=approve)
