"""The policy in guardrails/policy.yml, enforced through guardrails-ai on every slot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import variantly.generation  # noqa: F401
from variantly.authoring.importing import import_variants
from variantly.generation.guards import PolicyGuards
from variantly.store.variants import approved_rows, get_variant


@pytest.fixture(scope="module")
def guards():
    from conftest import REPO

    return PolicyGuards(REPO)


@pytest.fixture(scope="module")
def ws():
    from conftest import REPO
    from variantly.workspace import load_workspace

    return load_workspace(REPO)


def failures(guards, ws, module: str, slots: dict, **cohort) -> dict[str, list[str]]:
    report = guards.check_slots(ws, module, {"locale": "en"} | cohort, slots)
    return {slot: [f"{f.validator}: {f.message}" for f in fs] for slot, fs in report.slots.items() if fs}


CTA = {"label": "See Lumen in action", "note": "A 30-minute demo with examples from your industry."}


def test_good_copy_passes(guards, ws) -> None:
    assert failures(guards, ws, "cta", CTA) == {}


@pytest.mark.parametrize(
    "label",
    [
        "Buy now",
        "BUY  NOW",
        "buy\u00a0now",
        "Köp nu",
        "Buy-now",  # a hyphen or a dash between the words
        "Buy \u2014 now",
        "Risk free trial",  # and "risk-free" written with a space
        "Bu\u00ady now",  # an invisible soft hyphen, zero-width space, joiner or word joiner inside
        "Buy\u200b now",
        "B\u200duy now",
        "Buy\u2060 now",
        "\u0412uy now",  # a Cyrillic capital Ve, drawn as Latin B
        "Buy n\u043ew",  # a Cyrillic o
        "\u0392uy n\u03bfw",  # a Greek capital Beta and omicron
    ],
)
def test_banned_phrases_ignore_case_spacing_and_accents(guards, ws, label: str) -> None:
    found = failures(guards, ws, "cta", CTA | {"label": label})["label"]
    assert any(f.startswith("variantly/banned_phrases") for f in found)


def test_banned_phrases_match_whole_words_only(guards, ws) -> None:
    assert failures(guards, ws, "cta", CTA | {"label": "Rebuy nowhere"}) == {}
    assert failures(guards, ws, "cta", CTA | {"label": "Buy-nowhere"}) == {}


def test_competitors_are_never_named(guards, ws) -> None:
    assert failures(guards, ws, "cta", CTA | {"note": "Easier than hubspot for your team."})["note"] == [
        "variantly/competitors: names competitor 'HubSpot'"
    ]
    assert failures(guards, ws, "cta", CTA | {"note": "Brazen ideas for your team."}) == {}
    assert failures(guards, ws, "cta", CTA | {"note": "Easier than Hub\u00adSpot for your team."})["note"] == [
        "variantly/competitors: names competitor 'HubSpot'"
    ]
    found = failures(guards, ws, "cta", CTA | {"note": "Easier than Hub\u0405p\u043et for your team."})["note"]
    assert "variantly/competitors: names competitor 'HubSpot'" in found  # a Cyrillic Dze and o


def test_a_word_mixing_scripts_fails_whatever_it_spells(guards, ws) -> None:
    """Look-alike letters inside a Latin word hide it from every filter (and a screen reader reads it aloud
    wrong), so the word is refused even where no banned phrase is hidden in it."""
    assert failures(guards, ws, "cta", CTA | {"label": "See Lum\u0435n in action"})["label"] == [
        "variantly/mixed_scripts: 'Lum\u0435n' mixes letters of different scripts: write each word in one"
    ]


@pytest.mark.parametrize(
    "note",
    [
        "\u0414\u0435\u043c\u043e \u0437\u0430 30 \u043c\u0438\u043d\u0443\u0442.",  # Russian: "Демо за 30 минут."
        "\u0395\u03c0\u03af\u03b4\u03b5\u03b9\u03be\u03b7 30 \u03bb\u03b5\u03c0\u03c4\u03ce\u03bd.",  # Greek
        "A demo for Lumen's \u0394-reports, 5\u03a9 or not.",  # a Greek letter as a word of its own
        "F\u00f6rberedelser beh\u00f6vs inte.",  # Latin with accents is one script
    ],
)
def test_copy_written_in_one_script_per_word_passes(guards, ws, note: str) -> None:
    found = failures(guards, ws, "cta", CTA | {"note": note}).get("note", [])
    assert not [f for f in found if f.startswith(("variantly/mixed_scripts", "variantly/banned_phrases"))]


def test_invented_numbers_fail_and_facts_pass(guards, ws) -> None:
    found = failures(
        guards,
        ws,
        "hero",
        {
            "headline": "87% faster onboarding for your team",
            "subheadline": "Live in 6 weeks, hosted in the EU, ISO 27001 certified.",
        },
    )
    assert found == {"headline": ["variantly/claims_from_facts: the number '87' is not in the module's facts"]}


def test_financial_services_examples_need_their_disclaimer(guards, ws) -> None:
    story = "Kassa Bank answers 40% of customer questions in self-service, with every conversation on record."
    slots = {"customer": "Kassa Bank", "story": story, "metric": "40% of questions in self-service"}
    assert (
        "variantly/required_disclaimer"
        in failures(guards, ws, "customer_example", slots, industry="financial_services")["story"][0]
    )
    assert (
        failures(
            guards,
            ws,
            "customer_example",
            slots | {"story": story + " Individual results vary."},
            industry="financial_services",
        )
        == {}
    )
    assert failures(guards, ws, "customer_example", slots, industry="retail") == {}


@pytest.mark.parametrize(
    ("note", "what"),
    [
        ("Write to anna.berg@nordhem.se for the next step.", "e-mail address"),
        ("Call us on +46 70 123 45 67 for the next step.", "phone number"),
        ("Pay with 4111 1111 1111 1111 for the next step.", "card number"),
    ],
)
def test_personal_data_is_blocked(guards, ws, note: str, what: str) -> None:
    assert any(
        f"contains a {what}" in f or f"contains an {what}" in f
        for f in failures(guards, ws, "cta", CTA | {"note": note})["note"]
    )


@pytest.mark.parametrize(
    ("note", "fragment"),
    [
        ("See <b>your</b> customers in one place.", "HTML markup"),
        ("See {{ 7*7 }} customers in one place.", "template syntax"),
        ("Hello {name}, see your customers in one place.", "'{name}' is not a merge field"),
        ("See [the demo](https://lumen.example/demo) for your team.", "Markdown link"),
        ("See https://evil.example.com/x for your team.", "not an allowed domain"),
    ],
)
def test_markup_template_syntax_and_outside_links_fail(guards, ws, note: str, fragment: str) -> None:
    assert any(fragment in f for f in failures(guards, ws, "cta", CTA | {"note": note})["note"])


def test_allowed_links_and_merge_fields_pass(guards, ws) -> None:
    note = "Hi {first_name}, the demo is at https://www.lumen.example/demo for your team."
    assert failures(guards, ws, "cta", CTA | {"note": note}) == {}


def test_image_must_name_a_stored_picture_or_a_listed_asset_and_carry_alt_text(guards, ws) -> None:
    good = {
        "picture": "store_floor",
        "alt": "A shop assistant checking order history",
        "caption": "One view of every customer.",
    }
    assert failures(guards, ws, "hero_image", good) == {}
    stored = "image:" + "ab" * 32 + ".png@1536x1024"
    assert failures(guards, ws, "hero_image", good | {"picture": stored}) == {}
    found = failures(guards, ws, "hero_image", good | {"picture": "stock_photo_42", "alt": ""})
    assert found["picture"] == [
        "variantly/asset_choice: 'stock_photo_42' is not one of the module's assets "
        "(care_team, secure_vault, store_floor, team_dashboard)"
    ]
    assert found["alt"] == ["variantly/slot_length: 0 characters, under the minimum of 10"]


def test_copy_in_the_wrong_language_fails(guards, ws) -> None:
    english = {"label": "See what is new", "note": "A short tour of what changed for your team."}
    assert "variantly/language" in failures(guards, ws, "cta", english, locale="sv")["note"][0]
    assert failures(guards, ws, "cta", english, locale="en") == {}


def test_custom_validator_from_a_file_in_guardrails_folder(guards, ws) -> None:
    found = failures(guards, ws, "cta", CTA | {"label": "See it NOW!"})
    assert found["label"] == ["lumen/no_shouting: no ALL-CAPS words or exclamation marks: say it calmly"]
    assert failures(guards, ws, "cta", CTA | {"label": "See ISO 27001 proof"}).get("label", []) == [
        "variantly/claims_from_facts: the number '27001' is not in the module's facts"
    ]  # EU/ISO are not shouting


def test_failing_spans_point_at_the_offending_text(guards, ws) -> None:
    report = guards.check_slots(ws, "cta", {"locale": "en"}, CTA | {"note": "Talk to us, unlike Zendesk."})
    [failure] = report.slots["note"]
    start, end = failure.spans[0]
    assert (CTA | {"note": "Talk to us, unlike Zendesk."})["note"][start:end] == "Zendesk"


def test_import_runs_through_the_same_guardrails(store, workspace, guards, tmp_path: Path) -> None:
    path = tmp_path / "agency.jsonl"
    lines = [
        {"module": "cta", "cohort": {"segment": "startup", "locale": "en"}, "slots": CTA},
        {
            "module": "cta",
            "cohort": {"segment": "enterprise", "locale": "en"},
            "slots": CTA | {"label": "Buy now, beat Braze"},
        },
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    summary = import_variants(store, workspace, path, actor="agency", check=guards.check, approve=True)
    assert (summary.approved, summary.failed) == (1, 1)
    assert len(approved_rows(store)) == 1
    failed_id = next(v for v in summary.failures if "enterprise" in v)
    assert "banned phrase 'buy now'" in failed_id and "names competitor 'Braze'" in failed_id
    assert all(get_variant(store, v.id).report["passed"] for v in approved_rows(store))


@pytest.mark.parametrize(
    ("module", "slots", "cohort"),
    [
        ("cta", CTA, {}),
        ("cta", CTA | {"label": "Buy now, beat Braze", "note": "Call +46 70 123 45 67 or see http://evil.test"}, {}),
        ("cta", CTA | {"label": "See it NOW!"}, {}),
        ("hero", {"headline": "{{ 7*7 }} <b>87%</b> faster", "subheadline": "For {first_name} at {company}"}, {}),
        (
            "customer_example",
            {"customer": "A bank", "story": "It went well.", "metric": "Live in 6 weeks"},
            {"industry": "financial_services"},
        ),
        ("cta", {"label": "See what is new", "note": "A short tour of what changed for your team."}, {"locale": "sv"}),
    ],
)
def test_plain_checker_reports_what_the_guards_report(guards, ws, module: str, slots: dict, cohort: dict) -> None:
    """Without guardrails-ai the same table of checks runs; only custom validators are left out (and named)."""
    from variantly.authoring.policy_checks import BuiltInChecker

    module_slots = set(ws.modules[module].module.slots)
    slots = {k: v for k, v in slots.items() if k in module_slots}
    cohort = {"locale": "en"} | cohort
    plain = BuiltInChecker(ws.policy, ws.policy_hash).check_slots(ws, module, cohort, slots)
    guarded = guards.check_slots(ws, module, cohort, slots)
    built_in = {
        name: tuple(f for f in found if f.validator.startswith("variantly/")) for name, found in guarded.slots.items()
    }
    assert plain.slots == built_in
    assert plain.passed == (not any(built_in.values()))
    kinds = {c.name for c in ws.policy.custom_validators if ws.modules[module].module.kind in c.kinds}
    assert set(plain.unchecked) == kinds


def test_one_message_per_validator_per_slot_with_every_span(guards, ws) -> None:
    text = "{{ a }} and {{ b }} and {% if c %}"
    [failure] = [
        f
        for f in guards.check_slots(ws, "cta", {"locale": "en"}, CTA | {"note": text}).slots["note"]
        if f.validator == "variantly/markup_and_links"
    ]
    assert failure.message == "contains template syntax (6 places)"
    assert len(failure.spans) == 6


def test_a_phone_number_is_personal_data_not_six_invented_numbers(guards, ws) -> None:
    found = failures(guards, ws, "cta", CTA | {"note": "Call us on +46 70 123 45 67 to book a demo."})
    assert found["note"] == ["variantly/personal_data: contains a phone number"]


def test_copy_that_makes_the_sms_cost_more_fails_naming_the_channel(guards, ws) -> None:
    """Slots are channel-free; a typographic apostrophe is not GSM-7, so the whole SMS goes UCS-2 (70 a segment)."""
    note = "We’ll show Lumen with examples from your industry in 30 minutes. No preparation needed."
    report = guards.check_slots(ws, "cta", {"locale": "en"}, CTA | {"note": note})
    assert not any(report.slots.values()) and not report.passed
    [failure] = report.channels["sms"]
    assert failure.validator == "variantly/channel_rules"
    assert "costs 3 SMS segment(s)" in failure.message and "because of '’'" in failure.message
    assert "sms message: costs 3 SMS segment(s)" in report.summary
    assert report.problems()[-1].startswith("sms message: costs 3")  # what a re-ask quotes back
    plain = guards.check_slots(ws, "cta", {"locale": "en"}, CTA | {"note": note.replace("’", "'")})
    assert plain.passed, plain.summary


@pytest.mark.parametrize(
    ("note", "hidden"),
    [
        ("No preparation\x00 needed.", "U+0000"),  # a NUL from an LLM went to the queue
        ("No preparation\x1b[K needed.", "U+001B"),  # a terminal escape
        ("No preparation \u202eneeded.", "U+202E"),  # reorders what the reviewer reads
        ("No prepar\u200bation needed.", "U+200B"),
    ],
)
def test_characters_no_reader_sees_fail_the_checks(guards, ws, note: str, hidden: str) -> None:
    assert failures(guards, ws, "cta", CTA | {"note": note})["note"] == [
        f"variantly/hidden_characters: holds a character no reader sees ({hidden}): write plain text"
    ]


def test_line_breaks_and_emoji_joined_by_zero_width_joiners_are_plain_text(guards, ws) -> None:
    assert (
        failures(
            guards,
            ws,
            "cta",
            CTA | {"note": "No preparation needed.\nFor the whole \U0001f468\u200d\U0001f469\u200d\U0001f467 team."},
        )
        == {}
    )


def test_an_edited_custom_validator_is_run_as_edited(workspace_dir: Path) -> None:
    """The policy's hash covers the validator file, so an edit re-checks approved variants at once: with the old
    code still loaded, the review server recorded them as checked under the edit."""
    from variantly.workspace import load_workspace

    validator = workspace_dir / "guardrails" / "no_shouting.py"
    ws = load_workspace(workspace_dir)
    calm = CTA | {"note": "A calm demo, nothing urgent."}
    assert failures(PolicyGuards.for_workspace(ws), ws, "cta", calm) == {}
    validator.write_text(validator.read_text().replace('|!")', '|!|\\burgent\\b")'))
    edited = load_workspace(workspace_dir)
    assert edited.policy_hash != ws.policy_hash
    assert failures(PolicyGuards.for_workspace(edited), edited, "cta", calm)["note"] == [
        "lumen/no_shouting: no ALL-CAPS words or exclamation marks: say it calmly"
    ]


def test_two_workspaces_with_a_custom_validator_of_one_name_each_run_their_own(tmp_path: Path) -> None:
    from conftest import copy_workspace
    from variantly.workspace import load_workspace

    strict, usual = copy_workspace(tmp_path / "strict"), copy_workspace(tmp_path / "usual")
    validator = strict / "guardrails" / "no_shouting.py"
    validator.write_text(validator.read_text().replace(', "GDPR"', ""))  # GDPR is shouting here
    gdpr = CTA | {"note": "Built for GDPR from the start, for your team."}
    strict_guards = PolicyGuards.for_workspace(load_workspace(strict))
    usual_guards = PolicyGuards.for_workspace(load_workspace(usual))  # loaded last: the registry holds its class
    assert "lumen/no_shouting" in failures(strict_guards, load_workspace(strict), "cta", gdpr)["note"][0]
    assert failures(usual_guards, load_workspace(usual), "cta", gdpr) == {}


def test_copy_approved_where_the_custom_validators_could_not_run_is_checked_where_they_can(
    store, workspace, tmp_path: Path
) -> None:
    """An import on an install without guardrails-ai leaves such copy pending, and a reviewer may approve it; it
    was recorded as checked under the policy, so no re-check ever ran the validator it had missed."""
    from variantly.authoring.policy_checks import BuiltInChecker
    from variantly.authoring.review import approve, approved_unchecked, recheck_policy

    path = tmp_path / "agency.jsonl"
    line = {"module": "cta", "cohort": {"segment": "startup", "locale": "en"}, "slots": CTA | {"label": "See it TODAY"}}
    path.write_text(json.dumps(line))
    built_in = BuiltInChecker(workspace.policy, workspace.policy_hash)
    import_variants(store, workspace, path, actor="agency", check=built_in.check, approve=True)
    [row] = _all(store)
    assert row.status == "pending"  # the built-in checks passed it; lumen/no_shouting did not run
    approve(store, row.id, version=row.version, actor="rita")
    assert [r.id for r in approved_unchecked(store, workspace)] == [row.id]
    assert recheck_policy(store, workspace, PolicyGuards.for_workspace(workspace).check_slots) == [row.id]
    pulled = get_variant(store, row.id)
    assert pulled.status == "guardrail_failed" and "no ALL-CAPS words" in pulled.report["summary"]


def _all(store):
    from variantly.store.schema import VariantRow

    with store.sessions() as session:
        return list(session.query(VariantRow))


@pytest.mark.parametrize(
    ("note", "read"),
    [
        ("{first_name}, a 30-minute demo for your team.", "there, a 30-minute demo for your team."),
        ("A demo for your team. {company} sees it first.", "your team sees it first."),
        ('"{first_name}, see it."', 'there, see it."'),
    ],
)
def test_a_merge_field_starting_a_sentence_fails_where_its_default_would_read_wrong(guards, ws, note, read) -> None:
    """A reader without a first name reads the default where the field is: "there, a 30-minute demo"."""
    found = failures(guards, ws, "cta", CTA | {"note": note})["note"]
    assert [f for f in found if f.startswith("variantly/merge_field_defaults")] == [
        f"variantly/merge_field_defaults: starts a sentence with {note[note.index('{') : note.index('}') + 1]},"
        f' so a reader without one reads "{read}": put it where its default'
        f' "{"there" if "first_name" in note else "your team"}" reads right'
    ]


@pytest.mark.parametrize(
    "note",
    [
        "Hi {first_name}, a 30-minute demo for your team.",
        "A demo that {company} can run itself.",
        "A demo: {company} picks the day.",  # after a colon, a small letter reads right
        "A demo for a team, e.g. {company}, in 30 minutes.",  # an abbreviation's stop ends no sentence
    ],
)
def test_a_merge_field_where_its_default_reads_right_passes(guards, ws, note: str) -> None:
    assert failures(guards, ws, "cta", CTA | {"note": note}) == {}
