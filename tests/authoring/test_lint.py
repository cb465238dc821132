"""A marketer's mistakes are reported as path:line:col: message, never silently ignored."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import edit, line_of, lint
from variantly.cli import app

runner = CliRunner()


def test_repository_workspace_is_clean(workspace_dir: Path) -> None:
    assert lint(workspace_dir) == []
    result = runner.invoke(app, ["lint", "--workspace", str(workspace_dir)])
    assert result.exit_code == 0, result.output
    assert "4 modules, 2 layouts" in result.output


def test_cli_prints_every_problem_and_exits_1(workspace_dir: Path) -> None:
    hero = workspace_dir / "modules" / "hero.jinja"
    edit(hero, "kind: headline", "kind: headlines")
    edit(hero, "{{ slots.subheadline }}</p>\n</header>", "{{ slots.sub_headline }}</p>\n</header>")
    result = runner.invoke(app, ["lint", "--workspace", str(workspace_dir)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if re.match(r"^\S+:\d+:\d+: ", line)]
    assert len(lines) == 2, result.output
    assert all("hero.jinja" in line for line in lines)


# Each case: file to edit, (old, new), the line the problem must point at, and a message fragment.
MISTAKES = {
    "yaml_syntax": (
        "modules/hero.jinja",
        ("channels: [web, email]", "channels: [web, email"),
        "channels:",
        "YAML syntax error",
    ),
    "unknown_kind": ("modules/hero.jinja", ("kind: headline", "kind: banner"), "kind: banner", "kind"),
    "misspelt_field": (
        "modules/hero.jinja",
        ("    max_chars: 70", "    max_char: 70"),
        "max_char: 70",
        "unknown field",
    ),
    "missing_field": ("modules/cta.jinja", ("kind: cta\n", ""), "id: cta", "kind: required field is missing"),
    "jinja_syntax": (
        "modules/hero.jinja",
        ("<h1>{{ slots.headline }}</h1>", "<h1>{{ slots.headline }</h1>"),
        "<h1>{{ slots.headline }</h1>",
        "Jinja syntax error",
    ),
    "undefined_slot": (
        "modules/cta.jinja",
        ("  <p>{{ slots.note }}</p>\n</section>", "  <p>{{ slots.notes }}</p>\n</section>"),
        "{{ slots.notes }}",
        "undefined slot 'notes'",
    ),
    "unknown_audience": (
        "modules/cta.jinja",
        ("matches: behaviour.open_support_ticket", "matches: behaviour.open_ticket"),
        "matches: behaviour.open_ticket",
        "unknown audience 'behaviour.open_ticket'",
    ),
    "default_too_long": (
        "modules/hero.jinja",
        ('en: "Know every customer, in every team"', 'en: "' + "Know every customer, in every team, " * 3 + '"'),
        "Know every customer, in every team, Know",
        "over its max_chars 70",
    ),
    "default_missing_locale": (
        "modules/hero.jinja",
        ('      sv: "Känn varje kund, i varje team"\n', ""),
        "    default:",
        "no default for locale 'sv'",
    ),
    "asset_not_in_list": (
        "modules/hero_image.jinja",
        ("default: team_dashboard", "default: team_photo"),
        "default: team_photo",
        "not one of the module's assets",
    ),
    "missing_channel_block": (
        "modules/customer_example.jinja",
        ("{% block email_text %}", "{% block email_txt %}"),
        "{% block email_txt %}",
        "unknown block 'email_txt'",
    ),
    "layout_unknown_module": (
        "modules/layouts/landing.jinja",
        ("modules: [hero, hero_image, customer_example, cta]", "modules: [hero, hero_img, customer_example, cta]"),
        "modules: [hero, hero_img",
        "unknown module 'hero_img'",
    ),
    "bad_audience_rule": (
        "audiences.yml",
        ("when: {trait: company_size, gte: 1000}", "when: {trait: company_size, atleast: 1000}"),
        "atleast: 1000",
        "segments.0.when",
    ),
    "trait_rule_two_operators": (
        "audiences.yml",
        ("when: {trait: company_size, lt: 100}", "when: {trait: company_size, lt: 100, gte: 1}"),
        "lt: 100, gte: 1",
        "exactly one operator",
    ),
    "unknown_template_variable": (
        "modules/hero.jinja",
        ("<h1>{{ slots.headline }}</h1>", "<h1>{{ headline }}</h1>"),
        "<h1>{{ headline }}</h1>",
        "unknown variable 'headline'",
    ),
    "no_front_matter": ("modules/hero.jinja", ("---\nid: hero", "id: hero"), None, "must start with '---'"),
    "prompt_syntax": ("prompts/cta.jinja", ("{% endblock %}", "{% endblok %}"), "{% endblok %}", "Jinja syntax error"),
    "policy_unknown_field": (
        "guardrails/policy.yml",
        ("banned_phrases:", "banned_phrase:"),
        "banned_phrase:",
        "unknown field",
    ),
    "custom_validator_missing": (
        "guardrails/policy.yml",
        ("file: no_shouting.py", "file: no_yelling.py"),
        "file: no_yelling.py",
        "does not exist",
    ),
    "custom_validator_name_too_long": (  # the file system refuses the name: it was a traceback
        "guardrails/policy.yml",
        ("file: no_shouting.py", "file: " + "x" * 300 + ".py"),
        "file: xxx",
        "cannot be read: File name too long",
    ),
    "custom_validator_a_folder": (
        "guardrails/policy.yml",
        ("file: no_shouting.py", "file: ''"),
        "file: ''",
        "cannot be read: Is a directory",
    ),
    "locale_id_too_long_to_store": (  # linted clean, then a traceback on PostgreSQL at the first import
        "audiences.yml",
        ("  - id: sv\n", "  - id: sv-se-gotland-north\n"),
        "id: sv-se-gotland-north",
        "at most 16 characters",
    ),
    "sms_without_opt_out": (
        "modules/cta.jinja",
        ("{{ slots.note }}\n{{ channel.opt_out }}", "{{ slots.note }}"),
        "{% block sms %}",
        'sms message (sv): must carry the opt-out text "Svara STOPP för att avsluta"',
    ),
    "sms_over_its_segments": (
        "modules/cta.jinja",
        (
            "{{ slots.note }}\n{{ channel.opt_out }}",
            "{{ slots.note }} {{ slots.note }} {{ slots.note }} {{ slots.note }}\n{{ channel.opt_out }}",
        ),
        "{% block sms %}",
        "costs 3 SMS segment(s)",
    ),
    "sms_links_elsewhere": (
        "modules/cta.jinja",
        (
            '{{ slots.label }}: {{ "https://lumen.example/support"',
            '{{ slots.label }}: shop.evil.example/x {{ "https://lumen.example/support"',
        ),
        "shop.evil.example/x",
        "the template's own words break the policy: links to shop.evil.example, which is not an allowed domain",
    ),
    "push_title_too_long": (
        "modules/cta.jinja",
        (
            "{% block push_title %}{{ slots.label }}{% endblock %}",
            "{% block push_title %}{{ slots.label }}, {{ slots.note }}{% endblock %}",
        ),
        "{% block push_title %}",
        "push message (en): the title is",
    ),
    "limits_for_a_channel_the_module_lacks": (
        "modules/hero.jinja",
        ("kind: headline\n", "kind: headline\nlimits: {sms: {max_segments: 1}}\n"),
        "limits: {sms:",
        "limits for sms, which is not one of the module's channels",
    ),
    "max_chars_of_a_part_the_channel_lacks": (
        "variantly.yml",
        ("    max_segments: 2\n", "    max_segments: 2\n    max_chars: {subject: 40}\n"),
        "max_chars: {subject: 40}",
        "sms has no part 'subject' (parts: text)",
    ),
    "cap_window_past_any_date": (
        "modules/cta.jinja",
        ("  per_days: 7", "  per_days: 999999"),
        "per_days: 999999",
        "less than or equal to 3650",
    ),
    "event_window_past_any_date": (
        "audiences.yml",
        ("when: {event: purchase, within_days: 30}", "when: {event: purchase, within_days: 99999999}"),
        "within_days: 99999999",
        "less than or equal to 36500",
    ),
    "image_price_below_nothing": (  # a negative price gave a budget room back: a run could spend past it
        "variantly.yml",
        (
            "holdout_percent: 10\n",
            "holdout_percent: 10\nimages: {prices: {gpt-image-1: {per_image: {low: {1024x1024: -1}}}}}\n",
        ),
        "images: {prices:",
        "greater than or equal to 0",
    ),
    "image_price_not_a_number": (
        "variantly.yml",
        (
            "holdout_percent: 10\n",
            "holdout_percent: 10\nimages: {prices: {gpt-image-1: {per_image: {low: {1024x1024: .nan}}}}}\n",
        ),
        "images: {prices:",
        "greater than or equal to 0",
    ),
    "unknown_channel": (
        "modules/hero.jinja",
        ("channels: [web, email]", "channels: [web, fax]"),
        "channels: [web, fax]",
        "channels.1",
    ),
}


@pytest.mark.parametrize("case", MISTAKES.keys())
def test_each_kind_of_mistake_is_reported_at_its_line(workspace_dir: Path, case: str) -> None:
    rel, (old, new), needle, fragment = MISTAKES[case]
    path = workspace_dir / rel
    edit(path, old, new)
    problems = lint(workspace_dir)
    matching = [p for p in problems if fragment in p]
    assert matching, f"expected a problem containing {fragment!r}, got {problems}"
    expected_line = line_of(path, needle) if needle else 1
    assert any(
        p.startswith(f"{path}:{expected_line}:")
        or p.startswith(f"{rel}:{expected_line}:")
        or re.match(rf".*{re.escape(rel)}:{expected_line}:\d+: ", p)
        for p in matching
    ), (expected_line, matching)


def test_mistake_in_slot_name_names_the_column(workspace_dir: Path) -> None:
    path = workspace_dir / "modules" / "hero.jinja"
    edit(path, "    max_chars: 70", "    max_char: 70")
    problem = next(p for p in lint(workspace_dir) if "unknown field" in p)
    assert re.search(r":\d+:5: slots\.headline\.max_char: unknown field", problem), problem


def test_an_sms_module_needs_an_opt_out_text_in_every_locale(workspace_dir: Path) -> None:
    edit(
        workspace_dir / "variantly.yml",
        'opt_out: {en: "Reply STOP to opt out", sv: "Svara STOPP för att avsluta"}',
        'opt_out: {en: "Reply STOP to opt out", de: "Antworte STOPP"}',
    )
    problems = lint(workspace_dir)
    assert any(
        "cta.jinja" in p and "sms message (sv): needs an opt-out text in 'sv': add it under channels.sms.opt_out" in p
        for p in problems
    ), problems  # the English text does not stand in for a Swedish reader
    assert not any("sms message (en)" in p for p in problems)
    edit(
        workspace_dir / "variantly.yml",
        "  sms:\n    max_segments: 2\n    opt_out:",
        "  sms:\n    max_segments: 2\n    unused:",
    )
    assert any("channels.sms.unused: unknown field" in p for p in lint(workspace_dir))


def test_text_naming_a_merge_field_the_settings_do_not_have_is_named_by_line(workspace_dir: Path) -> None:
    """With first_name dropped from variantly.yml, the email's subject went out as "{first_name}, one view of every
    customer", and a module default or a suppression's alternative the same; lint said ok."""
    settings = workspace_dir / "variantly.yml"
    edit(settings, '  first_name:\n    trait: first_name\n    default: {en: "there", sv: "du"}\n', "")
    layout = workspace_dir / "modules" / "layouts" / "email.jinja"
    edit(layout, " {{ person.first_name }},", ",")  # the body no longer asks for it; the subject still does
    edit(layout, " {{ person.first_name }},", ",")
    cta = workspace_dir / "modules" / "cta.jinja"
    edit(cta, '      en: "Book a 30-minute demo"', '      en: "Book a demo, {first_name}"')
    problems = lint(workspace_dir)
    subject = line_of(layout, '  en: "Hi {first_name}, one view')
    assert (
        f"modules/layouts/email.jinja:{subject}:3: subject (en) breaks the policy:"
        " '{first_name}' is not a merge field (allowed: {company})" in ("\n".join(problems))
    ), problems
    said = "\n".join(problems)
    assert (
        f"modules/cta.jinja:{line_of(cta, 'Book a demo, {first_name}')}:7: slot 'label' default (en) breaks the policy:"
        " '{first_name}' is not a merge field" in said
    )


