"""The brand score where a reviewer looks, in a real browser: the badge in the queue, riskiest first, the words a
guideline is about marked on the variant's page, and a high-risk variant approved only by a second reviewer."""

from __future__ import annotations

import re

from web_browser import NEEDS_CHROMIUM, page, sign_in, site  # noqa: F401 (page, site: fixtures)

from conftest import add_cta
from variantly.auth import create_account
from variantly.authoring.brand_score import rescore

pytestmark = NEEDS_CHROMIUM
# Pressing, by the brand guidelines, and within the policy (whose "hurry" an approval would refuse now: it is checked
# again, as this copy was imported unchecked).
URGENT = {"label": "Book a demo", "note": "Don't wait: your team will see every customer in one place."}


def test_a_high_risk_variant_lists_first_shows_its_marked_words_and_needs_a_second_reviewer(page, site) -> None:
    svc = site.app.state.service
    add_cta(svc.store, "v-urgent", URGENT)
    rescore(svc.store, svc.workspace)
    create_account(svc.store, "mia", "reviewer", password="another horse battery", token=False)
    sign_in(page, site)

    # riskiest first: the urgent copy's badge says high risk, and the filter keeps only the high-risk ones
    page.select_option("select[name=order]", "risk")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"order=risk"))
    badges = page.locator("table.variants tbody tr td:last-child .badge").all_inner_texts()
    assert badges[0].endswith("high risk") and any(b.endswith("low risk") for b in badges)
    page.select_option("select[name=risk]", "high")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"risk=high"))
    rows = page.locator("table.variants tbody tr")
    assert rows.count() >= 1
    assert all(b.endswith("high risk") for b in rows.locator("td:last-child .badge").all_inner_texts())

    # the variant's page: every guideline, the failed one's words marked in the copy, its suggested fix
    page.goto(f"{site.url}/ui/variants/v-urgent")
    assert "high risk" in page.locator("#brand-score").inner_text()
    failed = page.locator("#guidelines li.g-failed")
    assert failed.count() >= 1 and failed.locator("mark").first.inner_text() == "Don't wait"
    assert page.locator("#regenerate-with-fixes button").is_visible()

    # the first approval is recorded and waits; the same reviewer cannot give the second
    page.click("#approve-form button[type=submit]")
    page.wait_for_url(re.compile(r"message="))
    assert "needs a second reviewer" in page.locator(".flash").inner_text()
    page.goto(f"{site.url}/ui/variants/v-urgent")
    assert page.locator("#status").inner_text() == "pending"
    page.click("#approve-form button[type=submit]")
    page.wait_for_load_state()
    assert "second reviewer" in page.content() and page.locator("#status").inner_text() == "pending"

    # a second reviewer approves it
    page.click("form.signout button")
    page.wait_for_url(re.compile(r"/ui/login"))
    page.fill("input[name=name]", "mia")
    page.fill("input[name=password]", "another horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/ui/")
    page.goto(f"{site.url}/ui/variants/v-urgent")
    page.click("#approve-form button[type=submit]")
    page.wait_for_url(re.compile(r"message="))
    page.goto(f"{site.url}/ui/variants/v-urgent")
    assert page.locator("#status").inner_text() == "approved"
