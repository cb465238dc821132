"""Reports are typed; what earlier versions stored still reads back, the same, everywhere it is shown."""

from __future__ import annotations

from fastapi.testclient import TestClient

from variantly.authoring.report import CheckReport, Failure, VariantReport
from variantly.store.schema import VariantRow
from variantly.store.variants import add_variant

# A generated variant's report exactly as the version before typed reports wrote it.
PREVIOUS_VERSION = {
    "passed": False,
    "policy_hash": "949d8c7fb69f6777",
    "slots": {
        "label": [{"validator": "variantly/banned_phrases", "message": "banned phrase 'buy now'", "spans": [[0, 7]]}],
        "note": [],
    },
    "summary": "label: banned phrase 'buy now'",
    "attempts": [
        {
            "slots": {"label": "Buy now", "note": "Today only."},
            "report": {"passed": False, "policy_hash": "949d8c7fb69f6777", "slots": {}, "summary": "label: x"},
        }
    ],
    "prompt_cuts": ["audience descriptions"],
    "run_id": "4f1c2b3a9d8e",
    "prompt_tokens": 512,
    "redacted": True,
}


def test_a_report_the_previous_version_stored_reads_back_with_every_field() -> None:
    report = VariantReport.from_stored(PREVIOUS_VERSION)
    assert report.check.passed is False and report.check.summary == "label: banned phrase 'buy now'"
    assert report.check.slots["label"] == (
        Failure(validator="variantly/banned_phrases", message="banned phrase 'buy now'", spans=((0, 7),)),
    )
    assert report.generation is not None and report.generation.run_id == "4f1c2b3a9d8e"
    assert report.generation.redacted and report.generation.prompt_cuts == ("audience descriptions",)
    assert report.generation.attempts[0].slots["label"] == "Buy now"
    again = report.stored()
    assert {k: again[k] for k in PREVIOUS_VERSION if k != "attempts"} == {
        k: v for k, v in PREVIOUS_VERSION.items() if k != "attempts"
    }


def test_an_old_constraint_only_report_and_a_missing_one_read_as_what_they_are() -> None:
    old_import = {"passed": False, "failures": [{"slot": "label", "validator": "slot_length", "message": "too long"}]}
    report = VariantReport.from_stored(old_import | {"summary": "too long"})
    assert [(where, f.message) for where, f in report.check.failures()] == [("label", "too long")]
    nothing = VariantReport.from_stored({})
    assert not nothing.check.passed and nothing.check.summary == "not checked"


def test_the_summary_names_slots_and_channel_messages() -> None:
    report = CheckReport.of(
        {"label": [Failure(validator="v/a", message="too loud")], "note": []},
        "h",
        channels={"sms": [Failure(validator="variantly/channel_rules", message="costs 3 SMS segment(s)")]},
        unchecked=["lumen/no_shouting"],
    )
    assert not report.passed
    assert report.summary.startswith("label: too loud; sms message: costs 3 SMS segment(s) (not run: lumen/no_shouting")
    assert report.problems() == ["label: too loud", "sms message: costs 3 SMS segment(s)"]


def test_a_row_of_the_previous_version_shows_in_the_api_and_the_queue(served_app) -> None:
    store = served_app.state.service.store
    row = VariantRow(
        id="old-row-1",
        module_id="cta",
        cohort_key="segment=startup;behaviour=*;locale=en",
        locale="en",
        slots={"label": "Buy now", "note": "Today only."},
        status="guardrail_failed",
        module_hash=served_app.state.service.workspace.modules["cta"].content_hash,
        source="generated",
        report=PREVIOUS_VERSION,
    )
    add_variant(store, row, actor="old-version")
    from variantly.auth import create_account

    token = create_account(store, "rita", "reviewer")
    with TestClient(served_app) as client:
        shown = client.get("/v1/variants/old-row-1", headers={"Authorization": f"Bearer {token}"})
        assert shown.status_code == 200
        assert shown.json()["report"]["slots"]["label"][0]["spans"] == [[0, 7]]
        assert shown.json()["report"]["run_id"] == "4f1c2b3a9d8e"


def test_a_reviewer_reads_what_copy_was_checked_under_in_words() -> None:
    """The page showed "policy 949d8c7fb69f6777.a1b2c3.3": the identity a re-check compares, opaque to a person."""
    assert CheckReport.of({}, "949d8c7fb69f6777.a1b2c3.3").checked_under == "policy 949d8c7fb69f6777, checks revision 3"
    partly = CheckReport.of({}, "949d8c7fb69f6777.a1b2c3.3p").checked_under
    assert partly == "policy 949d8c7fb69f6777, checks revision 3, custom validators not run"
    assert CheckReport.of({}, "949d8c7fb69f6777").checked_under == "policy 949d8c7fb69f6777"  # stored before
    assert CheckReport.of({}, "").checked_under == ""
