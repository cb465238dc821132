"""Importing variants written elsewhere: checked, queued, idempotent, never half-applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from variantly.authoring.constraints import check_constraints
from variantly.authoring.importing import import_variants
from variantly.errors import ImportFileError
from variantly.store.variants import approved_rows, history


def test_example_variants_import_as_approved_and_publish(store, workspace, workspace_dir: Path) -> None:
    summary = import_variants(
        store,
        workspace,
        workspace_dir / "examples" / "variants.jsonl",
        actor="demo",
        check=check_constraints,
        approve=True,
    )
    lines = (workspace_dir / "examples" / "variants.jsonl").read_text().splitlines()
    assert summary.added == summary.approved == len(lines) >= 30
    assert store.release_number() == 1
    served = approved_rows(store)
    assert {v.cohort_key.rsplit("locale=", 1)[1] for v in served} == {"en", "sv"}
    assert [e.action for e in history(store, served[0].id)] == ["create", "approve"]


def test_importing_twice_adds_nothing(store, workspace, workspace_dir: Path) -> None:
    path = workspace_dir / "examples" / "variants.jsonl"
    import_variants(store, workspace, path, actor="demo", check=check_constraints, approve=True)
    again = import_variants(store, workspace, path, actor="demo", check=check_constraints, approve=True)
    assert again.added == 0 and again.already_present > 0
    assert store.release_number() == 1


def test_bad_lines_are_named_and_nothing_is_imported(store, workspace, tmp_path: Path) -> None:
    good = {
        "module": "cta",
        "cohort": {"segment": "startup", "locale": "en"},
        "slots": {"label": "Try it", "note": "Free."},
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps(good | {"module": "footer"}),
        json.dumps(good | {"cohort": {"segment": "whales", "locale": "en"}}),
        json.dumps(good | {"cohort": {"industry": "retail", "locale": "en"}}),
        json.dumps(good | {"slots": {"label": "Try it"}}),
        json.dumps(good | {"cohort": {"behaviour": "recent_purchase", "locale": "en"}}),  # never served
    ]
    path = tmp_path / "agency.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(ImportFileError) as excinfo:
        import_variants(store, workspace, path, actor="x", check=check_constraints)
    message = excinfo.value.message
    assert "nothing was imported" in message
    assert f"{path}:2: line: Invalid JSON" in message
    assert f"{path}:3: module: unknown module 'footer'" in message
    assert f"{path}:4: cohort.segment: unknown segment 'whales'" in message
    assert f"{path}:5: cohort.industry: module 'cta' does not vary by industry" in message
    assert f"{path}:6: slots: missing note" in message
    assert f"{path}:7: cohort: the suppression rule 'recent_buyer_onboarding' holds for everyone in it" in message
    assert approved_rows(store) == [] and store.release_number() == 0


def test_copy_that_breaks_a_slot_constraint_is_kept_as_guardrail_failed(store, workspace, tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text(
        json.dumps(
            {
                "module": "cta",
                "cohort": {"segment": "startup", "locale": "en"},
                "slots": {"label": "Start your completely free trial right now today", "note": "x"},
            }
        )
    )
    summary = import_variants(store, workspace, path, actor="x", check=check_constraints, approve=True)
    assert (summary.added, summary.approved, summary.failed) == (1, 0, 1)
    assert "over its max_chars 32" in summary.failures[0]
    assert approved_rows(store) == []
