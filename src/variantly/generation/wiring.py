"""The one place that builds LLM clients, plans, runners and the brand judge's calls.

The CLI and the HTTP API ask here rather than constructing runners themselves. Importing
this module is cheap: openai, guardrails-ai and tiktoken are imported only when something
here needs them, and each entry point first checks the extra is installed and says how to
install it (``variantly.extras.require_generation_stack``). A run checks candidates with
the guardrails-ai validators (``generation.guards``), built when the first candidate needs
them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from variantly.errors import LLMNotConfigured
from variantly.extras import require_generation_stack
from variantly.settings import ProcessSettings
from variantly.store import Store
from variantly.workspace import Workspace

if TYPE_CHECKING:
    from variantly.generation.budget import Budget
    from variantly.generation.judge import JudgeRun
    from variantly.generation.llm import LLMClient
    from variantly.generation.plan import Plan
    from variantly.generation.run import Runner
    from variantly.store.schema import VariantRow


def model_for(workspace: Workspace, settings: ProcessSettings) -> str:
    """The model a run calls: ``VARIANTLY_MODEL`` over ``generation.model`` in variantly.yml."""
    return settings.model or workspace.settings.generation.model


def llm_client(workspace: Workspace, settings: ProcessSettings) -> LLMClient:
    """The configured LLM endpoint (environment first); fails now, before any job starts."""
    require_generation_stack("generating copy")
    from variantly.generation.llm import LLMClient

    if not settings.openai_api_key and not settings.openai_base_url:
        raise LLMNotConfigured(
            "no LLM is configured: set OPENAI_API_KEY (OpenAI), or OPENAI_BASE_URL for any OpenAI-compatible "
            "server (Azure OpenAI, vLLM, Ollama: e.g. OPENAI_BASE_URL=http://localhost:11434/v1), and optionally "
            "VARIANTLY_MODEL; the model and prices are in variantly.yml under 'generation'"
        )
    return LLMClient(
        workspace.settings.generation,
        api_key=settings.openai_api_key or "unused",
        base_url=settings.openai_base_url,
        model=model_for(workspace, settings),
    )


def runner(store: Store, workspace: Workspace, settings: ProcessSettings, llm: LLMClient | None = None) -> Runner:
    """A runner for ``workspace``; its checker is built when the first candidate needs it."""
    require_generation_stack("generating copy")
    from variantly.generation.guards import PolicyGuards
    from variantly.generation.run import Runner

    return Runner(
        store,
        workspace,
        llm or llm_client(workspace, settings),
        checker=lambda: PolicyGuards.for_workspace(workspace),
    )


async def judge_stored(
    store: Store, workspace: Workspace, settings: ProcessSettings, rows: list[VariantRow], budget: Budget
) -> JudgeRun:
    """The brand judge on stored variants through the configured endpoint, its client closed after: what the CLI
    and the review UI's "check again" run (``generation.judge``)."""
    from variantly.generation.judge import judge_variants

    llm = llm_client(workspace, settings)
    try:
        return await judge_variants(store, workspace, llm, rows, budget=budget)
    finally:
        await llm.close()


def plan(store: Store, workspace: Workspace, settings: ProcessSettings, **options: object) -> Plan:
    """What a run would do, with tokens and cost. Needs prompts and the tokenizer, not the LLM or guardrails-ai."""
    require_generation_stack("planning")
    from variantly.generation.plan import make_plan
    from variantly.generation.prompts import PromptSet

    return make_plan(store, workspace, PromptSet(workspace.root), model=model_for(workspace, settings), **options)  # type: ignore[arg-type]
