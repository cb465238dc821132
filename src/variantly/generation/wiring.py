"""The one place that builds policy checkers, plans and runners.

The CLI, the HTTP API and the web UI ask here rather than constructing Guards or
runners themselves, so there is one answer to "which checks run" and one message
when the generation extra is missing. Importing this module is cheap: guardrails-ai,
openai and tiktoken are imported only when something here needs them.

Without the extra (``pip install variantly``, a render node), import and review still
work: ``policy_checker`` falls back to the built-in checks in plain Python and the
report names any custom validator it could not run. ``plan`` and ``generate`` need the
extra and say how to install it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from variantly.authoring.importing import ImportSummary, import_variants
from variantly.authoring.policy_checks import BuiltInChecker, PolicyChecker
from variantly.errors import GenerationStackMissing
from variantly.store import Store
from variantly.workspace import Workspace

if TYPE_CHECKING:
    from variantly.generation.llm import LLMClient
    from variantly.generation.plan import Plan
    from variantly.generation.run import Runner

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
    """guardrails-ai Guards (built-ins and custom validators) when installed, else the built-in checks."""
    if not guardrails_available():
        return BuiltInChecker(workspace.policy, workspace.policy_hash)
    from variantly.generation.guards import PolicyGuards

    return PolicyGuards(workspace.root, workspace.policy, workspace.policy_hash)


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


def llm_client(workspace: Workspace) -> LLMClient:
    """The configured LLM endpoint (environment first); fails now, before any job starts."""
    require_generation_stack("generating copy")
    from variantly.generation.llm import LLMClient

    return LLMClient.from_environment(workspace.settings.generation)


def runner(store: Store, workspace: Workspace, llm: LLMClient | None = None) -> Runner:
    """A runner for ``workspace``; its checker is built when the first candidate needs it."""
    require_generation_stack("generating copy")
    from variantly.generation.run import Runner

    return Runner(store, workspace, llm or llm_client(workspace))


def plan(store: Store, workspace: Workspace, **options: object) -> Plan:
    """What a run would do, with tokens and cost. Needs prompts and the tokenizer, not the LLM or guardrails-ai."""
    require_generation_stack("planning")
    from variantly.generation.plan import make_plan
    from variantly.generation.prompts import PromptSet

    model = os.environ.get("VARIANTLY_MODEL") or workspace.settings.generation.model
    return make_plan(store, workspace, PromptSet(workspace.root), model=model, **options)  # type: ignore[arg-type]
