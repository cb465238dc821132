"""What the benchmarks share: a prepared workspace, servers in their own processes, and wrk.

Everything runs on loopback. Servers are started as a user would start them (the
``variantly`` CLI, or uvicorn for the bare baseline) and stopped by the benchmark.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from variantly.api.server import STACKS as SERVER_STACKS
from variantly.api.server import HttpTools

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WORKSPACE_PARTS = ("variantly.yml", "audiences.yml", "modules", "prompts", "guardrails", "examples")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepared_workspace(folder: Path, database_url: str | None = None) -> tuple[Path, str]:
    """A copy of the example workspace with the example variants imported and approved (``variantly demo``)."""
    root = folder / "ws"
    root.mkdir(parents=True)
    for part in WORKSPACE_PARTS:
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / part)
    url = database_url or f"sqlite:///{folder / 'bench.db'}"
    subprocess.run(
        [PYTHON, "-m", "variantly", "demo", "--no-serve", "--workspace", str(root), "--database-url", url],
        check=True,
        stdout=subprocess.DEVNULL,
        env=os.environ | {"OTEL_SDK_DISABLED": "true"},
    )
    return root, url


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        """Resident memory of the server and its worker processes, in MB."""
        pids = [self.process.pid, *_children(self.process.pid)]
        total = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                pass
        return total / 1024


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(c) for c in found] + [g for c in found for g in _children(int(c))]


@contextmanager
def rss_sampled(server: Server, every: float):
    """Read the server's RSS every ``every`` seconds while the block runs; yields the growing list (MB)."""
    samples = [server.rss_mb()]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(every):
            samples.append(server.rss_mb())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield samples
    finally:
        done.set()
        watcher.join()


def renderer_token(url: str) -> str:
    """A renderer account's token on the store at ``url`` (events sent with it need no signatures)."""
    from variantly.auth import create_account
    from variantly.store import Store

    store = Store(url)
    try:
        return create_account(store, "bench", "renderer")
    finally:
        store.dispose()


@contextmanager
def server(name: str, args: list[str], ready_path: str, env: dict | None = None):
    """Start ``args`` (which must contain ``{port}``), wait until ``ready_path`` answers, stop it afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [a.replace("{port}", str(port)) for a in args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ | {"OTEL_SDK_DISABLED": "true"} | (env or {}),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start in 60 s")
            time.sleep(0.1)
        yield Server(name, process, port)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def variantly_server(root: Path, url: str, *extra: str, env: dict | None = None):
    args = [PYTHON, "-m", "variantly", "serve", "--port", "{port}", "--workspace", str(root), "--database-url", url]
    return server("variantly", args + list(extra), "/healthz", env)


STACKS = {  # uvicorn's own options for each server stack ``variantly serve --server-stack`` names
    "fast": ["--loop", "uvloop", "--http", "httptools"],
    "asyncio": ["--loop", "asyncio", "--http", "h11"],
}


# The same loops with the HTTP protocol ``variantly serve`` uses (uvicorn's own, one write per response), read from
# the server's own table so the bench's "Variantly's server" row is always what a render node runs
CORKED = {
    stack: ["--loop", loop, "--http", f"{http.__module__}:{http.__qualname__}"]
    for stack, (loop, http) in SERVER_STACKS.items()
}


class ThroughAsgi(HttpTools):
    """The fast stack's protocol with every request through uvicorn's ASGI cycle, as before a render was answered
    whole as its body arrived: run beside the render node, it shows what that saves in the same run."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.answers_now = None


def variantly_through_asgi(root: Path, url: str):
    """A render-only node on the fast stack whose renders all go through uvicorn's ASGI cycle (``ThroughAsgi``),
    started with uvicorn's own command line as the README documents it."""
    env = {"VARIANTLY_WORKSPACE": str(root), "VARIANTLY_DATABASE_URL": url, "VARIANTLY_RENDER_ONLY": "1"}
    args = [PYTHON, "-m", "uvicorn", "--factory", "variantly.api.app:app_from_env", "--port", "{port}"]
    args += ["--log-level", "warning", "--no-access-log", "--no-proxy-headers", "--loop", "uvloop"]
    return server("variantly through ASGI", [*args, "--http", "bench.common:ThroughAsgi"], "/healthz", env)


def bare_server(stack: str = "fast", corked: bool = False):
    """Bare FastAPI on uvicorn as installed, or (``corked``) on the HTTP protocol a render node serves with."""
    args = [PYTHON, "-m", "uvicorn", "--factory", "bench.bare_app:create", "--port", "{port}", "--log-level", "warning"]
    return server("bare FastAPI", args + (CORKED if corked else STACKS)[stack] + ["--no-access-log"], "/openapi.json")


def raw_server(stack: str = "fast"):
    args = [PYTHON, "-m", "uvicorn", "--factory", "bench.raw_app:create", "--port", "{port}", "--log-level", "warning"]
    return server("raw ASGI", args + STACKS[stack] + ["--no-access-log"], "/")


def wrk(
    url: str,
    *,
    seconds: float,
    connections: int = 16,
    method: str = "GET",
    body: Path | None = None,
    pause_ms: float = 0,
) -> dict:
    """One wrk run; requests/s, errors and latency percentiles (ms)."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(REPO / "bench" / "request.lua"),
        url,
        "--",
        method,
        str(body or "-"),
        str(pause_ms),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def connections_for(
    url: str, target_rps: float, *, pause_ms: int, method: str = "GET", body: Path | None = None, probes: int = 3
) -> int:
    """How many connections, each pausing ``pause_ms`` between requests, send about ``target_rps`` together: found
    by short probes, since a request's own latency adds to each connection's cycle. The pause is what is fixed, in
    whole ms (wrk's ``delay`` drops fractions: a pause of 0.5 ms is none)."""
    connections = max(1, round(target_rps * (pause_ms + 1) / 1000))
    for _ in range(probes):
        got = wrk(url, seconds=2, connections=connections, method=method, body=body, pause_ms=pause_ms)["rps"]
        connections = max(1, round(connections * target_rps / got))
    return connections
