"""Benchmark: the brand score's measured guidelines per candidate, against the built-in policy checks, same run.

    .venv/bin/python bench/brand.py [--rounds 200]

The example workspace's 38 variants, scored against ``guardrails/brand.yml`` (every
measured guideline; judged ones cost nothing until a judge runs) and checked by the
built-in policy checks (banned phrases, competitors, links, personal data, language,
numbers from facts) in turns, round after round. The bar: under 1 ms a candidate.

Then the judge: the same variants, three candidates a job (module and cohort) as a run makes
them, judged by the OpenAI-compatible fake server of ``tests/fake_openai.py`` in its own
process, once a copy per call and once a job's copies per call: calls and tokens (the fake
counts words, so read the ratio) per candidate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO
from rich.console import Console
from rich.table import Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    from variantly.authoring.brand_score import score_variant
    from variantly.authoring.policy_checks import BuiltInChecker
    from variantly.workspace import load_workspace

    workspace = load_workspace(REPO)
    lines = [json.loads(line) for line in (REPO / "examples" / "variants.jsonl").read_text().splitlines()]
    checker = BuiltInChecker(workspace.policy, workspace.policy_hash)
    taken: dict[str, list[float]] = {"brand score (measured guidelines)": [], "built-in policy checks": []}
    for _ in range(args.rounds):
        for line in lines:
            module = workspace.modules[line["module"]].module
            locale = line["cohort"].get("locale", workspace.settings.default_locale)
            started = time.perf_counter()
            score_variant(workspace.brand, module, line["slots"], locale)
            middle = time.perf_counter()
            checker.slot_failures(workspace, line["module"], line["cohort"], line["slots"])
            taken["brand score (measured guidelines)"].append(middle - started)
            taken["built-in policy checks"].append(time.perf_counter() - middle)
    base = statistics.median(taken["built-in policy checks"])
    table = Table(
        title=f"{len(lines)} example variants x {args.rounds} rounds, in turns (median per candidate)",
        title_justify="left",
    )
    for column in ("check", "us per candidate", "p99 us", "against the policy checks"):
        table.add_column(column, justify="left" if column == "check" else "right")
    for name, times in taken.items():
        median = statistics.median(times)
        p99 = statistics.quantiles(times, n=100)[98]
        table.add_row(name, f"{median * 1e6:.0f}", f"{p99 * 1e6:.0f}", f"{median / base:.2f}")
    Console(width=120).print(table)
    judged(workspace, lines)


def judged(workspace, lines: list[dict]) -> None:
    """Calls and tokens per candidate, a copy a call against a job's copies a call."""
    import asyncio
    import tempfile

    from bench.common import PYTHON, server

    from variantly.authoring.brand_score import rescore
    from variantly.generation.budget import Budget
    from variantly.generation.judge import judge_variants, unjudged
    from variantly.generation.llm import LLMClient
    from variantly.store import Store
    from variantly.store.schema import VariantRow
    from variantly.store.variants import add_variant

    table = Table(title="The brand judge, 3 candidates a job", title_justify="left")
    for column in ("judged", "candidates", "calls per candidate", "tokens per candidate"):
        table.add_column(column, justify="left" if column == "judged" else "right")
    with server("fake LLM", [PYTHON, str(REPO / "tests" / "fake_openai.py"), "{port}", "0"], "/") as fake:
        for per_call, label in ((1, "a copy a call"), (5, "a job's copies a call")):
            with tempfile.TemporaryDirectory() as tmp:
                store = Store(f"sqlite:///{tmp}/judge.db")
                for i, line in enumerate(lines):
                    for n in range(3):  # a job's candidates: the same copy, told apart by a word
                        slots = {k: (v + ("" if n == 0 else f" ({n})")) for k, v in line["slots"].items()}
                        cohort = ";".join(f"{k}={v}" for k, v in sorted(line["cohort"].items()))
                        row = VariantRow(id=f"v{i}-{n}", module_id=line["module"], cohort_key=cohort,
                                         locale=line["cohort"].get("locale", "en"), slots=slots, status="pending",
                                         module_hash="m", source="bench")  # fmt: skip
                        add_variant(store, row, actor="bench")
                rescore(store, workspace)
                llm = LLMClient(workspace.settings.generation, api_key="sk-local", base_url=f"{fake.base}/v1")
                rows = unjudged(store, "pending")
                run = asyncio.run(judge_variants(store, workspace, llm, rows, budget=Budget(None), per_call=per_call))
                asyncio.run(llm.close())
                tokens = (run.prompt_tokens + run.completion_tokens) / max(run.judged, 1)
                table.add_row(label, f"{run.judged}", f"{run.calls / max(run.judged, 1):.2f}", f"{tokens:.0f}")
                store.dispose()
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
