"""Where a render's time goes, in-process: the whole app, the same request without a server, and each stage.

    .venv/bin/python bench/render_profile.py [--requests 20000]

No server and no client: each request is handed to the ASGI app by a small driver on
one event loop, so what is measured is Python's work alone (what wrk cannot separate from
the server's). Three rows per scenario: the bare FastAPI app of ``bench/bare_app.py`` (the
framework's own cost with a validated body and a fixed page), the whole Variantly app, and
then the landing request's stages called one by one, as ``POST /v1/render`` calls them.
The README's breakdown is this script's output.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from bench.bare_app import create as create_bare
from bench.common import REPO, prepared_workspace
from rich.console import Console
from rich.table import Table

ANNA = json.loads((REPO / "examples/profiles/anna_retail_enterprise_sv.json").read_text())
FRAGMENT = "/v1/render/hero", b"segment=enterprise&industry=retail&behaviour=pricing_researcher&locale=sv"


async def per_request_us(app, method: str, path: str, query: bytes, body: bytes, requests: int) -> float:
    """Microseconds per request through ``app`` (best of three batches: the least disturbed)."""
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers if method == "POST" else headers[:1],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    statuses = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(requests // 3):
            await app(dict(scope), receive, send)
        best = min(best, (time.perf_counter() - started) / (requests // 3))
    if set(statuses) != {200}:
        sys.exit(f"{method} {path}: answered {sorted(set(statuses))}")
    return best * 1e6


def stage_us(work, requests: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(requests // 3):
            work()
        best = min(best, (time.perf_counter() - started) / (requests // 3))
    return best * 1e6


def stages(service, body: bytes, requests: int) -> dict[str, float]:
    """The landing request's stages, in the order ``api.render.render`` runs them."""
    from variantly import metrics
    from variantly.api.schemas import RenderRequest
    from variantly.serving.render import cap_windows, render_target, target_modules, viewer_for_profile

    workspace, release = service.workspace, service.release
    request = RenderRequest.model_validate_json(body)
    viewer = viewer_for_profile(workspace, request.profile, activity=service.activity)
    shown = target_modules(workspace, layout="landing")
    windows = cap_windows(workspace, shown, viewer)
    seen_viewer = replace(viewer, seen=service.activity.seen(request.profile.id, windows))
    page = render_target(workspace, release, seen_viewer, channel="web", layout="landing")
    answer = page.as_dict() | {"release": release.number}
    return {
        "validate the body (pydantic)": stage_us(lambda: RenderRequest.model_validate_json(body), requests),
        "cohort, arm (viewer_for_profile)": stage_us(
            lambda: viewer_for_profile(workspace, request.profile, activity=service.activity), requests
        ),
        "frequency caps (seen)": stage_us(lambda: service.activity.seen(request.profile.id, windows), requests),
        "decide and fill the page (render_target)": stage_us(
            lambda: render_target(workspace, release, seen_viewer, channel="web", layout="landing"), requests
        ),
        "sign the decisions": stage_us(lambda: service.sign(request.profile.id, page.decisions), requests),
        "the answer as JSON (orjson)": stage_us(lambda: orjson.dumps(page.as_dict() | answer), requests),
        "metrics": stage_us(lambda: metrics.rendered("render", 0.0001, page.decisions), requests),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    console = Console(width=120)
    from variantly.api import create_app
    from variantly.settings import ProcessSettings

    with tempfile.TemporaryDirectory() as tmp:
        console.print("preparing a workspace (variantly demo --no-serve) ...")
        root, url = prepared_workspace(Path(tmp))
        app = create_app(ProcessSettings(workspace=root, database_url=url, render_only=True))
        gc.collect()
        gc.freeze()  # as the server does once loaded (api.app lifespan)
        service = app.state.service
        service.refresh_release()
        landing = orjson.dumps({"layout": "landing", "profile": ANNA})
        module = orjson.dumps({"module": "hero", "profile": ANNA})
        bare = create_bare()
        n = args.requests

        async def whole() -> dict[str, float]:
            return {
                "bare FastAPI, async def route": await per_request_us(bare, "POST", "/async", b"", landing, n),
                "POST /v1/render, landing layout (anna)": await per_request_us(
                    app, "POST", "/v1/render", b"", landing, n
                ),
                "POST /v1/render, one module (hero)": await per_request_us(app, "POST", "/v1/render", b"", module, n),
                "GET /v1/render/hero?... (fragment)": await per_request_us(app, "GET", *FRAGMENT, b"", n),
            }

        rows = asyncio.run(whole())
        base = rows["bare FastAPI, async def route"]
        table = Table(title=f"In-process, no server: best of 3 x {n // 3:,} requests", title_justify="left")
        for column in ("request", "us per request", "share of bare FastAPI"):
            table.add_column(column, justify="left" if column == "request" else "right")
        for name, us in rows.items():
            table.add_row(name, f"{us:.0f}", f"{base / us:.2f}")
        console.print(table)
        parts = stages(service, landing, n)
        table = Table(title="The landing request, stage by stage (called directly)", title_justify="left")
        for column in ("stage", "us", "share"):
            table.add_column(column, justify="left" if column == "stage" else "right")
        total = sum(parts.values())
        for name, us in parts.items():
            table.add_row(name, f"{us:.1f}", f"{us / total:.0%}")
        table.add_row("sum of the stages", f"{total:.1f}", "")
        console.print(table)
        service.store.dispose()


if __name__ == "__main__":
    main()
