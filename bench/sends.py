"""Benchmark: an email send streamed through POST /v1/render/batch as NDJSON, in flat memory.

    .venv/bin/python bench/sends.py [--profiles 200000]

Starts ``variantly serve --render-only``, generates profiles on the fly (nothing is
held in memory on the client either) and streams them in as NDJSON, one per line,
for the email layout, through curl, which reads the answer while it still sends (a
client that sends the whole body before it reads, such as requests or httpx, would
stall once the answer fills the socket buffers). Prints profiles/s and the server's
resident memory (RSS) through the send. The same profiles as JSON batches of 1,000
are the baseline, in the same run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from bench.common import prepared_workspace, rss_sampled, variantly_server
from rich.console import Console
from rich.table import Table

SEGMENTS = [20, 250, 4000]
INDUSTRIES = ["retail", "fintech", "healthcare", None]


def profile(i: int) -> dict:
    traits = {
        "first_name": f"Reader{i}",
        "company": f"Company {i % 977}",
        "company_size": SEGMENTS[i % 3],
        "locale": "sv-SE" if i % 4 == 0 else "en-GB",
    }
    if INDUSTRIES[i % 4]:
        traits["industry"] = INDUSTRIES[i % 4]
    return {"id": f"send-{i}", "traits": traits, "consent": {"personalisation": True, "marketing_email": i % 20 != 0}}


def ndjson(count: int) -> Iterator[bytes]:
    for start in range(0, count, 500):
        yield b"".join(json.dumps(profile(i)).encode() + b"\n" for i in range(start, min(start + 500, count)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=200_000)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is not installed: apt-get install -y curl")
    console = Console(width=110)
    with tempfile.TemporaryDirectory() as tmp:
        root, url = prepared_workspace(Path(tmp))
        with variantly_server(root, url, "--render-only", "--no-access-log") as server:
            httpx.post(
                f"{server.base}/v1/render/batch", json={"layout": "email", "channel": "email", "profiles": [profile(1)]}
            ).raise_for_status()
            with rss_sampled(server, every=0.5) as samples:
                ok = refused = 0
                started = time.perf_counter()
                curl = subprocess.Popen(
                    [
                        "curl",
                        "-sS",
                        "-N",
                        "-T",
                        "-",
                        "-X",
                        "POST",
                        "-H",
                        "content-type: application/x-ndjson",
                        f"{server.base}/v1/render/batch?layout=email&channel=email",
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )

                def feed() -> None:
                    for piece in ndjson(args.profiles):
                        curl.stdin.write(piece)
                    curl.stdin.close()

                feeder = threading.Thread(target=feed)
                feeder.start()
                for line in curl.stdout:
                    answer = json.loads(line)
                    ok += answer["ok"]
                    refused += not answer["ok"]
                feeder.join()
                curl.wait()
                streamed = time.perf_counter() - started
            before, during = samples[0], samples[1:]
            after = server.rss_mb()

            count = min(args.profiles, 20_000)
            started = time.perf_counter()
            for start in range(0, count, 1000):
                body = {
                    "layout": "email",
                    "channel": "email",
                    "profiles": [profile(i) for i in range(start, start + 1000)],
                }
                httpx.post(f"{server.base}/v1/render/batch", json=body, timeout=120).raise_for_status()
            batched = time.perf_counter() - started
    quarters = [during[int(len(during) * q / 4) - 1] for q in (1, 2, 3, 4)] if len(during) >= 4 else during
    table = Table(
        title="Email send, layout 'email' (CSS inlined, text part), render-only, 1 process", title_justify="left"
    )
    for column in ("input", "profiles", "profiles/s", "answered ok / refused", "server RSS MB (start, quarters, end)"):
        table.add_column(column, justify="left" if column == "input" else "right")
    table.add_row(
        "NDJSON, streamed",
        f"{args.profiles:,}",
        f"{args.profiles / streamed:,.0f}",
        f"{ok:,} / {refused:,}",
        ", ".join(f"{m:.0f}" for m in [before, *quarters, after]),
    )
    table.add_row("JSON, 1,000 a request", f"{count:,}", f"{count / batched:,.0f}", "", "")
    console.print(table)


if __name__ == "__main__":
    main()
