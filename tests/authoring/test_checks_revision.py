"""Approved copy is checked again only when ``CHECKS_REVISION`` is raised: a change to what the built-in checks refuse
that forgets to raise it leaves copy the new checks refuse in serving. This test holds the checks' verdicts on a
corpus of copy, easy and hostile, to the revision they were recorded under.

When it fails because verdicts changed: raise ``CHECKS_REVISION`` in ``authoring/policy_checks.py`` (approved copy is
then checked again at the next review-server start), and record the verdicts again:

    UPDATE_CHECKS_VERDICTS=1 .venv/bin/pytest tests/authoring/test_checks_revision.py

Verdicts are which validators refuse which slot, not their words: rewording a message re-checks nothing. The language
check is left out: its verdicts follow lingua's models, which an upgrade of that package may move.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import REPO
from variantly.authoring.policy_checks import CHECKS_REVISION, LANGUAGE, BuiltInChecker
from variantly.workspace import Workspace

RECORDED = Path(__file__).with_name("checks_verdicts.json")

# Copy each check has refused or passed at its edge, as the tests of each check found it (one slot each).
EDGES: list[tuple[str, str, str]] = [
    ("cta", "label", "Buy now"),
    ("cta", "label", "Buy-now"),
    ("cta", "label", "Bu\u00ady now"),
    ("cta", "label", "\u0412uy now"),
    ("cta", "label", "Buy n\u043ew today"),
    ("cta", "label", "Buyer's guide"),
    ("cta", "label", "Book a demo\u200b"),
    ("cta", "label", "Book a demo \u202etoday"),
    ("cta", "label", "Risk free trial"),
    ("cta", "label", "Lum\u0435n demo"),
    ("cta", "label", "Try Lumen, not HubSpot"),
    ("cta", "label", "Try Lumen, not Hub\u0405pot"),
    ("cta", "note", "Call +46 70 123 45 67 to book."),
    ("cta", "note", "Write to anna (at) lumen (dot) example to book."),
    ("cta", "note", "Book at lumen.example/demo today."),
    ("cta", "note", "Book at lumen.example.evil.com/demo today."),
    ("cta", "note", "Book at http://lumen.example/demo today."),
    ("cta", "note", "Book at [our site](https://lumen.example) today."),
    ("cta", "note", "<b>Book</b> a demo, {first_name}."),
    ("cta", "note", "Book a demo, {name}."),
    ("cta", "note", "A guided demo takes 30 minutes, the trial 14 days."),
    ("cta", "note", "A guided demo takes 25 minutes."),
    ("cta", "note", "Card 4111 1111 1111 1111 is not needed."),
    ("cta", "note", "Your personnummer 811218-9876 is not needed."),
    ("cta", "label", "Δ-reports in 5Ω"),
    ("cta", "label", "Book a demo with the team that builds Lumen"),
    ("cta", "note", "{first_name}, a demo takes 30 minutes."),
    ("cta", "note", "Hi {first_name}. {company} books the day."),
    ("cta", "note", "A demo: {company} picks the day."),
    ("hero_image", "alt", "An image of a team reviewing one shared dashboard"),
    ("hero_image", "alt", "A team reviewing one shared customer dashboard"),
    ("hero_image", "picture", "team_dashboard"),
    ("hero_image", "picture", "stock_photo"),
    ("hero", "headline", "Лучшая платформа для каждой команды"),
    ("customer_example", "story", "Kassa Bank answers 40% of customer questions in self-service."),
    (
        "customer_example",
        "story",
        "Kassa Bank answers 40% of customer questions in self-service. Individual results vary.",
    ),
]


def corpus(workspace: Workspace) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(module, cohort, slots): the example variants, each labelled brand copy in a slot of its kind, and the edges."""
    found = []
    for line in (REPO / "examples" / "variants.jsonl").read_text().splitlines():
        given = json.loads(line)
        found.append((given["module"], given["cohort"], given["slots"]))
    first_text_slot = {}
    for module_file in workspace.modules.values():
        module = module_file.module
        slot = next((n for n, s in module.slots.items() if s.is_text), None)
        if slot is not None:
            first_text_slot.setdefault(module.kind, (module.id, slot))
    for line in (REPO / "examples" / "brand_labelled.jsonl").read_text().splitlines():
        given = json.loads(line)
        if given["kind"] in first_text_slot:
            module_id, slot = first_text_slot[given["kind"]]
            copy = given["copy"] if isinstance(given["copy"], dict) else {slot: given["copy"]}
            found.append((module_id, {"locale": given["locale"]}, copy))
    for module_id, slot, text in EDGES:
        cohort = {"industry": "financial_services", "locale": "en"} if module_id == "customer_example" else {}
        found.append((module_id, cohort or {"locale": "en"}, {slot: text}))
    return found


def verdicts(workspace: Workspace) -> list[dict]:
    checker = BuiltInChecker(workspace.policy, workspace.policy_hash)
    out = []
    for module_id, cohort, slots in corpus(workspace):
        report = checker.check_slots(workspace, module_id, cohort, slots)
        refused = {
            slot: sorted({f.validator for f in found if f.validator != LANGUAGE})
            for slot, found in report.slots.items()
        }
        refused |= {f"{name} message": sorted({f.validator for f in found}) for name, found in report.channels.items()}
        out.append(
            {"module": module_id, "cohort": cohort, "slots": slots, "refused": {k: v for k, v in refused.items() if v}}
        )
    return out


def test_what_the_built_in_checks_refuse_changes_only_with_the_revision(workspace: Workspace) -> None:
    now = verdicts(workspace)
    if os.environ.get("UPDATE_CHECKS_VERDICTS"):
        RECORDED.write_text(json.dumps({"revision": CHECKS_REVISION, "verdicts": now}, ensure_ascii=False, indent=1))
    recorded = json.loads(RECORDED.read_text())
    if recorded["revision"] != CHECKS_REVISION:
        pytest.fail(
            f"CHECKS_REVISION is {CHECKS_REVISION}, the verdicts were recorded under {recorded['revision']}: "
            "record them again (UPDATE_CHECKS_VERDICTS=1, see this file's docstring)"
        )
    changed = [
        f"{n['module']} {n['slots']}: refused {then['refused']} then, {n['refused']} now"
        for then, n in zip(recorded["verdicts"], now, strict=False)
        if then != n
    ]
    if len(recorded["verdicts"]) != len(now):
        changed.append(f"{len(recorded['verdicts'])} copies recorded, {len(now)} now")
    assert not changed, (
        "The built-in checks judge this copy differently under the same CHECKS_REVISION, so approved copy would not"
        " be checked again. Raise CHECKS_REVISION in authoring/policy_checks.py and record the verdicts again"
        " (UPDATE_CHECKS_VERDICTS=1):\n" + "\n".join(changed)
    )


def test_the_corpus_reaches_every_built_in_check_but_language(workspace: Workspace) -> None:
    """A check no copy of the corpus trips could change unseen."""
    from variantly.authoring.policy_checks import BUILT_IN_CHECKS, CHANNEL_RULES

    tripped = {v for verdict in verdicts(workspace) for found in verdict["refused"].values() for v in found}
    missing = ({*BUILT_IN_CHECKS, CHANNEL_RULES} - tripped) - {LANGUAGE}
    assert not missing, f"no copy of the corpus is refused by {sorted(missing)}: add one to EDGES"
