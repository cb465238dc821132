"""Benchmark: render throughput and latency against a bare FastAPI app, same uvicorn, same run.

    .venv/bin/python bench/serving.py [--seconds 5] [--rounds 3]

Starts ``variantly serve --render-only`` on a copy of the example workspace (example
variants approved) and the bare app in ``bench/bare_app.py`` (the same pydantic body,
a fixed 3 KB page), then runs wrk (1 thread, 16 connections) against each scenario in
turn, round after round, so both see the same machine. The baseline is the faster of
the bare app's ``def`` and ``async def`` routes. Then the landing page at half its
measured maximum, open loop-ish (each connection pauses between requests), for p99.
Access logs are off on both servers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, bare_server, pause_for, prepared_workspace, variantly_server, wrk
from rich.console import Console
from rich.table import Table

ANNA = json.loads((REPO / "examples/profiles/anna_retail_enterprise_sv.json").read_text())
FRAGMENT = "/v1/render/hero?segment=enterprise&industry=retail&behaviour=pricing_researcher&locale=sv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    console = Console(width=110)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bodies = {
            "landing": {"layout": "landing", "profile": ANNA},
            "module": {"module": "hero", "profile": ANNA},
        }
        files = {}
        for name, body in bodies.items():
            files[name] = folder / f"{name}.json"
            files[name].write_text(json.dumps(body))
        console.print("preparing a workspace (variantly demo --no-serve) ...")
        root, url = prepared_workspace(folder)
        with bare_server() as bare, variantly_server(root, url, "--render-only", "--no-access-log") as ours:
            scenarios = {
                "bare FastAPI, def route": (f"{bare.base}/def", "POST", files["landing"]),
                "bare FastAPI, async def route": (f"{bare.base}/async", "POST", files["landing"]),
                "POST /v1/render, landing layout (anna)": (f"{ours.base}/v1/render", "POST", files["landing"]),
                "POST /v1/render, one module (hero)": (f"{ours.base}/v1/render", "POST", files["module"]),
                "GET /v1/render/hero?... (anonymous fragment)": (f"{ours.base}{FRAGMENT}", "GET", None),
            }
            for url_, method, body in scenarios.values():  # warm up: imports, caches, JIT-free but lazy paths
                wrk(url_, seconds=1, connections=args.connections, method=method, body=body)
            runs: dict[str, list[dict]] = {name: [] for name in scenarios}
            for round_ in range(args.rounds):
                for name, (url_, method, body) in scenarios.items():
                    result = wrk(url_, seconds=args.seconds, connections=args.connections, method=method, body=body)
                    if result["errors"] or result["non2xx"]:
                        sys.exit(f"{name}: {result['errors']} errors, {result['non2xx']} non-2xx answers")
                    runs[name].append(result)
                console.print(f"round {round_ + 1}/{args.rounds} done")
            rps = {name: statistics.median(r["rps"] for r in results) for name, results in runs.items()}
            baseline = max(rps["bare FastAPI, def route"], rps["bare FastAPI, async def route"])

            table = Table(
                title=f"Throughput: wrk, {args.connections} connections, median of {args.rounds} x "
                f"{args.seconds:g} s (render-only, 1 process)",
                title_justify="left",
            )
            for column in ("scenario", "req/s", "share of bare FastAPI", "p50 ms", "p99 ms"):
                table.add_column(column, justify="left" if column == "scenario" else "right")
            for name, results in runs.items():
                p50 = statistics.median(r["p50_ms"] for r in results)
                p99 = statistics.median(r["p99_ms"] for r in results)
                table.add_row(name, f"{rps[name]:,.0f}", f"{rps[name] / baseline:.0%}", f"{p50:.1f}", f"{p99:.1f}")
            console.print(table)

            half = rps["POST /v1/render, landing layout (anna)"] / 2
            connections = 8
            pause = pause_for(
                f"{ours.base}/v1/render", half, connections=connections, method="POST", body=files["landing"]
            )
            latency = Table(
                title=f"Landing render at half its maximum ({half:,.0f} req/s target, {connections} "
                f"connections pausing {pause:.1f} ms)",
                title_justify="left",
            )
            for column in ("round", "req/s", "p50 ms", "p99 ms", "max ms", "errors"):
                latency.add_column(column, justify="right")
            for round_ in range(args.rounds):
                r = wrk(
                    f"{ours.base}/v1/render",
                    seconds=args.seconds * 2,
                    connections=connections,
                    method="POST",
                    body=files["landing"],
                    pause_ms=pause,
                )
                latency.add_row(
                    str(round_ + 1),
                    f"{r['rps']:,.0f}",
                    f"{r['p50_ms']:.2f}",
                    f"{r['p99_ms']:.2f}",
                    f"{r['max_ms']:.1f}",
                    str(r["errors"] + r["non2xx"]),
                )
            console.print(latency)


if __name__ == "__main__":
    main()
