"""Pictures where a reviewer looks, in a real browser: thumbnails in the queue, the picture on the variant page with
how it was made (prompt, model, moderation, text read), all loaded from this server by content hash."""

from __future__ import annotations

import re

from test_accessibility import violations
from web_browser import NEEDS_CHROMIUM, page, sign_in, site  # noqa: F401 (page, site: fixtures)

from variantly.authoring.report import CheckReport, GenerationRecord, PictureRecord, VariantReport
from variantly.store.schema import VariantRow
from variantly.store.variants import add_variant

pytestmark = NEEDS_CHROMIUM
LOADED = "img => img.complete && img.naturalWidth > 0"


def test_the_queue_shows_thumbnails_and_the_variant_page_shows_how_the_picture_was_made(page, site) -> None:
    svc = site.app.state.service
    with svc.store.sessions() as session:
        imported = session.query(VariantRow).filter(VariantRow.module_id == "hero_image").first()
    made = PictureRecord(prompt="A picture for Lumen's marketing: a shop worker ...", model="gpt-image-1-mini",
                         moderated=True, text_read=True)  # fmt: skip
    report = VariantReport(check=CheckReport.of({}, svc.workspace.policy_hash),
                           generation=GenerationRecord(run_id="r1", picture=made))  # fmt: skip
    row = VariantRow(id="v-made", module_id="hero_image", cohort_key=imported.cohort_key, locale="en",
                     slots=imported.slots, status="pending", module_hash=imported.module_hash, source="generated",
                     report=report.stored())  # fmt: skip
    add_variant(svc.store, row, actor="t")
    sign_in(page, site)
    page.select_option("select[name=module]", "hero_image")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"module=hero_image"))
    thumbs = page.locator("table.variants img.thumb")
    assert thumbs.count() == page.locator("table.variants tbody tr").count() >= 7
    assert all(thumbs.nth(i).evaluate(LOADED) for i in range(thumbs.count()))
    assert thumbs.first.get_attribute("src").startswith("/assets/")

    page.goto(f"{site.url}/ui/variants/v-made")
    picture = page.locator("#picture img")
    assert picture.evaluate(LOADED) and picture.get_attribute("alt") == imported.slots["alt"]
    said = page.locator("#picture-made").inner_text()
    assert "gpt-image-1-mini" in said and "nothing flagged" in said and "A shop worker" not in said.split("Prompt")[0]
    assert "A picture for Lumen's marketing" in said
    assert page.locator("#edit-form textarea[name='slot:picture']").count() == 0  # a picture is not edited
    assert violations(page) == []  # WCAG 2.1 AA, the picture and its record included


def test_a_workspace_picture_opened_on_its_own_runs_no_script_but_still_shows_in_a_page(page, site) -> None:
    """An SVG saved from the web into modules/assets/ can carry a script: opened at /assets/, it ran as a page of
    the review UI's origin. Sandboxed it runs nothing, and an <img> still shows it."""
    svc = site.app.state.service
    hostile = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="teal"/>'
        "<script>document.title = 'script ran'</script></svg>"
    )
    (svc.root / "modules" / "assets" / "saved_from_the_web.svg").write_text(hostile)
    page.goto(f"{site.url}/assets/saved_from_the_web.svg")
    page.wait_for_load_state("load")
    assert page.title() != "script ran"
    page.goto(f"{site.url}/ui/login")
    page.evaluate("() => { const i = new Image(); i.id = 'probe'; i.src = '/assets/saved_from_the_web.svg'; "
                  "document.body.append(i); }")  # fmt: skip
    page.wait_for_function(f"() => ({LOADED})(document.getElementById('probe'))")
