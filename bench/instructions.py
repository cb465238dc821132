"""Instructions per request, counted by valgrind: a change's cost measured without the machine's noise.

    .venv/bin/python bench/instructions.py [--requests 1000] [--off metrics]

On this shared machine a wrk round strays from the next by up to a third, and even
in-process timings move by a tenth between runs, so a cut worth 2% cannot be seen in
seconds. Instructions can: callgrind counts the same total for the same code and input
(on 2026-12-04, two runs of 1,000 landing requests differed by under 0.3%), however busy
the machine is. The requests are those of ``bench/render_profile.py``, handed to each app in
turn; ``os.getppid()`` marks where each scenario starts, and callgrind writes its counters
there (``--dump-before=getppid``).

Read it against the same script on the parent commit, not as time: an instruction is not a
microsecond, and valgrind runs SHA-256 without the CPU's SHA extensions, so the hashes of a
render (holdout, pseudonym, signatures) count several times what they cost natively.
``--off metrics`` counts again with ``metrics.rendered`` made a no-op, to price what it does.

A second table counts the server's work with the app's: the same requests as bytes handed to
the fast stack's HTTP protocol on one connection (``SERVED``), bare FastAPI on uvicorn's own,
a render answered whole by the render node's, and the same render through uvicorn's ASGI cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
import uvloop
from bench.common import PYTHON, REPO, ThroughAsgi, prepared_workspace
from bench.render_profile import LANDING_BODY, MODULE_BODY, asgi_request, baseline, scenarios
from rich.console import Console
from rich.table import Table
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from variantly.api.server import HttpTools

SCENARIOS = tuple(scenarios(None, None))  # their names, in the order they are counted


# The same requests as bytes handed to a server's HTTP protocol on one connection (``data_received``, a transport
# that keeps what is written, the loop run until the answer is out): the server's own work counted with the app's.
# Bare FastAPI on uvicorn's protocol as installed; the render node's protocol answering a render whole as its body
# arrives, and the same protocol with every render through uvicorn's ASGI cycle (``ThroughAsgi``).
SERVED = (
    ("bare FastAPI, async def route (uvicorn's protocol)", HttpToolsProtocol, "bare", b"/async", LANDING_BODY),
    ("POST /v1/render, landing layout, answered whole", HttpTools, "app", b"/v1/render", LANDING_BODY),
    ("the landing, through uvicorn's ASGI cycle", ThroughAsgi, "app", b"/v1/render", LANDING_BODY),
    ("POST /v1/render, one module, answered whole", HttpTools, "app", b"/v1/render", MODULE_BODY),
    ("one module, through uvicorn's ASGI cycle", ThroughAsgi, "app", b"/v1/render", MODULE_BODY),
)


class Written(asyncio.Transport):
    """A connection's far end: what the server writes, kept."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Served:
    """One keep-alive connection to ``protocol`` serving ``app``, sent the same request again and again."""

    def __init__(self, protocol, app, path: bytes, body: bytes) -> None:
        config = uvicorn.Config(app, lifespan="off", proxy_headers=False, access_log=False, log_level="warning")
        config.load()
        self.transport = Written()
        self.protocol = protocol(config=config, server_state=ServerState(), app_state={})
        self.protocol.access_log = False
        self.protocol.connection_made(self.transport)
        head = b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n" % path
        self.bytes = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        self.statuses: set[int] = set()

    async def request(self) -> None:
        self.transport.writes.clear()
        self.protocol.data_received(self.bytes)
        while not self.transport.writes:
            await asyncio.sleep(0)
        self.statuses.add(int(self.transport.writes[0][9:12]))


def count(root: str, url: str, requests: int, off: str | None) -> None:
    """Run under callgrind: each scenario's requests between two ``os.getppid()`` calls."""
    from bench.bare_app import create as create_bare

    from variantly import metrics
    from variantly.api import create_app
    from variantly.settings import ProcessSettings

    if off == "metrics":
        metrics.rendered = lambda *_: None
    app = create_app(ProcessSettings(workspace=Path(root), database_url=url, render_only=True))
    gc.collect()
    gc.freeze()  # as the server does once loaded
    app.state.service.refresh_release()
    bare = create_bare()
    requests_of = [(each, asgi_request(*request)) for each, *request in scenarios(app, bare).values()]
    statuses: set[int] = set()

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    async def run() -> None:
        served = [Served(protocol, app if to == "app" else bare, *request) for _, protocol, to, *request in SERVED]
        for _ in range(200):  # warm: imports, caches, lazy paths
            for each, (scope, receive) in requests_of:
                await each(dict(scope), receive, send)
            for connection in served:
                await connection.request()
        for each, (scope, receive) in requests_of:
            os.getppid()  # callgrind writes what came before this
            for _ in range(requests):
                await each(dict(scope), receive, send)
        for connection in served:
            os.getppid()
            for _ in range(requests):
                await connection.request()
        os.getppid()
        statuses.update(status for connection in served for status in connection.statuses)

    uvloop.run(run())  # the fast stack's loop
    app.state.service.store.dispose()
    if statuses != {200}:  # an error's path counted as a render's would mislead
        sys.exit(f"answered {sorted(statuses)}: every scenario must answer 200")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--off", choices=["metrics"], help="count with this part made a no-op")
    parser.add_argument("--count", nargs=2, metavar=("ROOT", "URL"), help=argparse.SUPPRESS)  # under valgrind
    args = parser.parse_args()
    if args.count:
        count(*args.count, args.requests, args.off)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install -y valgrind")
    console = Console(width=120)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        console.print("preparing a workspace (variantly demo --no-serve) ...")
        root, url = prepared_workspace(folder)
        console.print(f"counting {args.requests:,} requests of each scenario under callgrind (a minute or two) ...")
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder / 'counted'}"]
        command += ["--dump-before=getppid", "--cache-sim=no", PYTHON, __file__, "--count", str(root), url]
        command += ["--requests", str(args.requests)] + (["--off", args.off] if args.off else [])
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(done.stderr[-2000:])
        # Part 1 is start-up and warming; the parts after it are the scenarios, in order.
        parts = len(SCENARIOS) + len(SERVED)
        totals = [_total(folder / f"counted.{part}") / args.requests for part in range(2, 2 + parts)]
    per_request = dict(zip(SCENARIOS, totals[: len(SCENARIOS)], strict=True))
    title = f"Instructions per request (callgrind, {args.requests:,} each, in-process)"
    table = Table(title=title + (f", {args.off} off" if args.off else ""), title_justify="left")
    for column in ("request", "instructions", "bare FastAPI's over this (same body)"):
        table.add_column(column, justify="left" if column == "request" else "right")
    for name, instructions in per_request.items():
        table.add_row(name, f"{instructions:,.0f}", f"{per_request[baseline(name)] / instructions:.2f}")
    console.print(table)
    served = dict(zip((name for name, *_ in SERVED), totals[len(SCENARIOS) :], strict=True))
    bare = served[SERVED[0][0]]
    table = Table(title="The same requests as bytes through the fast stack's HTTP protocol", title_justify="left")
    for column in ("request", "instructions", "bare FastAPI's over this (landing body)"):
        table.add_column(column, justify="left" if column == "request" else "right")
    for name, instructions in served.items():
        table.add_row(name, f"{instructions:,.0f}", f"{bare / instructions:.2f}")
    console.print(table)


def _total(dump: Path) -> int:
    found = re.search(r"^totals: (\d+)", dump.read_text(), re.MULTILINE)
    if found is None:
        sys.exit(f"{dump.name}: no totals line")
    return int(found.group(1))


if __name__ == "__main__":
    main()
