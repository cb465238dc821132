"""Benchmark: the serving path, against bare Jinja rendering measured in the same run.

    .venv/bin/python tests/benchmarks/bench_render.py [--seconds 2]

Rows, per render:
- baseline: the hero module's web block rendered straight from its compiled template;
- module: render_module for a profile (cohort resolution from rules and events, holdout
  arm, suppression and consent, the fallback chain over the release, merge fields);
- landing page: the four-module web layout for a profile;
- email: the three-module email layout, HTML with CSS inlined plus the text part;
- batch: POST /v1/render/batch over HTTP (uvicorn, 1,000 profiles a request), per profile.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from conftest import REPO, LiveServer, copy_workspace  # noqa: E402
from variantly.api import create_app  # noqa: E402
from variantly.authoring.constraints import check_constraints  # noqa: E402
from variantly.authoring.importing import import_variants  # noqa: E402
from variantly.serving.profiles import Profile  # noqa: E402
from variantly.serving.release import load_release  # noqa: E402
from variantly.serving.render import render_module, render_target, viewer_for_profile  # noqa: E402
from variantly.settings import ProcessSettings  # noqa: E402
from variantly.store import Store  # noqa: E402
from variantly.workspace import load_workspace  # noqa: E402
from variantly.workspace.blocks import module_context  # noqa: E402
from variantly.workspace.channels import CHANNELS  # noqa: E402


def per_call(fn, seconds: float) -> float:
    fn()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(20):
            fn()
        count += 20
    return elapsed / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_workspace(Path(tmp) / "ws")
        ws = load_workspace(root)
        store = Store(f"sqlite:///{tmp}/bench.db")
        import_variants(
            store, ws, root / "examples" / "variants.jsonl", actor="bench", check=check_constraints, approve=True
        )
        release = load_release(store)
        anna = Profile.model_validate_json((REPO / "examples/profiles/anna_retail_enterprise_sv.json").read_text())
        hero = ws.modules["hero"]
        texts = {n: "Know every customer, in every team" for n in hero.module.slots}
        person = {"first_name": "Anna", "company": "Nordhem"}
        context = module_context(ws, hero.module, CHANNELS["web"], texts, person, "sv", {})

        rows = [
            ("baseline: bare Jinja block", per_call(lambda: hero.template.render_block("web", context), args.seconds))
        ]
        rows.append(
            (
                "module (decision + render)",
                per_call(lambda: render_module(ws, release, "hero", "web", viewer_for_profile(ws, anna)), args.seconds),
            )
        )
        rows.append(
            (
                "landing page, 4 modules",
                per_call(
                    lambda: render_target(ws, release, viewer_for_profile(ws, anna), channel="web", layout="landing"),
                    args.seconds,
                ),
            )
        )
        rows.append(
            (
                "email, 3 modules, CSS inlined",
                per_call(
                    lambda: render_target(ws, release, viewer_for_profile(ws, anna), channel="email", layout="email"),
                    args.seconds,
                ),
            )
        )

        app = create_app(ProcessSettings(workspace=root, database_url=f"sqlite:///{tmp}/bench.db"))
        body = json.loads(anna.model_dump_json())
        profiles = [body | {"id": f"p-{i}"} for i in range(1000)]
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=120) as client:
            client.post("/v1/render/batch", json={"layout": "email", "channel": "email", "profiles": profiles[:10]})
            started = time.perf_counter()
            rounds = 0
            while time.perf_counter() - started < args.seconds or rounds == 0:
                response = client.post(
                    "/v1/render/batch", json={"layout": "email", "channel": "email", "profiles": profiles}
                )
                assert response.text.count("\n") == 1000
                rounds += 1
            rows.append(("email batch over HTTP, per profile", (time.perf_counter() - started) / (rounds * 1000)))
        store.dispose()

    baseline = rows[0][1]
    table = Table(title="Serving path, one process, this machine")
    for column in ("what", "µs per render", "renders / s", "× baseline"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for name, seconds in rows:
        table.add_row(name, f"{seconds * 1e6:,.0f}", f"{1 / seconds:,.0f}", f"{seconds / baseline:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
