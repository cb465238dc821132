"""The copy written into the files is held to the guardrail policy, at lint and on every node that loads it: it is
what the holdout group, every cohort without an approved variant and every suppressed reader see."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from conftest import edit, line_of, lint, make_app


def test_a_pushy_default_fails_lint_at_its_line(workspace_dir: Path) -> None:
    cta = workspace_dir / "modules" / "cta.jinja"
    edit(cta, 'en: "Book a 30-minute demo"', 'en: "Buy now, last chance"')
    line = line_of(cta, "Buy now, last chance")
    assert lint(workspace_dir) == [
        f"{cta}:{line}:7: slot 'label' default (en) breaks the policy: banned phrase 'buy now'",
        f"{cta}:{line}:7: slot 'label' default (en) breaks the policy: banned phrase 'last chance'",
    ]


def test_a_default_is_read_as_copy_is_through_look_alike_letters(workspace_dir: Path) -> None:
    cta = workspace_dir / "modules" / "cta.jinja"
    edit(cta, 'en: "Book a 30-minute demo"', 'en: "\u0412uy now"')  # a Cyrillic В
    said = "\n".join(lint(workspace_dir))
    assert "banned phrase 'buy now'" in said and "mixes letters of different scripts" in said


def test_a_competitor_in_an_email_subject_fails_lint(workspace_dir: Path) -> None:
    layout = workspace_dir / "modules" / "layouts" / "email.jinja"
    edit(layout, '  sv: "Hej {first_name}, en bild av varje kund"', '  sv: "Hej {first_name}, bättre än HubSpot"')
    line = line_of(layout, "bättre än HubSpot")
    assert lint(workspace_dir) == [f"{layout}:{line}:3: subject (sv) breaks the policy: names competitor 'HubSpot'"]


def test_a_suppression_alternative_is_held_to_the_policy(workspace_dir: Path) -> None:
    """What an open ticket shows instead of the sales pitch must not be one."""
    cta = workspace_dir / "modules" / "cta.jinja"
    edit(cta, 'label: {en: "See your support ticket"', 'label: {en: "Hurry: upgrade to get help"')
    assert lint(workspace_dir) == [
        f"{cta}:{line_of(cta, 'Hurry: upgrade')}:15: suppression 'open_ticket_no_sales' label (en) breaks the policy: "
        "banned phrase 'hurry'"
    ]


def test_a_number_a_default_states_must_be_in_the_module_facts(workspace_dir: Path) -> None:
    example = workspace_dir / "modules" / "customer_example.jinja"
    edit(example, 'en: "35% faster campaign production"', 'en: "87% faster campaign production"')
    assert lint(workspace_dir) == [
        f"{example}:{line_of(example, '87% faster')}:7: slot 'metric' default (en) breaks the policy: "
        "the number '87' is not in the module's facts"
    ]


def test_the_default_story_carries_the_disclaimer_an_industry_needs(workspace_dir: Path) -> None:
    """The financial services cohort is served the default story whenever no variant of its own is approved, and its
    holdout members always: the policy's disclaimer is required of it as of any copy for that industry."""
    example = workspace_dir / "modules" / "customer_example.jinja"
    edit(example, " Individual results vary.", "")
    assert lint(workspace_dir) == [
        f"{example}:{line_of(example, 'in a few days.')}:7: slot 'story' default (en) breaks the policy: must "
        'include the disclaimer "Individual results vary.": the financial_services industry is served it too'
    ]


def test_an_industry_the_audiences_do_not_have_asks_nothing_of_defaults(workspace_dir: Path) -> None:
    policy = workspace_dir / "guardrails" / "policy.yml"
    edit(policy, "  - industry: financial_services", "  - industry: insurance")
    example = workspace_dir / "modules" / "customer_example.jinja"
    edit(example, " Individual results vary.", "")
    assert lint(workspace_dir) == []


