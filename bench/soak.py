"""Load test: 60 seconds of landing renders at 80% of the measured maximum, on loopback.

    .venv/bin/python bench/soak.py [--seconds 60] [--share 0.8]

Starts ``variantly serve --render-only``, measures the landing render's maximum
throughput with wrk (16 connections, 5 s), then runs wrk for ``--seconds`` at
``--share`` of it (16 connections, each pausing between requests) while reading the
server's resident memory every 5 seconds. Prints errors, latency and the RSS series.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, connections_for, prepared_workspace, rss_sampled, variantly_server, wrk
from rich.console import Console
from rich.table import Table

PAUSE_MS = 2  # each connection's pause between requests; how many connections reach the target is measured
ANNA = json.loads((REPO / "examples/profiles/anna_retail_enterprise_sv.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--share", type=float, default=0.8)
    args = parser.parse_args()
    console = Console(width=110)
    connections = 16
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "landing.json"
        body.write_text(json.dumps({"layout": "landing", "profile": ANNA}))
        root, url = prepared_workspace(Path(tmp))
        with variantly_server(root, url, "--render-only", "--no-access-log") as server:
            endpoint = f"{server.base}/v1/render"
            wrk(endpoint, seconds=2, method="POST", body=body)  # warm up
            peak = wrk(endpoint, seconds=5, connections=connections, method="POST", body=body)["rps"]
            target = peak * args.share
            paced = connections_for(endpoint, target, pause_ms=PAUSE_MS, method="POST", body=body)
            with rss_sampled(server, every=5) as rss:
                result = wrk(
                    endpoint, seconds=args.seconds, connections=paced, method="POST", body=body, pause_ms=PAUSE_MS
                )
    table = Table(
        title=f"{args.seconds} s of POST /v1/render (landing) at {args.share:.0%} of the maximum "
        f"({peak:,.0f} req/s measured, {target:,.0f} req/s target)",
        title_justify="left",
    )
    for column in ("req/s", "requests", "errors", "p50 ms", "p99 ms", "max ms", "RSS MB every 5 s"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result['rps']:,.0f}",
        f"{result['requests']:,}",
        str(result["errors"] + result["non2xx"]),
        f"{result['p50_ms']:.1f}",
        f"{result['p99_ms']:.1f}",
        f"{result['max_ms']:.0f}",
        " ".join(f"{m:.0f}" for m in rss),
    )
    console.print(table)


if __name__ == "__main__":
    main()
