"""Benchmark: the brand score's measured guidelines per candidate, against the built-in policy checks, same run.

    .venv/bin/python bench/brand.py [--rounds 200]

The example workspace's 38 variants, scored against ``guardrails/brand.yml`` (every
measured guideline; judged ones cost nothing until a judge runs) and checked by the
built-in policy checks (banned phrases, competitors, links, personal data, language,
numbers from facts) in turns, round after round. The issue's bar: under 1 ms a candidate.
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


if __name__ == "__main__":
    main()