def test_a_layout_footer_is_read_for_personal_data_and_links_at_their_lines(workspace_dir: Path) -> None:
    layout = workspace_dir / "modules" / "layouts" / "email.jinja"
    footer = '<p class="footer">{{ channel.opt_out }}</p>'
    edit(
        layout,
        footer,
        "<p>Questions?\nCall Anna on +46 70 123 45 67,\n"
        'or read <a href="https://help.evil.example/faq">our FAQ</a>.</p>\n' + footer,
    )
    assert lint(workspace_dir) == [
        f"{layout}:{line_of(layout, 'Call Anna')}:1: the template's own words break the policy: "
        "contains a phone number",
        f"{layout}:{line_of(layout, 'our FAQ')}:1: the template's own words break the policy: links to "
        "help.evil.example, which is not an allowed domain",
    ]


def test_a_template_string_and_the_text_part_are_read_too(workspace_dir: Path) -> None:
    layout = workspace_dir / "modules" / "layouts" / "email.jinja"
    edit(
        layout,
        '{{ "Hej" if locale == "sv" else "Hi" }} {{ person.first_name }},\n\n',
        "Act now, {{ person.first_name }}!\n\n",
    )
    edit(layout, '<p>{{ "Hej" if locale == "sv" else "Hi" }}', '<p>{{ "Skynda" if locale == "sv" else "Hi" }}')
    said = lint(workspace_dir)
    assert (
        f"{layout}:{line_of(layout, 'Act now')}:1: the template's own words break the policy: banned phrase 'act now'"
        in said
    )
    assert (
        f"{layout}:{line_of(layout, 'Skynda')}:1: the template's own words break the policy: banned phrase 'skynda'"
        in said
    )
    assert len(said) == 2


def test_a_character_reference_does_not_hide_a_phrase(workspace_dir: Path) -> None:
    """A mail client shows "&#66;uy&nbsp;now" as "Buy now"."""
    layout = workspace_dir / "modules" / "layouts" / "email.jinja"
    edit(layout, '<p class="footer">', '<p>Go on,\n&#66;uy&nbsp;now from Sales&shy;force!</p>\n<p class="footer">')
    line = line_of(layout, "&#66;uy")
    assert lint(workspace_dir) == [
        f"{layout}:{line}:1: the template's own words break the policy: banned phrase 'buy now'",
        f"{layout}:{line}:1: the template's own words break the policy: names competitor 'Salesforce'",
    ]


def test_markup_styles_and_allowed_links_in_a_template_pass(workspace_dir: Path) -> None:
    """A template writes markup: a style sheet, a doctype's URL, an image from a CDN and a link to an allowed domain
    are not copy."""
    layout = workspace_dir / "modules" / "layouts" / "email.jinja"
    edit(
        layout,
        '<p class="footer">',
        '<!-- made with care: http://tooling.example -->\n<img src="https://cdn.images.example/logo.png" alt="">\n'
        '<a href="https://www.lumen.example/privacy">Privacy</a>\n<p class="footer">',
    )
    edit(
        layout,
        "<!doctype html>",
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1.dtd">',
    )
    assert lint(workspace_dir) == []


def test_an_opt_out_line_is_held_to_the_policy(workspace_dir: Path) -> None:
    settings = workspace_dir / "variantly.yml"
    edit(settings, 'en: "Reply STOP to opt out"', 'en: "Reply STOP to opt out or mail stop@lumen.example"')
    assert lint(workspace_dir) == [
        f"{settings}:{line_of(settings, 'stop@lumen.example')}:15: channels.sms.opt_out (en) breaks the policy: "
        "contains an e-mail address"
    ]


