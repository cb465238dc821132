"""Calibration: each guideline's check against people's labels, with figures checked against statsmodels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint
from typer.testing import CliRunner

from conftest import REPO
from variantly.authoring.brand_calibration import calibrate, cohen_kappa, read_labelled, wilson
from variantly.authoring.brand_score import score_copy
from variantly.cli import app
from variantly.errors import InvalidRequest
from variantly.workspace import load_workspace

LABELLED = REPO / "examples" / "brand_labelled.jsonl"


@pytest.mark.parametrize("matrix", [(8, 2, 1, 27), (3, 7, 0, 8), (2, 3, 3, 9), (5, 0, 0, 10), (1, 4, 6, 2)])
def test_kappa_is_cohens_as_statsmodels_computes_it(matrix: tuple[int, int, int, int]) -> None:
    both_fail, only_check, only_people, both_pass = matrix
    table = [[both_fail, only_check], [only_people, both_pass]]  # rows: the check; columns: people
    assert cohen_kappa(*matrix) == pytest.approx(cohens_kappa(table).kappa, abs=1e-12)


@pytest.mark.parametrize("successes, trials", [(0, 5), (3, 3), (8, 9), (7, 15), (1, 40)])
def test_intervals_are_wilsons_as_statsmodels_computes_them(successes: int, trials: int) -> None:
    ours = wilson(successes, trials)
    low, high = proportion_confint(successes, trials, alpha=0.05, method="wilson")
    assert (ours.low, ours.high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    assert ours.value == successes / trials


def test_the_example_labelled_set_covers_both_languages_and_every_measured_guideline_failing() -> None:
    workspace = load_workspace(REPO)
    lines = read_labelled(LABELLED)
    assert len(lines) >= 60 and {line.locale for line in lines} == {"en", "sv"}
    agreements = {a.guideline: a for a in calibrate(workspace.brand, lines)}
    measured = [g.id for g in workspace.brand.guidelines if not g.judged]
    assert all(agreements[g].both_fail + agreements[g].only_people_fail > 0 for g in measured)  # people fail each
    assert agreements["no_superlatives"].kappa > 0.6 and agreements["speak_to_the_reader"].advisory
    assert not agreements["cta_starts_with_a_verb"].checked  # judged: no judge yet


def test_an_advisory_guideline_is_shown_but_never_decides_the_band(workspace_dir: Path) -> None:
    workspace = load_workspace(workspace_dir)
    assert "short_sentences" in workspace.brand.advisory  # the example calibration file says so
    long_sentence = {"customer": "Nordhem", "story": " ".join(["word"] * 30) + "."}
    scored = score_copy(workspace.brand, "example", None, long_sentence, "en")
    failed = {g.id: g for g in scored.failed}
    assert failed["short_sentences"].advisory and failed["short_sentences"].kappa is not None
    assert scored.band == "low" and scored.score < 100  # a medium-severity failure, advisory: counted, not banded
    (workspace_dir / "guardrails" / "brand_calibration.json").unlink()
    uncalibrated = score_copy(load_workspace(workspace_dir).brand, "example", None, long_sentence, "en")
    assert uncalibrated.band == "medium"


def test_a_bad_labelled_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text(
        '{"kind": "cta", "locale": "en", "copy": "Book a demo", "labels": {"no_emoji": true}}\n'
        '{"kind": "banner", "locale": "en", "copy": "x", "labels": {"no_emoji": "maybe"}}\n'
    )
    with pytest.raises(InvalidRequest, match=r"labels\.jsonl:2: kind: .*labels\.no_emoji"):
        read_labelled(path)


def test_calibrate_prints_the_table_and_writes_the_figures_the_ui_shows(workspace_dir: Path) -> None:
    target = workspace_dir / "guardrails" / "brand_calibration.json"
    target.unlink()
    said = CliRunner().invoke(app, ["brand", "calibrate", str(LABELLED), "--workspace", str(workspace_dir)])
    assert said.exit_code == 0, said.output
    assert "calm_not_urgent" in said.output and "advisory" in said.output
    written = json.loads(target.read_text())
    assert {a["guideline"] for a in written["agreements"]} >= {"calm_not_urgent", "no_emoji"}
    assert load_workspace(workspace_dir).brand.kappa["calm_not_urgent"] == pytest.approx(
        next(a["kappa"] for a in written["agreements"] if a["guideline"] == "calm_not_urgent")
    )
