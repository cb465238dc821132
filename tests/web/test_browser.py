"""A reviewer's day in a real browser: Playwright driving Debian's chromium.

Skipped when /usr/bin/chromium is missing; .ci/run installs it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from web_browser import NEEDS_CHROMIUM, SCREENSHOTS, page, sign_in, site  # noqa: F401 (page, site: fixtures)

DORMANT_EN = {
    "id": "p-dormant",
    "traits": {"is_customer": True, "locale": "en", "first_name": "Alex"},
    "consent": {"personalisation": True, "marketing_email": True},
}

pytestmark = NEEDS_CHROMIUM


def test_reviewer_signs_in_filters_approves_rejects_edits_and_sees_it_served(page, site) -> None:
    sign_in(page, site)
    assert page.locator(".tabs a.current").inner_text().startswith("all")

    # filter the queue
    page.select_option("select[name=module]", "cta")
    page.select_option("select[name=locale]", "en")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"module=cta"))
    modules = page.locator("table.variants tbody tr td:nth-child(2)").all_inner_texts()
    assert modules and set(modules) == {"cta"}
    assert page.locator("table.variants tbody tr").count() == 4

    # open the first variant with the keyboard, approve it with the keyboard
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/variants/"))
    approved_url = page.url
    assert "behaviour=dormant_customer" in page.locator(".meta .cohort").inner_text().replace(" · ", ";")
    approved_label = page.locator("table.slots td.copy").first.inner_text().split("\n")[0]
    page.keyboard.press("a")
    page.wait_for_url(lambda url: url != approved_url and "message=approved" in url)
    assert "approved" in page.locator(".flash").inner_text()

    # reject the next one with a reason
    page.keyboard.press("r")
    page.keyboard.type("Too salesy for people comparing plans")
    page.click("#reject-form button[type=submit]")
    page.wait_for_url(re.compile(r"message=rejected"))
    assert page.locator("#status").inner_text() == "rejected"
    assert "Too salesy for people comparing plans" in page.locator("#history").inner_text()
    assert page.locator("#history th").first.inner_text() == "WHEN (UTC)"  # stored in UTC, and said so

    # edit the next one so it fails a guardrail, and see the report with the span marked
    page.keyboard.press("j")
    page.wait_for_selector("#edit-form")
    page.keyboard.press("e")
    page.keyboard.press("Control+a")
    page.keyboard.type("Buy now, beat HubSpot")
    page.click("#edit-form button[type=submit]")
    page.wait_for_url(re.compile(r"message=edit"))
    assert page.locator("#status").inner_text() == "guardrail failed"
    report = page.locator("#report").inner_text()
    assert "banned phrase 'buy now'" in report and "names competitor 'HubSpot'" in report
    assert page.locator("td.copy mark").first.inner_text() == "Buy now"

    # the approved copy is what /v1/render serves now
    body = httpx.post(f"{site.url}/v1/render", json={"layout": "landing", "profile": DORMANT_EN}).json()
    cta = next(d for d in body["decisions"] if d["module"] == "cta")
    assert cta["outcome"] == "variant"
    page.set_content(body["html"])
    assert page.locator(".cta .button").inner_text() == approved_label


DORMANT_EN = {
    "id": "p-dormant",
    "traits": {"is_customer": True, "locale": "en", "first_name": "Alex"},
    "consent": {"personalisation": True, "marketing_email": True},
}

pytestmark = NEEDS_CHROMIUM


def test_forms_without_csrf_token_are_refused(page, site) -> None:
    sign_in(page, site)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    response = httpx.post(f"{site.url}/ui/approve-selected", data={"which": "all-pending"}, cookies=cookies)
    assert response.status_code == 403 and "CSRF" in response.text


def _compare(page, name: str, mask: list) -> None:
    from PIL import Image, ImageChops

    SCREENSHOTS.mkdir(exist_ok=True)
    actual = SCREENSHOTS / f"{name}.actual.png"
    baseline = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(actual), mask=mask, animations="disabled")
    if os.environ.get("UPDATE_SCREENSHOTS"):
        actual.replace(baseline)
        return
    if not baseline.exists():
        actual.replace(baseline)
        pytest.fail(f"no baseline: wrote {baseline}; look at it, commit it, run again")
    got, want = Image.open(actual).convert("RGB"), Image.open(baseline).convert("RGB")
    assert got.size == want.size, f"{name}: size {got.size} != baseline {want.size}"
    diff = ImageChops.difference(got, want).convert("L")
    changed = sum(diff.histogram()[41:]) / (got.size[0] * got.size[1])  # pixels off by more than 40 of 255
    assert changed < 0.01, f"{name}: {changed:.1%} of pixels differ from {baseline} (see {actual})"
    actual.unlink()


def test_queue_and_variant_pages_look_as_before(page, site) -> None:
    sign_in(page, site)
    page.goto(f"{site.url}/ui/?module=customer_example")
    _compare(page, "queue", mask=[])
    page.click("table.variants tbody tr:first-child td:nth-child(4) a")
    page.wait_for_load_state("networkidle")
    _compare(page, "variant", mask=[page.locator("#history"), page.locator(".meta code")])


def test_marketer_previews_a_page_as_a_profile_and_sees_a_saved_edit(page, site, workspace_dir: Path) -> None:
    sign_in(page, site)
    page.goto(f"{site.url}/ui/preview?target=landing&channel=web&example=carla_healthcare_open_ticket_en")
    decisions = page.locator("table.decisions").inner_text()
    assert "alternative" in decisions and "open_ticket_no_sales" in decisions  # the reason beside the page
    frame = page.frame_locator("iframe")
    frame.locator("text=See your support ticket").wait_for()  # the support message, not a sales button
    page.wait_for_load_state("networkidle")
    _compare(page, "preview", mask=[])
    # a marketer saves the hero module: the open preview shows it without a click
    hero = workspace_dir / "modules" / "hero.jinja"
    web_heading = "  <h1>{{ slots.headline }}</h1>"
    hero.write_text(hero.read_text().replace(web_heading, '  <h1 class="edited">{{ slots.headline }}</h1>'))
    page.frame_locator("iframe").locator("h1.edited").wait_for(timeout=15_000)


def test_a_pasted_profile_with_a_mistake_is_named_not_rendered(page, site) -> None:
    sign_in(page, site)
    page.goto(f"{site.url}/ui/preview?target=landing&example=")
    page.fill("textarea[name=profile]", '{"id": "x", "consent": {"personalisation": "yes"}}')
    page.click("#preview-form button[type=submit]")
    assert "consent.personalisation" in page.locator(".flash.error").inner_text()
    assert page.locator("iframe").count() == 0


def test_a_reviewer_is_told_copy_was_checked_under_an_earlier_policy_and_cannot_approve_what_fails_it(
    page, site
) -> None:
    svc = site.app.state.service
    policy = svc.root / "guardrails" / "policy.yml"
    policy.write_text(policy.read_text().replace("  - hurry\n", "  - hurry\n  - free trial\n"))
    svc.refresh_workspace()
    from variantly.authoring.review import Filters, list_variants

    [trial] = [v for v in list_variants(svc.store, Filters(module="cta")).items if "free trial" in v.slots["label"]]
    sign_in(page, site)
    page.goto(f"{site.url}/ui/variants/{trial.id}")
    assert "approving checks it again first" in page.locator("#checked-before").inner_text()
    page.click("#approve-form button[type=submit]")
    page.wait_for_url(re.compile(r"message="))
    assert (
        "fails the policy as it is checked now: label: banned phrase 'free trial'"
        in page.locator(".flash").inner_text()
    )
    assert page.locator("#status").inner_text() == "guardrail failed"
    assert page.locator("#checked-before").count() == 0
