"""Is the generation extra installed here: one answer, and one message when it is not.

A render node is a plain install; generating, planning, judging and the guardrails-ai
validators need ``variantly[generate]``. Everything that needs the extra asks here first,
so a missing package is a message naming the command, not an ImportError deep in a run.
Importing this module imports nothing of the extra.
"""

from __future__ import annotations

import importlib.util

from variantly.errors import GenerationStackMissing

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
