"""A landing page on another site, in a real browser, asks Variantly for its blocks and sends its impressions:
the browser lets it for a site the operator named, and refuses it for any other (CORS)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from web_browser import ARGS, CHROMIUM, NEEDS_CHROMIUM

from conftest import LiveServer, approve_examples, load_profile, make_app

pytestmark = NEEDS_CHROMIUM

SCRIPT = """
const variantly = new URLSearchParams(location.search).get("variantly"), profile = %(profile)s;
async function show() {
  const answer = await fetch(variantly + "/v1/render", {method: "POST", headers: {"Content-Type": "application/json"},
                                                         body: JSON.stringify({layout: "landing", profile})});
  const page = await answer.json();
  document.getElementById("blocks").innerHTML = page.html;
  const events = page.decisions.map(d => ({type: "impression", profile_id: profile.id, module: d.module,
    variant_id: d.variant_id, arm: d.arm, cohort: d.cohort, signature: d.signature}));
  if (new URLSearchParams(location.search).get("send") === "beacon") {  // as a page unloading sends them
    const queued = navigator.sendBeacon(variantly + "/v1/events", JSON.stringify({events}));
    document.title = "done: arm " + answer.headers.get("X-Variantly-Arm") + ", beacon queued " + queued;
    return;
  }
  const sent = await fetch(variantly + "/v1/events", {method: "POST", headers: {"Content-Type": "application/json"},
                                                     body: JSON.stringify({events})});
  document.title = "done: arm " + answer.headers.get("X-Variantly-Arm") + ", " + (await sent.json()).accepted;
}
show().catch(error => { document.title = "failed: " + error; });
"""


def landing_site() -> LiveServer:
    """A site of its own (another port is another origin) whose page calls the Variantly its query names."""
    script = SCRIPT % {"profile": load_profile("anna_retail_enterprise_sv").model_dump_json()}
    html = f"<!doctype html><html lang='sv'><title>loading</title><div id='blocks'></div><script>{script}</script>"
    return LiveServer(Starlette(routes=[Route("/", lambda request: HTMLResponse(html))]))


@pytest.mark.parametrize("named", [True, False])
def test_a_landing_page_on_another_site_renders_and_reports_only_when_its_site_is_named(
    workspace_dir: Path, tmp_path: Path, named: bool
) -> None:
    from playwright.sync_api import sync_playwright

    landing = landing_site()
    origins = (landing.url,) if named else ("https://www.lumen.example",)
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'pages.db'}", page_origins=origins)
    approve_examples(app.state.service)
    with landing, LiveServer(app) as variantly, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(f"{landing.url}/?variantly={variantly.url}")
        page.wait_for_function("document.title !== 'loading'", timeout=15_000)
        title, blocks = page.title(), page.inner_text("#blocks")
        browser.close()
    if named:
        assert title == "done: arm treatment, 4"
        assert "En plattform för alla team, prissatt efter er tillväxt" in blocks  # the hero approved for Anna
    else:
        assert title.startswith("failed: TypeError") and blocks == ""


def test_a_landing_page_on_another_site_sends_its_impressions_by_beacon(workspace_dir: Path, tmp_path: Path) -> None:
    """navigator.sendBeacon, as a page sends what it showed when it unloads: plain text, read as the JSON it is."""
    from playwright.sync_api import sync_playwright
    from sqlalchemy import func, select

    from variantly.store.schema import EventRow

    landing = landing_site()
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'beacon.db'}", page_origins=(landing.url,))
    approve_examples(app.state.service)
    store = app.state.service.store

    def impressions() -> int:
        with store.sessions() as session:
            return session.scalar(select(func.count()).select_from(EventRow).where(EventRow.type == "impression"))

    with landing, LiveServer(app) as variantly, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(f"{landing.url}/?variantly={variantly.url}&send=beacon")
        page.wait_for_function("document.title !== 'loading'", timeout=15_000)
        assert page.title() == "done: arm treatment, beacon queued true"
        deadline = time.monotonic() + 15
        while impressions() < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        browser.close()
    assert impressions() == 4
