"""Where a render's time goes, in-process: the whole app, the same request without a server, and each stage.

    .venv/bin/python bench/render_profile.py [--requests 20000]

No server and no client: each request is handed to the ASGI app by a small driver on
one event loop, so what is measured is Python's work alone (what wrk cannot separate from
the server's). Three rows per scenario: the bare FastAPI app of ``bench/bare_app.py`` (the
framework's own cost with a validated body and a fixed page), the whole Variantly app, and
then the landing request's stages, timed one after the other inside each request.
The README's breakdown is this script's output.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from bench.bare_app import create as create_bare
from bench.common import REPO, prepared_workspace
from rich.console import Console
from rich.table import Table

ANNA = json.loads((REPO / "examples/profiles/anna_retail_enterprise_sv.json").read_text())
FRAGMENT = "/v1/render/hero", b"segment=enterprise&industry=retail&behaviour=pricing_researcher&locale=sv"


def asgi_request(method: str, path: str, query: bytes, body: bytes):
    """A request as the server would hand it to the app: its scope, and a receive giving the body at once."""
    headers = [(b"host", b"bench"), (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
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

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    return scope, receive


BARE = "bare FastAPI, async def route"
LANDING_BODY = orjson.dumps({"layout": "landing", "profile": ANNA})
MODULE_BODY = orjson.dumps({"module": "hero", "profile": ANNA})
# Anna with the history a CDP sends: forty more page views over twenty days (none of them /pricing, so her cohort and
# decisions stay the same), timed in ISO 8601 as a caller would, not relative as the fixtures are. Event validation
# grows with them, for bare FastAPI as much as for a render.
HISTORY = [
    {"type": "page_view", "at": f"2026-11-{day:02d}T{hour:02d}:15:00Z", "properties": {"path": path}}
    for day in range(1, 21)
    for hour, path in ((9, "/blog"), (14, "/docs"))
]
HISTORY_BODY = orjson.dumps({"layout": "landing", "profile": ANNA | {"events": ANNA["events"] + HISTORY}})
BARE_HISTORY = "bare FastAPI, a profile with 43 events"


def baseline(name: str) -> str:
    """The bare FastAPI row a scenario is compared with: the one validating the same body."""
    return BARE_HISTORY if "43 events" in name else BARE


def scenarios(app, bare) -> dict[str, tuple]:
    """The requests handed to each app, by name: (app, method, path, query, body). ``bench/instructions.py`` counts
    the same ones."""
    return {
        BARE: (bare, "POST", "/async", b"", LANDING_BODY),
        "POST /v1/render, landing layout (anna)": (app, "POST", "/v1/render", b"", LANDING_BODY),
        "POST /v1/render, one module (hero)": (app, "POST", "/v1/render", b"", MODULE_BODY),
        "GET /v1/render/hero?... (fragment)": (app, "GET", *FRAGMENT, b""),
        BARE_HISTORY: (bare, "POST", "/async", b"", HISTORY_BODY),
        "POST /v1/render, landing layout (anna, 43 events)": (app, "POST", "/v1/render", b"", HISTORY_BODY),
    }


async def median_us(scenarios: dict[str, tuple], requests: int) -> dict[str, float]:
    """Microseconds per request of each scenario (app, method, path, query, body): the median of ``requests`` each,
    taken in turns (one request of each, then the next), so a busy moment of the machine falls on all of them."""
    statuses: set[int] = set()

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    prepared = {name: (app, *asgi_request(*request)) for name, (app, *request) in scenarios.items()}
    taken: dict[str, list[int]] = {name: [] for name in scenarios}
    clock = time.perf_counter_ns
    for _ in range(requests):
        for name, (app, scope, receive) in prepared.items():
            started = clock()
            await app(dict(scope), receive, send)
            taken[name].append(clock() - started)
    if statuses != {200}:
        sys.exit(f"answered {sorted(statuses)}: every scenario must answer 200")
    return {name: statistics.median(times) / 1000 for name, times in taken.items()}


def stages(service, body: bytes, requests: int) -> dict[str, float]:
    """The landing request's stages, timed inside each request in the order ``api.render.render`` runs them (median
    per stage). Timed one by one in a loop of their own, they read about half of this: a stage repeated alone runs
    from warm caches, and inside a whole request it does not."""
    from variantly import metrics
    from variantly.api.schemas import RenderRequest
    from variantly.serving.answer import answer_page
    from variantly.serving.decide import decide_page
    from variantly.serving.profiles import NUL_FREE
    from variantly.serving.render import cap_windows, target_modules, viewer_for_profile

    clock = time.perf_counter_ns
    names = (
        "validate the body (pydantic)",
        "cohort, arm (viewer_for_profile)",
        "frequency caps (seen)",
        "decide each module (decide_page)",
        "the prepared answer, filled and signed (answer_page)",
        "metrics",
    )
    taken: dict[str, list[int]] = {name: [] for name in names}
    for _ in range(requests):
        marks = [clock()]
        request = RenderRequest.model_validate_json(body, context=NUL_FREE)
        workspace, release = service.workspace, service.release
        marks.append(clock())
        viewer = viewer_for_profile(workspace, request.profile, activity=service.activity)
        marks.append(clock())
        windows = cap_windows(workspace, target_modules(workspace, layout=request.layout), viewer)
        viewer = viewer.with_seen(service.activity.seen(request.profile.id, windows))
        marks.append(clock())
        decided = decide_page(workspace, release, viewer, channel=request.channel, layout=request.layout)
        marks.append(clock())
        sign = partial(service.sign, request.profile.id)
        answer = answer_page(workspace, release, viewer, sign, decided)
        marks.append(clock())
        metrics.rendered("render", 0.0001, answer.decisions)
        marks.append(clock())
        for name, start, end in zip(names, marks, marks[1:], strict=False):  # marks: one more than stages
            taken[name].append(end - start)
    return {name: statistics.median(times) / 1000 for name, times in taken.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10000)
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
        n = args.requests
        requests = scenarios(app, create_bare())
        asyncio.run(median_us(requests, 500))  # warm: imports, caches, lazy paths
        rows = asyncio.run(median_us(requests, n))
        table = Table(title=f"In-process, no server: median of {n:,} requests each, in turns", title_justify="left")
        for column in ("request", "us per request", "share of bare FastAPI (same body)"):
            table.add_column(column, justify="left" if column == "request" else "right")
        for name, us in rows.items():
            table.add_row(name, f"{us:.0f}", f"{rows[baseline(name)] / us:.2f}")
        console.print(table)
        parts = stages(service, LANDING_BODY, n)
        table = Table(
            title="The landing request, stage by stage (median, timed inside each request)", title_justify="left"
        )
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
