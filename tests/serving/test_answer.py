"""The render routes' JSON, prepared once per combination of decisions: the same bytes as the page written whole."""

from __future__ import annotations

import orjson
import pytest

from conftest import load_profile
from serving.test_render import HERO_EN_RETAIL, profile, release_with
from variantly.serving.answer import ANSWERS, render_answer
from variantly.serving.profiles import Profile
from variantly.serving.render import render_target, viewer_for_profile
from variantly.workspace import load_workspace

GREETING = (
    "hero",
    {"segment": "startup", "locale": "en"},
    {"headline": "Hi {first_name} at {company}", "subheadline": "For {company}."},
)
TARGETS = (
    ("web", {"layout": "landing"}),
    ("email", {"layout": "email"}),
    ("web", {"modules": ["hero", "cta"]}),
    ("web", {"module": "cta"}),
    ("sms", {"module": "cta"}),
    ("push", {"module": "cta"}),
)


def signed(decisions) -> list[str | None]:
    return [f"{i:x}.{d.module}" for i, d in enumerate(decisions)]


def unsigned(decisions) -> list[str | None]:
    return [None] * len(decisions)


def written_whole(workspace, release, viewer, sign, channel, target) -> bytes:
    page = render_target(workspace, release, viewer, channel=channel, **target)
    page.signatures = sign(page.decisions)
    return orjson.dumps(page.as_dict() | {"release": release.number})


def consenting(pid: str, **traits) -> Profile:
    every = {"personalisation": True, "marketing_email": True, "marketing_sms": True, "marketing_push": True}
    return Profile(id=pid, traits=traits, consent=every)


def people():
    hostile = ["Ann", "<b>O'Brien</b>", 'Zoë "Z"\n\\', "{company}", "\u2028 é\ue000x0\ue001", ""]
    for i, name in enumerate(hostile):
        yield consenting(f"p-{i}", company_size=5, first_name=name, company="A & B", locale="en")
    yield consenting("p-anna", company_size=5000, industry="retail", locale="en")
    for name in ("carla_healthcare_open_ticket_en", "ida_holdout_control_en", "anna_retail_enterprise_sv"):
        yield load_profile(name).model_copy(update={"consent": consenting("x").consent})


@pytest.mark.parametrize("sign", [signed, unsigned])
def test_a_prepared_answer_is_the_page_written_whole(workspace_dir, sign) -> None:
    """Every viewer, channel and target, hostile names included: the first request prepares the answer, the second
    fills it in, and both are the bytes of the page rendered and written by orjson."""
    workspace = load_workspace(workspace_dir)
    release = release_with(workspace, HERO_EN_RETAIL, GREETING)
    ANSWERS.clear()
    for person in people():
        viewer = viewer_for_profile(workspace, person)
        for channel, target in TARGETS:
            expected = written_whole(workspace, release, viewer, sign, channel, target)
            for _ in range(2):
                answer = render_answer(workspace, release, viewer, sign, channel=channel, **target)
                assert answer.body == expected, (person.id, channel, target)
            assert answer.arm == viewer.arm and orjson.loads(answer.body)["arm"] == viewer.arm
    prepared = [answer for answer in ANSWERS.values() if answer is not None]
    assert len(prepared) > 10  # the pages above were answered from prepared pieces, not written whole


def test_a_template_that_transforms_a_merge_field_is_answered_per_request(workspace_dir) -> None:
    hero = workspace_dir / "modules" / "hero.jinja"
    hero.write_text(hero.read_text().replace("<h1>{{ slots.headline }}</h1>", "<h1>{{ person.first_name|upper }}</h1>"))
    workspace = load_workspace(workspace_dir)
    release = release_with(workspace)
    for name in ("Ann", "bo"):
        viewer = viewer_for_profile(workspace, profile(first_name=name))
        answer = render_answer(workspace, release, viewer, signed, channel="web", layout="landing")
        assert f"<h1>{name.upper()}</h1>" in orjson.loads(answer.body)["html"]
        assert answer.body == written_whole(workspace, release, viewer, signed, "web", {"layout": "landing"})


@pytest.mark.parametrize("file", ["modules/hero.jinja", "modules/layouts/landing.jinja"])
def test_a_template_that_fails_for_some_people_serves_them_the_defaults(workspace_dir, caplog, file: str) -> None:
    """Lint renders with the merge fields' defaults ("there": 100 // 2); a Bob's three letters divide by zero. His
    render was a 500, and the whole page with it."""
    path = workspace_dir / file
    broken = "{{ 100 // (person.first_name | length - 3) }}"
    anchor, after = ("<h1>{{ slots.headline }}</h1>", "</h1>") if "hero" in file else ("<main>", "<main>")
    path.write_text(path.read_text().replace(anchor, anchor + broken, 1))
    workspace = load_workspace(workspace_dir)  # lints clean
    release = release_with(workspace)
    for name, shown in (("Annika", 33), ("Bob", 50), ("Bo", -100), ("Bob", 50)):
        viewer = viewer_for_profile(workspace, profile(first_name=name))
        answer = render_answer(workspace, release, viewer, signed, channel="web", layout="landing")
        assert f"{after}{shown}" in orjson.loads(answer.body)["html"], name
    warned = [r for r in caplog.records if "fails for some profiles' merge fields" in r.getMessage()]
    assert len(warned) == 1 and file in warned[0].getMessage()  # once a process, naming the file


def test_a_batch_line_puts_its_own_fields_first(workspace) -> None:
    release = release_with(workspace, HERO_EN_RETAIL)
    viewer = viewer_for_profile(workspace, profile("p-1", company_size=5000, industry="retail", locale="en"))
    answer = render_answer(workspace, release, viewer, signed, channel="web", module="hero")
    line = orjson.loads(answer.after({"profile_id": "p-1", "line": 3, "ok": True}))
    assert list(line)[:4] == ["profile_id", "line", "ok", "html"]
    assert line == {"profile_id": "p-1", "line": 3, "ok": True} | orjson.loads(answer.body)


def test_a_release_number_that_comes_back_serves_its_own_copy(workspace) -> None:
    """A store made again while a process runs starts its releases at 1 again: what was decided and prepared for
    the old release of that number must not be served for the new one (its variant may have the same id)."""
    other = ("hero", HERO_EN_RETAIL[1], {"headline": "A new store, a new headline", "subheadline": "For retail."})
    viewer = viewer_for_profile(workspace, consenting("p-anna", company_size=5000, industry="retail", locale="en"))
    first, again = release_with(workspace, HERO_EN_RETAIL), release_with(workspace, other)
    assert first.number == again.number and first.variants.keys() == again.variants.keys()
    before = orjson.loads(render_answer(workspace, first, viewer, signed, channel="web", module="hero").body)
    after = orjson.loads(render_answer(workspace, again, viewer, signed, channel="web", module="hero").body)
    assert "Every store, one view of the customer" in before["html"]
    assert "A new store, a new headline" in after["html"]
