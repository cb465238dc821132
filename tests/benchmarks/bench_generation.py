"""Benchmark: what the generation pipeline adds on top of the LLM's own latency.

Runs real generation (prompts, openai SDK over HTTP, guardrails-ai validators, SQLite)
against the local fake OpenAI-compatible server with a fixed latency, at 8 and 32
concurrent calls (and 1 with --serial), and prints:

- overhead per candidate: (actual time - ideal time) / candidates, where ideal time
  is what the LLM latency alone would take at that concurrency;
- concurrency efficiency: ideal time / actual time (1.0 = the pipeline adds nothing);
- the longest the event loop went without running (a stall delays every call in flight);
- in the same rounds, the bare SDK: the same requests through the same openai client at
  the same concurrency, with no pipeline around them. Its efficiency is the ceiling this
  fake and this SDK allow on this machine; "of bare SDK" is the pipeline's share of it;
- in the same run, a zero-latency baseline with the CPU this process spends per
  candidate, and the cost of each stage measured alone.

    .venv/bin/python tests/benchmarks/bench_generation.py [--latency 1.0] [--jobs 48] [--rounds 3] [--serial]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import variantly.generation  # noqa: E402,F401
from conftest import copy_workspace, free_port  # noqa: E402
from variantly.generation.guards import PolicyGuards  # noqa: E402
from variantly.generation.llm import LLMClient  # noqa: E402
from variantly.generation.plan import cohorts_for  # noqa: E402
from variantly.generation.prompts import PromptSet, build_prompt, output_model  # noqa: E402
from variantly.generation.run import Runner, RunOptions  # noqa: E402
from variantly.store import Store  # noqa: E402
from variantly.workspace import load_workspace  # noqa: E402


@dataclass
class Measured:
    seconds: float
    cpu_seconds: float
    candidates: int
    max_stall_ms: float


async def _run_watching_the_loop(runner: Runner, options: RunOptions) -> tuple[object, float]:
    """The run, and the longest gap between two 5 ms ticks of the event loop."""
    worst = 0.0

    async def watch() -> None:
        nonlocal worst
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            worst = max(worst, time.perf_counter() - before - 0.005)

    watcher = asyncio.ensure_future(watch())
    try:
        return await runner.run(options, actor="bench"), worst
    finally:
        watcher.cancel()


def one_run(root: Path, base_url: str, cohorts: list[str], concurrency: int, guards: PolicyGuards) -> Measured:
    ws = load_workspace(root)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        runner = Runner(store, ws, LLMClient(ws.settings.generation, api_key="x", base_url=base_url), checker=guards)
        options = RunOptions(modules=["hero"], cohorts=cohorts, concurrency=concurrency)
        started, cpu = time.perf_counter(), time.process_time()
        summary, stall = asyncio.run(_run_watching_the_loop(runner, options))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        store.dispose()
    assert summary.jobs_done == len(cohorts) and summary.reasks == 0, summary
    return Measured(elapsed, cpu, summary.candidates_passed + summary.candidates_failed, stall * 1000)


def first_requests(root: Path, cohorts: list[str]) -> list[dict]:
    """The request body of each job's first call, as the pipeline sends it."""
    from variantly.workspace.cohorts import Cohort

    ws = load_workspace(root)
    prompts = PromptSet(root)
    llm = LLMClient(ws.settings.generation, api_key="x", base_url=None)
    output = output_model(ws.modules["hero"].module, 3)
    built = [build_prompt(prompts, ws, ws.policy, "hero", Cohort.from_key(key), candidates=3) for key in cohorts]
    return [llm.request_body(prompt.messages, output) for prompt in built]


def bare_sdk_run(root: Path, base_url: str, bodies: list[dict], concurrency: int) -> float:
    """Seconds for these requests sent straight through the pipeline's SDK client, nothing else around them."""
    import httpx

    llm = LLMClient(load_workspace(root).settings.generation, api_key="x", base_url=base_url)

    async def run() -> float:
        slots = asyncio.Semaphore(concurrency)

        async def one(body: dict) -> None:
            async with slots:
                response = await llm.client.post("/chat/completions", cast_to=httpx.Response, body=body)
                response.json()

        started = time.perf_counter()
        await asyncio.gather(*(one(body) for body in bodies))
        elapsed = time.perf_counter() - started
        await llm.close()
        return elapsed

    return asyncio.run(run())


