"""The profile a caller sends with a render request.

A profile is per person and never leaves the serving path: only the cohort it
resolves to is used for generation (DESIGN invariant 1).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from variantly.errors import InvalidProfile, InvalidRequest

MAX_EVENTS = 5000
MAX_ID = 200
# A person's id as render and events take it: erasure and access ask for no other (``known_id``)
ProfileId = Annotated[str, Field(min_length=1, max_length=MAX_ID)]
RELATIVE_TIME = re.compile(r"^now(?:-(\d+(?:\.\d+)?)([mhd]))?$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


TIME_MESSAGE = "an ISO 8601 date-time, or a time relative to now such as 'now-3d'"
# How an event time's text starts: a year and its dash, or "now". pydantic reads digits alone as seconds or
# milliseconds since 1970, whichever their size suggests: a compact date "20261201" was an event of 1970-08-23.
TIME_START = r"^(?:\d{4}-|\s*now)"


def _ago(text: str) -> datetime:
    """A relative time ('now-3d', already matched by ``RELATIVE_TIME``) as a UTC time; one further back than any
    date can go is refused, with the one message every refusal of an event time gets (``EventTime``)."""
    ago = _relative(text)
    try:
        if ago is not None:
            return datetime.now(UTC) - ago
    except OverflowError:
        pass
    raise ValueError(TIME_MESSAGE)


class EventTime:
    """When an event happened, read by pydantic itself: an ISO 8601 time (or a ``datetime``), or a time relative to
    now ('now', 'now-3d', 'now-2h'), which example and fixture profiles use so they never age out of a window.

    Held as given: a time with an offset keeps it and one without has none. Rules compare it as the instant it
    names and read a time without an offset as UTC (``workspace.rules``), and nothing else reads it. A number is
    refused: the schema says a date-time string, and seconds or milliseconds since 1970 would be a guess.

    A schema of pydantic's own rather than a wrap validator in Python: 1.1 us an ISO-timed event against 2.3
    (timeit, 30 events, min of 9), which for a profile with a few dozen events was more than the rest of its
    render. A relative time still calls ``_ago``. Digits alone are refused as a number is (``TIME_START``). One
    message for every refusal, at the field."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        text_or_time = core_schema.union_schema(
            [core_schema.str_schema(strict=True, pattern=TIME_START), core_schema.is_instance_schema(datetime)],
            custom_error_type="event_time",
            custom_error_message=TIME_MESSAGE,
        )
        relative = core_schema.no_info_after_validator_function(
            _ago, core_schema.str_schema(strip_whitespace=True, pattern=RELATIVE_TIME.pattern)
        )
        time = core_schema.union_schema(
            [core_schema.datetime_schema(), relative],
            mode="left_to_right",
            custom_error_type="event_time",
            custom_error_message=TIME_MESSAGE,
        )
        return core_schema.chain_schema([text_or_time, time])

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "format": "date-time"}