def test_an_email_layout_must_carry_the_unsubscribe_line_in_both_parts(workspace_dir: Path) -> None:
    """An SMS had to carry "Reply STOP"; a marketing email could go out with no way to unsubscribe."""
    layout = workspace_dir / "modules" / "layouts" / "email.jinja"
    edit(layout, "{{ modules.cta }}\n\n{{ channel.opt_out }}\n", "{{ modules.cta }}\n")  # the plain-text part
    problems = lint(workspace_dir)
    for locale in ("en", "sv"):
        assert any(
            "email.jinja" in p and f"email message ({locale}): must carry the opt-out text" in p and "text part" in p
            for p in problems
        ), problems
    assert not any("html part" in p for p in problems)
    assert not any("cta.jinja" in p and "email" in p for p in problems)  # a module's email block is not an email
    edit(workspace_dir / "variantly.yml", '      sv: "Du får det här mejlet', '      de: "Du får det här mejlet')
    said = [p for p in lint(workspace_dir) if "email message (sv)" in p and "opt-out" in p]
    assert said and "needs an opt-out text in 'sv': add it under channels.email.opt_out" in said[0]


@pytest.mark.parametrize(
    "rel",
    [
        "variantly.yml",
        "audiences.yml",
        "guardrails/policy.yml",
        "guardrails/brand.yml",
        "modules/hero.jinja",
        "modules/layouts/landing.jinja",
    ],
)
def test_a_file_that_is_not_utf8_is_named_at_its_first_line(workspace_dir: Path, rel: str) -> None:
    (workspace_dir / rel).write_bytes(b"\xff\xfe not UTF-8")  # a file saved as UTF-16: policy.yml's was a traceback
    problems = lint(workspace_dir)
    assert any(re.match(rf".*{re.escape(rel)}:1:1: not UTF-8 text", p) for p in problems), problems


def test_a_merge_field_default_missing_a_locale_is_named_as_a_slot_default_is(workspace_dir: Path) -> None:
    """Swedish readers without a first name got "Hej there,": the English default stood in."""
    settings = workspace_dir / "variantly.yml"
    edit(settings, 'default: {en: "there", sv: "du"}', 'default: {en: "there"}')
    line = line_of(settings, 'default: {en: "there"}')
    assert lint(workspace_dir) == [f"{settings}:{line}:5: merge field 'first_name' has no default for locale 'sv'"]
    edit(settings, 'default: {en: "there"}', 'default: "Lumen reader"')  # one text for every locale is a choice
    assert lint(workspace_dir) == []