def stage_costs(root: Path, guards: PolicyGuards, cohorts: list[str]) -> dict[str, float]:
    """Seconds per job for building a prompt, and per candidate for the guardrail check."""
    ws = load_workspace(root)
    prompts = PromptSet(root)
    from variantly.workspace.cohorts import Cohort

    started = time.perf_counter()
    for key in cohorts:
        build_prompt(prompts, ws, ws.policy, "hero", Cohort.from_key(key), candidates=3)
    prompt = (time.perf_counter() - started) / len(cohorts)
    slots = {"headline": "One shared view of every customer", "subheadline": "Customer data and history in one place."}
    started = time.perf_counter()
    for _ in range(60):
        guards.check_slots(ws, "hero", {"locale": "en"}, slots)
    check = (time.perf_counter() - started) / 60
    return {"prompt per job": prompt, "guardrails per candidate": check}


@contextlib.contextmanager
def fake_llm(latency: float):
    """The fake server in its own process, so it does not share this one's GIL."""
    import socket

    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE.parent / "fake_openai.py"), str(port), str(latency)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the fake LLM takes per call")
    parser.add_argument("--jobs", type=int, default=48)
    parser.add_argument("--serial", action="store_true", help="also 1 call at a time (jobs x latency seconds)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per level; the table shows the median")
    args = parser.parse_args()
    console = Console(width=120)
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_workspace(Path(tmp) / "ws")
        ws = load_workspace(root)
        cohorts = [c.key for c in cohorts_for(ws, "hero", ["en"])][: args.jobs]
        guards = PolicyGuards(root)
        with fake_llm(0.0) as base:
            one_run(root, base, cohorts[:4], 4, guards)  # warm up imports, tokenizer, models, connections
            baseline = one_run(root, base, cohorts, 1, guards)
        levels = (1, 8, 32) if args.serial else (8, 32)
        runs: dict[int, list[Measured]] = {concurrency: [] for concurrency in levels}
        bare: dict[int, list[float]] = {concurrency: [] for concurrency in levels}
        bodies = first_requests(root, cohorts)  # the same for every round
        with fake_llm(args.latency) as base:
            for _ in range(args.rounds):  # interleaved, so a slow spell of a shared machine hits every level
                for concurrency in levels:
                    runs[concurrency].append(one_run(root, base, cohorts, concurrency, guards))
                    bare[concurrency].append(bare_sdk_run(root, base, bodies, concurrency))
        stages = stage_costs(root, guards, cohorts)

    table = Table(
        title=f"Generation pipeline: {len(cohorts)} jobs x 3 candidates, fake LLM latency "
        f"{args.latency * 1000:.0f} ms, median of {args.rounds} rounds (range)"
    )
    columns = ("calls in flight", "actual s", "ideal s (LLM only)", "overhead ms / candidate", "efficiency", "range")
    for column in (*columns, "bare SDK efficiency", "of bare SDK", "longest loop stall ms"):
        table.add_column(column, justify="right")
    for concurrency, measured in runs.items():
        ideal = math.ceil(len(cohorts) / concurrency) * args.latency
        seconds = sorted(m.seconds for m in measured)
        median = statistics.median(seconds)
        bare_median = statistics.median(bare[concurrency])
        table.add_row(
            str(concurrency),
            f"{median:.2f}",
            f"{ideal:.2f}",
            f"{(median - ideal) / measured[0].candidates * 1000:.1f}",
            f"{ideal / median:.2f}",
            f"{ideal / seconds[-1]:.2f}-{ideal / seconds[0]:.2f}",
            f"{ideal / bare_median:.2f}",
            f"{bare_median / median:.0%}",
            f"{max(m.max_stall_ms for m in measured):.0f}",
        )
    console.print(table)
    console.print(
        f"baseline, same run, zero-latency LLM, 1 call at a time: {baseline.seconds:.2f} s = "
        f"{baseline.seconds / baseline.candidates * 1000:.1f} ms per candidate (HTTP + parse + guardrails + store), "
        f"of which {baseline.cpu_seconds / baseline.candidates * 1000:.1f} ms CPU in this process"
    )
    for name, seconds in stages.items():
        console.print(f"  {name}: {seconds * 1000:.2f} ms")


if __name__ == "__main__":
    main()
