"""Who sees what, and why: the render engine with an in-memory release."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest

from conftest import load_profile
from variantly.errors import ConsentRequired, NotFound
from variantly.serving.cohorts import resolve
from variantly.serving.profiles import Profile
from variantly.serving.release import EMPTY_RELEASE, Release, ServedVariant
from variantly.serving.render import render_module, render_target, viewer_for_cohort, viewer_for_profile
from variantly.workspace.cohorts import Cohort


def release_with(workspace, *variants: tuple[str, dict, dict]) -> Release:
    served = []
    for i, (module_id, cohort, slots) in enumerate(variants):
        module_file = workspace.modules[module_id]
        key = Cohort.of(module_file.module.dimensions, cohort).key
        served.append(ServedVariant(f"v{i}", module_id, key, slots, module_file.content_hash))
    return Release.build(7, served)


HERO_EN_RETAIL = (
    "hero",
    {"segment": "enterprise", "industry": "retail", "locale": "en"},
    {"headline": "Every store, one view of the customer", "subheadline": "For retail teams."},
)
HERO_SV_RETAIL = (
    "hero",
    {"segment": "enterprise", "industry": "retail", "locale": "sv"},
    {"headline": "Varje butik, en bild av kunden", "subheadline": "För butiksteam."},
)
HERO_STARTUP = (
    "hero",
    {"segment": "startup", "locale": "en"},
    {"headline": "One workspace instead of five tools", "subheadline": "For small teams."},
)


def profile(pid: str = "p-1", **traits) -> Profile:
    return Profile(id=pid, traits=traits, consent={"personalisation": True, "marketing_email": True})


def test_profiles_in_different_cohorts_get_different_content_and_say_why(workspace) -> None:
    release = release_with(workspace, HERO_EN_RETAIL, HERO_STARTUP)
    retail = render_module(
        workspace,
        release,
        "hero",
        "web",
        viewer_for_profile(workspace, profile("anna", company_size=2400, industry="retail", locale="en")),
    )
    startup = render_module(
        workspace,
        release,
        "hero",
        "web",
        viewer_for_profile(workspace, profile("ben", company_size=12, industry="retail", locale="en")),
    )
    assert "Every store, one view of the customer" in retail.html
    assert "One workspace instead of five tools" in startup.html
    assert retail.decision.variant_id == "v0" and startup.decision.variant_id == "v1"
    assert "segment = enterprise: trait company_size >= 1000" in retail.decision.reasons
    assert "segment = startup: trait company_size < 100" in startup.decision.reasons


def test_locale_picks_the_variant_in_the_readers_language(workspace) -> None:
    release = release_with(workspace, HERO_EN_RETAIL, HERO_SV_RETAIL)
    sv = render_module(
        workspace,
        release,
        "hero",
        "web",
        viewer_for_profile(workspace, profile(company_size=2400, industry="retail", locale="sv-SE")),
    )
    assert "Varje butik, en bild av kunden" in sv.html
    assert sv.decision.cohort.endswith("locale=sv")


def test_cohort_without_variant_gets_the_default_not_an_error(workspace) -> None:
    page = render_target(
        workspace,
        release_with(workspace, HERO_EN_RETAIL),
        viewer_for_profile(workspace, profile(company_size=300, industry="healthcare")),
        channel="web",
        layout="landing",
    )
    hero = page.decisions[0]
    assert hero.outcome == "default"
    assert hero.reasons[-1] == "default: no approved variant for this cohort or any broader one"
    assert "Know every customer, in every team" in page.html


def test_fallback_serves_a_broader_cohort_and_names_it(workspace) -> None:
    release = release_with(workspace, HERO_STARTUP)
    rendered = render_module(
        workspace,
        release,
        "hero",
        "web",
        viewer_for_profile(workspace, profile(company_size=12, industry="healthcare")),
    )
    assert rendered.decision.outcome == "variant"
    assert rendered.decision.served_cohort == "behaviour=*;segment=startup;industry=*;locale=en"
    assert "fallback cohort" in rendered.decision.reasons[-1]


def test_fallback_order_keeps_dimensions_listed_first_in_vary_by() -> None:
    cohort = Cohort.of(
        ("behaviour", "segment", "industry", "locale"),
        {"behaviour": "b", "segment": "s", "industry": "i", "locale": "en"},
    )
    keys = [c.key for c in cohort.fallbacks()]
    assert keys[0] == cohort.key
    assert keys[1] == "behaviour=b;segment=s;industry=*;locale=en"
    assert keys[-1] == "behaviour=*;segment=*;industry=*;locale=en"
    assert len(keys) == len(set(keys)) == 8
    assert all(k.endswith("locale=en") for k in keys)


@pytest.mark.parametrize("payload", ["{{ 7*7 }}", "<script>alert(1)</script>", "{% if true %}x{% endif %}"])
def test_generated_text_is_data_never_template(workspace, payload: str) -> None:
    release = release_with(
        workspace,
        ("hero", {"segment": "startup", "locale": "en"}, {"headline": f"Hello {payload}", "subheadline": "ok"}),
    )
    rendered = render_module(workspace, release, "hero", "web", viewer_for_profile(workspace, profile(company_size=5)))
    assert "49" not in rendered.html
    assert "<script>" not in rendered.html
    from markupsafe import escape

    assert str(escape(f"Hello {payload}")) in rendered.html


def test_merge_fields_fill_from_profile_with_defaults_and_nothing_else(workspace) -> None:
    release = release_with(
        workspace,
        (
            "hero",
            {"segment": "startup", "locale": "en"},
            {"headline": "Hi {first_name} at {company}, {unknown} {{first_name}}", "subheadline": "ok"},
        ),
    )
    named = render_module(
        workspace,
        release,
        "hero",
        "web",
        viewer_for_profile(workspace, profile(company_size=5, first_name="<b>Ann</b>", company="Fika")),
    )
    unnamed = render_module(workspace, release, "hero", "web", viewer_for_profile(workspace, profile(company_size=5)))
    assert "Hi &lt;b&gt;Ann&lt;/b&gt; at Fika, {unknown} {&lt;b&gt;Ann&lt;/b&gt;}" in named.html
    assert "Hi there at your team, {unknown}" in unnamed.html


@pytest.mark.parametrize(
    ("company", "written"),
    [({"name": "Nordhem"}, "your team"), (["Nordhem", "AB"], "your team"), (True, "your team"), (3, "3"), ("3M", "3M")],
)
def test_a_trait_that_is_not_text_or_a_number_gives_way_to_the_default(workspace, company, written: str) -> None:
    """A CDP's object went out as Python's writing of it: "so {'name': 'Nordhem'} can treat every shopper"."""
    release = release_with(workspace, ("hero", {"segment": "startup", "locale": "en"}, {"headline": "For {company}"}))
    viewer = viewer_for_profile(workspace, profile(company_size=5, company=company))
    assert f"For {written}<" in render_module(workspace, release, "hero", "web", viewer).html


def test_stale_variant_is_skipped_with_a_reason(workspace) -> None:
    stale = ServedVariant(
        "old",
        "hero",
        Cohort.of(workspace.modules["hero"].module.dimensions, {"segment": "startup", "locale": "en"}).key,
        {"headline": "Old copy for an old brief", "subheadline": "x"},
        "0000",
    )
    rendered = render_module(
        workspace, Release.build(3, [stale]), "hero", "web", viewer_for_profile(workspace, profile(company_size=5))
    )
    assert rendered.decision.outcome == "default"
    assert any("stale" in r for r in rendered.decision.reasons)


def test_open_ticket_suppresses_sales_cta(workspace) -> None:
    release = release_with(
        workspace,
        ("cta", {"segment": "enterprise", "locale": "en"}, {"label": "Plan a rollout", "note": "Talk to sales."}),
    )
    carla = load_profile("carla_healthcare_open_ticket_en")
    rendered = render_module(workspace, release, "cta", "web", viewer_for_profile(workspace, carla))
    assert rendered.decision.outcome == "alternative"
    assert rendered.decision.rule == "open_ticket_no_sales"
    assert "See your support ticket" in rendered.html
    assert 'href="/support"' in rendered.html
    assert "Book" not in rendered.html and "Plan a rollout" not in rendered.html


@pytest.mark.parametrize("tickets", ["1", " 2 ", "1.0", "3e0"])
def test_an_open_ticket_count_sent_as_text_still_suppresses_the_sales_cta(workspace, tickets: str) -> None:
    """CDPs and CSV exports send numbers as strings: "1" open critical ticket is still an open ticket."""
    carla = load_profile("carla_healthcare_open_ticket_en")
    carla.traits["support"] = {"open_critical_tickets": tickets}
    rendered = render_module(workspace, EMPTY_RELEASE, "cta", "web", viewer_for_profile(workspace, carla))
    assert rendered.decision.rule == "open_ticket_no_sales"
    assert "See your support ticket" in rendered.html and "Book" not in rendered.html


@pytest.mark.parametrize(
    ("traits", "segment", "behaviour"),
    [
        ({"company_size": "2400"}, "enterprise", "*"),
        ({"company_size": " 150 "}, "mid_market", "*"),
        ({"company_size": "1e3"}, "enterprise", "*"),
        ({"company_size": "1" * 5000}, "enterprise", "*"),  # more digits than int() reads: a float, infinity
        ({"company_size": "-5"}, "startup", "*"),
        ({"company_size": "lots"}, "*", "*"),
        ({"company_size": "nan"}, "*", "*"),  # not decimal notation: text, which no number rule matches
        ({"company_size": "1_000"}, "*", "*"),
        ({"company_size": True}, "*", "*"),  # a flag is not a number, sent as JSON or as text
        ({"company_size": "true"}, "*", "*"),
        ({"is_customer": "true"}, "*", "dormant_customer"),
        ({"is_customer": "TRUE"}, "*", "dormant_customer"),
        ({"is_customer": "false"}, "*", "*"),
        ({"is_customer": "yes"}, "*", "*"),
    ],
)
def test_traits_sent_as_text_are_compared_as_the_number_or_flag_they_spell(workspace, traits, segment, behaviour):
    resolution = resolve(Profile(id="t", traits=traits), workspace.audiences, "en")
    assert (resolution.values["segment"], resolution.values["behaviour"]) == (segment, behaviour)


@pytest.mark.parametrize(
    ("values", "rule"),
    [
        ({"behaviour": "open_support_ticket", "segment": "enterprise", "locale": "en"}, "open_ticket_no_sales"),
        ({"behaviour": "open_support_ticket", "locale": "sv"}, "open_ticket_no_sales"),
        ({"behaviour": "recent_purchase"}, "recent_buyer_onboarding"),
        ({"behaviour": "pricing_researcher"}, None),  # may have an open ticket too: the cohort cannot say
        ({"segment": "enterprise"}, None),  # no behaviour given: the person's own
    ],
)
def test_a_cohort_fragment_for_an_open_ticket_gets_the_support_message_not_the_sales_cta(
    workspace, values, rule
) -> None:
    """An anonymous fragment names the cohort its reader is in: everyone in ``behaviour=open_support_ticket`` has
    an open critical ticket, so the suppression rule holds for the whole cohort, with or without a profile."""
    release = release_with(workspace, ("cta", {"locale": "en"}, {"label": "Buy now", "note": "Today only."}))
    rendered = render_module(workspace, release, "cta", "web", viewer_for_cohort(workspace, values))
    assert rendered.decision.rule == rule
    if rule == "open_ticket_no_sales":
        assert rendered.decision.outcome == "alternative" and 'href="/support"' in rendered.html
        assert "Book" not in rendered.html and "Buy now" not in rendered.html
    elif rule is None:
        assert rendered.decision.outcome != "alternative"


def test_no_personalisation_consent_gets_defaults(workspace) -> None:
    release = release_with(workspace, HERO_EN_RETAIL)
    frank = load_profile("frank_no_personalisation_consent_en")
    rendered = render_module(workspace, release, "hero", "web", viewer_for_profile(workspace, frank))
    assert rendered.decision.outcome == "default"
    assert rendered.decision.reasons[-1] == "default: no personalisation consent"


def test_no_email_consent_refuses_the_email(workspace) -> None:
    greta = load_profile("greta_no_email_consent_sv")
    with pytest.raises(ConsentRequired, match="marketing email"):
        render_target(workspace, EMPTY_RELEASE, viewer_for_profile(workspace, greta), channel="email", layout="email")


def test_holdout_control_gets_defaults_and_the_arm_is_reported(workspace) -> None:
    release = release_with(workspace, HERO_EN_RETAIL)
    ida = load_profile("ida_holdout_control_en")
    page = render_target(workspace, release, viewer_for_profile(workspace, ida), channel="web", module="hero")
    assert page.arm == "control"
    assert page.decisions[0].outcome == "default"
    assert page.decisions[0].reasons[-1] == "default: profile is in the holdout control group"


def test_email_has_inlined_css_a_text_part_and_a_subject(workspace) -> None:
    anna = load_profile("anna_retail_enterprise_sv")
    page = render_target(workspace, EMPTY_RELEASE, viewer_for_profile(workspace, anna), channel="email", layout="email")
    assert page.subject == "Hej Anna, en bild av varje kund"
    assert 'style="' in page.html and '<h1 class="hero" style=' in page.html
    assert page.text.startswith("Hej Anna,")
    assert "<" not in page.text and "&amp;" not in page.text


def test_behaviour_rules_respect_their_time_window(workspace) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)

    def visits(days_ago: list[int]) -> Profile:
        return Profile(
            id="x",
            events=[
                {"type": "page_view", "at": now - timedelta(days=d), "properties": {"path": "/pricing"}}
                for d in days_ago
            ],
        )

    def behaviour(p: Profile) -> str:
        return resolve(p, workspace.audiences, "en", now).values["behaviour"]

    assert behaviour(visits([1, 5, 13])) == "pricing_researcher"
    assert behaviour(visits([1, 5, 15])) == "*"  # one visit is outside 14 days
    assert behaviour(visits([1, 5])) == "*"


def test_open_ticket_outranks_other_behaviours(workspace) -> None:
    carla = load_profile("carla_healthcare_open_ticket_en")
    resolution = resolve(carla, workspace.audiences, "en")
    assert resolution.values["behaviour"] == "open_support_ticket"
    assert "pricing_researcher" in resolution.matched["behaviour"]


def test_anonymous_fragment_rejects_unknown_audience(workspace) -> None:
    with pytest.raises(NotFound, match="unknown segment 'whales'"):
        viewer_for_cohort(workspace, {"segment": "whales"})


def test_a_page_rendered_once_is_filled_per_person_exactly_as_jinja_would(workspace_dir) -> None:
    """Each combination runs Jinja once with markers for the merge fields; every person after that gets the
    same bytes a Jinja render of their own would give, hostile names included, for web and email."""
    from variantly.serving.compiled import RENDERED
    from variantly.workspace import load_workspace

    workspace = load_workspace(workspace_dir)
    greeting = {"headline": "Hi {first_name} at {company}", "subheadline": "For {company}."}
    release = release_with(workspace, HERO_EN_RETAIL, ("hero", {"segment": "startup", "locale": "en"}, greeting))
    people = [
        profile(f"p-{i}", company_size=5, first_name=name, company="A & B")
        for i, name in enumerate(["Ann", "<b>O'Brien</b>", 'Zoë "Z"', "{company}"])
    ]
    for channel, layout in (("web", "landing"), ("email", "email")):
        for person in people:
            viewer = viewer_for_profile(workspace, person)
            fast = render_target(workspace, release, viewer, channel=channel, layout=layout)
            RENDERED.max_entries = 0  # the same request with nothing kept: Jinja end to end, no markers
            try:
                slow = render_target(workspace, release, viewer, channel=channel, layout=layout)
            finally:
                RENDERED.max_entries = 2000
            assert fast.text == slow.text and fast.subject == slow.subject
            if channel == "web":
                assert fast.html == slow.html
            else:  # the CSS inliner writes ' for &#39;: the same page, other bytes
                assert html.unescape(fast.html) == html.unescape(slow.html)
                assert "&lt;b&gt;" in fast.html or "<b>" not in person.traits["first_name"]
    assert (
        "&lt;b&gt;O&#39;Brien&lt;/b&gt;"
        in render_target(
            workspace, release, viewer_for_profile(workspace, people[1]), channel="web", layout="landing"
        ).html
    )


def test_a_template_that_transforms_a_merge_field_is_rendered_per_request(workspace_dir) -> None:
    from variantly.workspace import load_workspace

    hero = workspace_dir / "modules" / "hero.jinja"
    hero.write_text(hero.read_text().replace("<h1>{{ slots.headline }}</h1>", "<h1>{{ person.first_name|upper }}</h1>"))
    workspace = load_workspace(workspace_dir)
    for name, shown in (("Ann", "ANN"), ("bo", "BO")):
        html = render_module(
            workspace, EMPTY_RELEASE, "hero", "web", viewer_for_profile(workspace, profile(first_name=name))
        ).html
        assert f"<h1>{shown}</h1>" in html
