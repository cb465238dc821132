"""Event times in a profile: ISO 8601 or relative to now, always held in UTC, and a clear error otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from variantly.serving.profiles import Profile


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


def test_an_iso_time_with_an_offset_is_held_in_utc() -> None:
    assert event_at("2026-01-01T00:00:00+05:00") == datetime(2025, 12, 31, 19, tzinfo=UTC)
    assert event_at("2026-01-01T00:00:00+05:00").utcoffset() == timedelta()
    assert event_at("2026-01-01T08:00:00") == datetime(2026, 1, 1, 8, tzinfo=UTC)  # no offset: taken as UTC


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("now-99999999999999999999d", "further back than a date can go"),
        ("now-1000000d", "further back than a date can go"),
        ("nowish", "valid datetime"),
        (1764000000, "date-time string"),
        ("9999-12-31T23:59:59-23:00", "outside the years 1 to 9999"),
    ],
)
def test_a_time_that_cannot_be_is_refused_naming_the_field(given: object, said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        event_at(given)
    (error,) = refused.value.errors()
    assert error["loc"] == ("events", 0, "at") and said in error["msg"]
