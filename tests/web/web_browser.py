"""What every browser test shares: where chromium is, how it is launched, the site it drives, how a reviewer
signs in. A test module takes the fixtures with ``from web_browser import page, site``."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import LiveServer, make_app
from variantly.auth import create_account
from variantly.authoring.constraints import check_constraints
from variantly.authoring.importing import import_variants

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
NEEDS_CHROMIUM = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: apt-get install chromium"),
]


@pytest.fixture
def site(workspace_dir: Path, tmp_path: Path):
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'ui.db'}", poll_seconds=0.2)
    svc = app.state.service
    import_variants(
        svc.store, svc.workspace, workspace_dir / "examples" / "variants.jsonl", actor="agency", check=check_constraints
    )
    create_account(svc.store, "rita", "reviewer", password="correct horse battery", token=False)
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def page(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def sign_in(page, site) -> None:
    page.goto(f"{site.url}/ui/")
    assert page.url.endswith("/ui/login")
    page.fill("input[name=name]", "rita")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/ui/")
