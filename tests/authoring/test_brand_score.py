"""A variant's brand score: the weighted share of guidelines passed, the risk band, and every failure explained."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from conftest import add_cta
from variantly.authoring.brand_score import score_variant
from variantly.cli import app
from variantly.store import Store
from variantly.workspace.brand import BrandGuidelines

PUSHY_CTA = {"label": "BUY NOW!! 🚀", "note": "The best deal, hurry. Only today for your team."}


def test_pushy_copy_is_high_risk_with_the_score_worked_by_hand(workspace) -> None:
    """The example guidelines that apply to a CTA, with their weights: urgency 3 (high), exclamations 2, capitals 2,
    emoji 1, superlatives 2 (high), sentence length 1, plain language 1, second person 1. Pushy copy passes the
    last three: 3 of 13."""
    scored = score_variant(workspace.brand, workspace.modules["cta"].module, PUSHY_CTA, "en")
    failed = {g.id for g in scored.failed}
    assert failed == {"calm_not_urgent", "no_exclamations", "no_shouting", "no_emoji", "no_superlatives"}
    assert scored.score == round(100 * 3 / 13) and scored.band == "high"
    urgency = next(g for g in scored.guidelines if g.id == "calm_not_urgent")
    assert [(f.slot, f.excerpt) for f in urgency.findings] == [
        ("label", "BUY NOW"),
        ("note", "hurry"),
        ("note", "Only today"),
    ]
    for finding in (f for g in scored.failed for f in g.findings if f.span):  # every span is in its slot's text
        assert PUSHY_CTA[finding.slot][finding.span[0] : finding.span[1]] == finding.excerpt


def test_calm_copy_scores_100_and_judged_guidelines_say_not_checked(workspace) -> None:
    calm = {"label": "Plan a rollout with our team", "note": "A 30-minute demo with examples from your industry."}
    scored = score_variant(workspace.brand, workspace.modules["cta"].module, calm, "en")
    assert scored.score == 100 and scored.band == "low" and scored.failed == ()
    assert {g.id for g in scored.not_checked} >= {"cta_starts_with_a_verb", "ethics_gender", "specific_not_hype"}


def test_a_guideline_for_the_whole_copy_is_in_no_slots_score(workspace) -> None:
    """A CTA speaks to the reader in its label or its note: one verdict on both, not one per slot."""
    cta = workspace.modules["cta"].module
    in_the_note = score_variant(
        workspace.brand, cta, {"label": "Compare plans", "note": "Matched to your teams."}, "en"
    )
    nowhere = score_variant(workspace.brand, cta, {"label": "Jämför planer", "note": "Ett samtal om planerna."}, "sv")
    assert "speak_to_the_reader" not in {g.id for g in in_the_note.failed}
    reader = next(g for g in nowhere.failed if g.id == "speak_to_the_reader")
    assert reader.findings[0].slot == "" and nowhere.band == "low"  # a low-severity guideline
    assert nowhere.slots == {"label": 100, "note": 100} and nowhere.score < 100


def test_medium_band_when_only_a_medium_guideline_fails_and_picture_slots_are_skipped(workspace) -> None:
    image = workspace.modules["hero_image"].module
    scored = score_variant(
        workspace.brand,
        image,
        {"picture": "store_floor", "alt": "A shop floor", "caption": "Order history at hand!"},
        "en",
    )
    assert {g.id for g in scored.failed} == {"no_exclamations"} and scored.band == "medium"
    assert set(scored.slots) == {"alt", "caption"}


def test_with_ethics_off_and_no_guidelines_nothing_is_checked(workspace) -> None:
    scored = score_variant(BrandGuidelines(ethics=False), workspace.modules["hero"].module, {"headline": "Hi"}, "en")
    assert scored.score is None and scored.band == "low" and scored.guidelines == ()


def test_brand_check_lists_the_riskiest_variant_first(workspace_dir: Path, tmp_path: Path) -> None:
    """The pushy one scores under the example's floor: it is not queued (guardrail_failed) but still listed."""
    url = f"sqlite:///{tmp_path / 'brand.db'}"
    store = Store(url)
    for ident, slots in (("v-calm", {"label": "Plan a rollout", "note": "With your team."}), ("v-pushy", PUSHY_CTA)):
        add_cta(store, ident, slots)
    where = ["--workspace", str(workspace_dir), "--database-url", url]
    lines = CliRunner().invoke(app, ["brand", "check", "--json", "--status", "", *where]).output.splitlines()
    scored = [json.loads(line) for line in lines]
    assert [(s["id"], s["brand"]["band"], s["status"]) for s in scored] == [
        ("v-pushy", "high", "guardrail_failed"),
        ("v-calm", "low", "pending"),
    ]
    table = CliRunner().invoke(app, ["brand", "check", "--status", "", *where])
    assert table.exit_code == 0 and table.output.index("v-pushy") < table.output.index("v-calm")
    assert "high 1, medium 0, low 1" in table.output
