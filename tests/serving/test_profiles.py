"""Event times in a profile: ISO 8601 or relative to now, compared as the instant they name (UTC when no offset is
given), and one clear error at the field otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from variantly.serving.profiles import TIME_MESSAGE, Profile
from variantly.workspace.rules import EventRule


def event_at(at: object) -> datetime:
    return Profile.model_validate({"id": "p", "events": [{"type": "page_view", "at": at}]}).events[0].at


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("now", timedelta()),
        ("now-2h", timedelta(hours=2)),
        (" now-1.5d ", timedelta(days=1.5)),
        ("now-90m", timedelta(minutes=90)),
    ],
)
def test_a_relative_time_is_that_long_before_now_in_utc(text: str, ago: timedelta) -> None:
    for _ in range(2):  # the second time from the remembered reading of the text
        before = datetime.now(UTC)
        at = event_at(text)
        after = datetime.now(UTC)
        assert at.tzinfo is UTC and before - ago <= at <= after - ago


def test_an_iso_time_is_the_instant_it_names_and_one_without_an_offset_is_utc() -> None:
    assert event_at("2026-01-01T00:00:00+05:00") == datetime(2025, 12, 31, 19, tzinfo=UTC)
    # a rule reads it: the naive morning event is within a day of the evening, the one at +14:00 (26 h before) is not
    rule = EventRule(event="page_view", within_days=1)
    evening = datetime(2026, 1, 1, 20, tzinfo=UTC)
    for at, within in (("2026-01-01T08:00:00", True), ("2026-01-01T08:00:00+14:00", False)):
        profile = Profile.model_validate({"id": "p", "events": [{"type": "page_view", "at": at}]})
        assert rule.test(profile, evening, lambda *_: False) is within, at


@pytest.mark.parametrize(("at", "within"), [("9999-12-31T23:59:59-23:00", True), ("0001-01-01T00:00:00+14:00", False)])
def test_a_time_at_the_calendars_edge_is_taken_and_compared_without_error(at: str, within: bool) -> None:
    """Held as given, it is never moved past the calendar's edge: rules compare it as the instant it names (a window
    has a start, not an end)."""
    profile = Profile.model_validate({"id": "p", "events": [{"type": "page_view", "at": at}]})
    assert EventRule(event="page_view", within_days=1).test(profile, datetime.now(UTC), lambda *_: False) is within


@pytest.mark.parametrize(
    "given",
    [
        "now-99999999999999999999d",
        "now-1000000d",
        "nowish",
        "yesterday",
        " 2026-01-01T00:00:00Z",
        1764000000,
        True,
        None,
    ],
)
def test_a_time_that_cannot_be_is_refused_at_the_field_with_one_message(given: object) -> None:
    for validate in (Profile.model_validate, lambda p: Profile.model_validate_json(json.dumps(p))):
        with pytest.raises(ValidationError) as refused:
            validate({"id": "p", "events": [{"type": "page_view", "at": given}]})
        (error,) = refused.value.errors()
        assert error["loc"] == ("events", 0, "at") and error["msg"] == TIME_MESSAGE, error