class Event(BaseModel):
    """Something the person did, with when: behaviours are rules over these."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=100, examples=["page_view"])
    at: Annotated[datetime, EventTime] = Field(
        description="ISO 8601 time, or relative to now: 'now', 'now-3d', 'now-2h'"
    )
    properties: dict[str, Any] = Field(default_factory=dict)


@lru_cache(maxsize=256)
def _relative(text: str) -> timedelta | None:
    """How long ago a relative time ('now', 'now-3d') says, or None for other text starting with 'now' (made once
    per text)."""
    match = RELATIVE_TIME.match(text.strip())
    if match is None:
        return None
    amount, unit = match.groups()
    try:
        return timedelta(**{UNITS[unit]: float(amount)}) if amount else timedelta()
    except OverflowError:
        return timedelta.max  # too far back for any date: refused where it is subtracted from now


class Consent(BaseModel):
    """Consent flags. A flag that is missing means no. Each channel in the registry that needs consent names
    its flag here (``Channel.consent``)."""

    model_config = ConfigDict(extra="forbid")

    personalisation: StrictBool = False
    marketing_email: StrictBool = False
    marketing_sms: StrictBool = False
    marketing_push: StrictBool = False


def count_first(value: Any, field: str, limit: int, advice: str) -> None:
    """Refuse a list over ``limit`` before pydantic validates its items one by one (a cheap 422, not seconds of CPU)."""
    items = value.get(field) if isinstance(value, dict) else None
    if isinstance(items, list) and len(items) > limit:
        raise ValueError(f"{field}: {len(items):,}, over the limit of {limit:,}: {advice}")


SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NUL_MESSAGE = "contains a NUL character (\\u0000), which no store can hold"
# Validation context for JSON bytes already known to hold no NUL escape (``no_nul_escape``): the text check can be
# skipped, since pydantic's own JSON parser refuses lone surrogates and raw control characters.
NUL_FREE = {"nul_free": True}


def no_nul_escape(body: bytes) -> bool:
    """True when JSON ``body`` cannot decode to a NUL: the only way to write one in JSON is the escape ``\\u0000``
    (an escaped backslash before ``u0000`` is a false alarm, and only costs the full check)."""
    return b"\\u0000" not in body


def reject_invalid_text(value: Any, where: str = "") -> Any:
    """Refuse strings that are not valid Unicode (a lone surrogate such as "\\ud800") or hold a NUL.

    JSON can carry both, but a surrogate cannot be encoded, hashed or stored, and
    PostgreSQL refuses NUL in text; deep inside render or the store either would be a
    500, and on SQLite the same input would pass: at the edge they are a 422 that names
    the field, on every store. One C-speed encode checks the whole value (every render
    request pays this: a few microseconds); only a value that fails it is walked, to name
    the field.
    """
    try:
        if b"\\u0000" not in orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS):
            return value
    except orjson.JSONEncodeError:
        pass  # a surrogate, or something JSON cannot hold: walk to find it and name it
    _walk(value, where)
    return value


def _walk(value: Any, where: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where or 'a value'} is not valid Unicode text (a lone surrogate)") from None
        if "\x00" in value:
            raise ValueError(f"{where or 'a value'} {NUL_MESSAGE}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(key, f"a key of {where}" if where else "a key")
            named = key if isinstance(key, str) and SAFE_KEY.match(key) else "(a key)"  # the input is never echoed
            _walk(item, f"{where}.{named}".lstrip("."))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, f"{where}.{i}".lstrip("."))


def in_utc(value: datetime) -> datetime:
    """A time as UTC (a time without an offset is taken as UTC); one that leaves the calendar once its offset
    is applied (``9999-12-31T23:59:59-23:00``) is a ``ValueError`` naming the range, not an overflow at the store."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("a time outside the years 1 to 9999 once its offset is applied") from None


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _storable_text(self, info: ValidationInfo) -> Profile:
        """Text no store can hold (a NUL, a lone surrogate) refused, naming the field; skipped for JSON known to be
        free of NUL (``NUL_FREE``), since pydantic's JSON parser refuses lone surrogates itself.

        After validation, not before: a model validator that runs before makes pydantic turn the JSON into Python
        objects first and validate those, 4 us of a landing profile's 13 (timeit). The event count needs no check
        first (``count_first``): ``max_length`` stops at the 5,001st event from Python, and the JSON is bounded by
        the route's body limit."""
        if not (info.context or {}).get("nul_free"):
            events = [{"type": event.type, "properties": event.properties} for event in self.events]
            reject_invalid_text({"id": self.id, "traits": self.traits, "events": events})
        return self

    id: ProfileId
    traits: dict[str, Any] = Field(default_factory=dict)
    events: list[Event] = Field(default_factory=list, max_length=MAX_EVENTS)
    consent: Consent = Field(default_factory=Consent)

    def trait(self, dotted: str) -> Any:
        """Look up ``support.open_critical_tickets`` style paths; None when absent."""
        if "." not in dotted:
            return self.traits.get(dotted)
        value: Any = self.traits
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value


def parse_profile(text: str, source: str) -> Profile:
    """A profile from JSON text; a mistake is ``InvalidProfile`` naming ``source`` and each bad field."""
    try:
        return Profile.model_validate_json(text)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'profile'}: {e['msg']}" for e in exc.errors())
        raise InvalidProfile(f"{source}: {fields}") from None


def known_id(profile_id: str, field: str = "profile_id") -> str:
    """An id a profile or an event can have (``ProfileId``, which the API's models declare), checked again where
    erasure and access are done, for the command line: an empty id (a stray argument) or a pasted paragraph was
    erased as if it were a person, with a privacy-log entry."""
    if not 1 <= len(profile_id) <= MAX_ID:
        raise InvalidRequest(field, f"a profile id is 1 to {MAX_ID} characters, as render and events take it")
    return profile_id