def test_a_node_does_not_serve_an_edit_whose_default_breaks_the_policy(workspace_dir: Path, tmp_path: Path) -> None:
    """A marketer's edit on a live node: the node keeps serving what it had, and says why."""
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'store.db'}")
    with TestClient(app) as client:
        before = client.get("/v1/render/cta").text
        cta = workspace_dir / "modules" / "cta.jinja"
        edit(cta, 'en: "Book a 30-minute demo"', 'en: "Buy now"')
        app.state.service.refresh_workspace()
        assert client.get("/v1/render/cta").text == before
        assert "Buy now" not in before
    assert "banned phrase 'buy now'" in (app.state.service.workspace_error or "")


def test_the_words_in_a_default_picture_are_held_to_the_policy(workspace_dir: Path) -> None:
    """An SVG's text is what the holdout group reads in the hero picture; its link is one a reader can follow."""
    picture = workspace_dir / "modules" / "assets" / "care_team.svg"
    edit(
        picture,
        ">14</text>",
        '>14</text>\n<text x="10" y="20">Last <tspan>chance</tspan>: better than Zendesk</text>\n'
        '<a href="https://evil.example/win"><title>Win a prize</title></a>',
    )
    line = line_of(picture, "Last <tspan>")
    assert lint(workspace_dir) == [
        f"{picture}:{line}:1: the picture's words break the policy: banned phrase 'last chance'",
        f"{picture}:{line}:1: the picture's words break the policy: names competitor 'Zendesk'",
        f"{picture}:{line + 1}:1: the picture's words break the policy: links to evil.example, which is not an "
        "allowed domain",
    ]


def test_a_picture_that_is_not_text_is_named(workspace_dir: Path) -> None:
    picture = workspace_dir / "modules" / "assets" / "care_team.svg"
    picture.write_bytes(picture.read_text().encode("utf-16"))
    problems = lint(workspace_dir)
    assert len(problems) == 1 and problems[0].startswith(f"{picture}:1:1: not UTF-8 text"), problems


def test_words_a_screen_reader_says_are_read_too(workspace_dir: Path) -> None:
    """An image's alt text and a button's aria-label are read aloud; a title shows as a tooltip."""
    layout = workspace_dir / "modules" / "layouts" / "landing.jinja"
    edit(
        layout,
        "<main>",
        '<main>\n<img src="/assets/team_dashboard.svg" alt="Last chance: 50% off">\n'
        '<a href="https://lumen.example/" aria-label="Cheaper than Braze" title="Hurry">Lumen</a>',
    )
    alt, label = line_of(layout, 'alt="Last chance'), line_of(layout, "aria-label")
    assert lint(workspace_dir) == [
        f"{layout}:{alt}:1: the template's own words break the policy: banned phrase 'last chance'",
        f"{layout}:{label}:1: the template's own words break the policy: names competitor 'Braze'",
        f"{layout}:{label}:1: the template's own words break the policy: banned phrase 'hurry'",
    ]


def test_a_subject_starting_with_a_merge_field_whose_default_reads_wrong_fails_lint(workspace_dir: Path) -> None:
    """Everyone without a first name got the example email as "there, one view of every customer"."""
    layout = workspace_dir / "modules" / "layouts" / "email.jinja"
    edit(
        layout,
        '  en: "Hi {first_name}, one view of every customer"',
        '  en: "{first_name}, one view of every customer"',
    )
    line = line_of(layout, '  en: "{first_name}, one view')
    assert lint(workspace_dir) == [
        f"{layout}:{line}:3: subject (en) breaks the policy: starts a sentence with {{first_name}}, so a reader"
        ' without one reads "there, one view of every customer": put it where its default "there" reads right'
    ]


def test_a_capitalised_default_may_start_a_sentence(workspace_dir: Path) -> None:
    edit(workspace_dir / "variantly.yml", 'default: {en: "there", sv: "du"}', 'default: {en: "Friend", sv: "Du"}')
    layout = workspace_dir / "modules" / "layouts" / "email.jinja"
    edit(
        layout,
        '  en: "Hi {first_name}, one view of every customer"',
        '  en: "{first_name}, one view of every customer"',
    )
    assert lint(workspace_dir) == []
