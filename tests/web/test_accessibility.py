"""Every page a reviewer, brand manager or analyst opens has no WCAG 2.1 AA violation, as axe-core finds them in the
browser (axe-playwright-python; axe-core ships in its wheel, so nothing loads from outside)."""

from __future__ import annotations

import pytest
from web_browser import NEEDS_CHROMIUM, page, sign_in, site  # noqa: F401 (page, site: fixtures)

from conftest import consenting_profile, shown
from variantly.auth import create_account

pytestmark = NEEDS_CHROMIUM

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=WCAG_21_AA)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in results.response["violations"]
    ]


def lift_data(site) -> None:
    """Exposures and conversions through the API, so the lift page draws its charts and table."""
    import httpx

    svc = site.app.state.service
    svc.refresh_release()
    orders = {"Authorization": f"Bearer {create_account(svc.store, 'orders', 'renderer')}"}
    events = []
    with httpx.Client(base_url=site.url) as http:  # one client: each module-level httpx.post builds one (~45 ms)
        for i in range(300):
            me = consenting_profile(f"a11y-{i}")
            decision = http.post("/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
            seen = shown([decision], me["id"])[0]
            events.append(seen)
            if i % 4 == 0:
                events.append(seen | {"type": "conversion", "value": "120.00", "currency": "SEK"})
        assert http.post("/v1/events", json={"events": events}, headers=orders).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/ui/",
        "/ui/?module=cta&status=pending",
        "first-variant",
        "/ui/preview?target=landing&channel=web&example=carla_healthcare_open_ticket_en",
        "/ui/preview?target=cta&channel=sms&example=",
        "/ui/lift",
        "/ui/lift?metric=revenue&module=cta",
        "/ui/variants/no-such-variant",
    ],
)
def test_every_page_has_no_wcag_21_aa_violation(page, site, path: str) -> None:
    if "lift" in path:
        lift_data(site)
    sign_in(page, site)
    if path == "first-variant":
        page.goto(f"{site.url}/ui/?module=cta")
        page.click("table.variants tbody tr:first-child td:nth-child(4) a")
    else:
        page.goto(f"{site.url}{path}")
    page.wait_for_load_state("networkidle")
    assert violations(page) == []


def test_the_sign_in_page_has_no_wcag_21_aa_violation(page, site) -> None:
    page.goto(f"{site.url}/ui/login")
    assert violations(page) == []
    page.fill("input[name=name]", "rita")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert violations(page) == []  # with the error shown
