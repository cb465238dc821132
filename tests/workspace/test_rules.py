"""Audience rules as data: what they read from a profile, and what a cohort alone can say about them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter

from variantly.serving.profiles import Profile
from variantly.workspace.rules import EventRule, Rule, TraitRule, holds_for_cohort


@pytest.mark.parametrize(
    ("rule", "value", "matched"),
    [
        ({"trait": "tier", "in": [1, 2]}, "2", True),
        ({"trait": "tier", "in": [1, 2]}, "3", False),
        ({"trait": "tier", "in": ["1", "2"]}, 2, False),  # text in the rule is compared as text
        ({"trait": "tier", "equals": 2}, " 2.0 ", True),
        ({"trait": "tier", "equals": "2"}, "2.0", False),
        ({"trait": "vip", "equals": False}, "False", True),
    ],
)
def test_a_rule_comparing_with_numbers_or_flags_reads_text_that_spells_one(rule, value, matched) -> None:
    test = TraitRule.model_validate(rule).test
    assert test(Profile(id="t", traits={rule["trait"]: value}), datetime.now(UTC), lambda *a: False) is matched


@pytest.mark.parametrize(("seats", "matched"), [(3, True), ("3", True), (" 3.0 ", True), ("three", False), (4, False)])
@pytest.mark.parametrize("where", [{"seats": 3, "plan": "team"}, {"seats": 3}])  # several properties, or one
def test_an_event_property_sent_as_text_matches_the_number_a_rule_asks_for(seats, matched, where) -> None:
    test = EventRule.model_validate({"event": "purchase", "where": where}).test
    event = {"type": "purchase", "at": "now", "properties": {"seats": seats, "plan": "team"}}
    assert test(Profile(id="t", events=[event]), datetime.now(UTC), lambda *a: False) is matched


@pytest.mark.parametrize(
    ("path", "matched"),
    [
        ("/pricing", True),
        ("/pricing/", True),
        ("/pricing?ref=nav", True),
        ("/pricing/enterprise", True),
        ("/blog/pricing", False),
        (3, False),
        (None, False),
    ],
)
def test_an_event_property_can_be_matched_by_how_it_starts(path, matched) -> None:
    """A CDP sends the same page as ``/pricing/`` or ``/pricing?ref=nav``: a rule asking for ``path: /pricing`` missed
    them, so the pricing researcher behaviour went to nobody on a site whose paths end in a slash."""
    rule = EventRule.model_validate({"event": "page_view", "where": {"path": {"prefix": "/pricing"}}})
    event = {"type": "page_view", "at": "now", "properties": {"path": path}}
    assert rule.test(Profile(id="t", events=[event]), datetime.now(UTC), lambda *a: False) is matched
    assert rule.describe() == "event page_view path starting '/pricing'"


def test_an_event_property_test_that_is_not_one_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="prefix"):
        EventRule.model_validate({"event": "page_view", "where": {"path": {"prefx": "/pricing"}}})


RULE = TypeAdapter(Rule)
TICKET = {"behaviour": "open_support_ticket", "segment": "enterprise", "locale": "en"}


@pytest.mark.parametrize(
    ("rule", "holds"),
    [
        ({"matches": "behaviour.open_support_ticket"}, True),
        ({"matches": "behaviour.pricing_researcher"}, None),  # another audience of the dimension: may hold too
        ({"matches": "industry.retail"}, None),  # a dimension the cohort does not name
        ({"always": True}, True),
        ({"trait": "support.open_critical_tickets", "gte": 1}, None),  # the person's own
        ({"not": {"matches": "behaviour.open_support_ticket"}}, False),
        ({"not": {"trait": "x", "exists": True}}, None),
        ({"any": [{"trait": "x", "exists": True}, {"matches": "behaviour.open_support_ticket"}]}, True),
        ({"any": [{"trait": "x", "exists": True}, {"matches": "segment.startup"}]}, None),
        ({"all": [{"matches": "segment.enterprise"}, {"matches": "behaviour.open_support_ticket"}]}, True),
        ({"all": [{"trait": "x", "exists": True}, {"not": {"matches": "segment.enterprise"}}]}, False),
        ({"all": [{"trait": "x", "exists": True}, {"matches": "segment.enterprise"}]}, None),
    ],
)
def test_a_cohort_says_whether_a_rule_holds_for_everyone_in_it_or_that_it_cannot(rule, holds) -> None:
    assert holds_for_cohort(RULE.validate_python(rule), TICKET) is holds


def test_a_cohort_that_leaves_a_dimension_open_says_nothing_of_its_audiences() -> None:
    rule = RULE.validate_python({"matches": "behaviour.open_support_ticket"})
    assert holds_for_cohort(rule, {"behaviour": "*", "locale": "en"}) is None


@pytest.mark.parametrize(
    ("properties", "matched"),
    [
        ({"path": "/pricing/team", "seats": "3", "plan": "team"}, True),
        ({"path": "/pricing/team", "seats": 4, "plan": "team"}, False),
        ({"path": "/docs", "seats": 3, "plan": "team"}, False),
        ({"path": "/pricing", "seats": 3, "plan": "pro"}, False),
        ({"seats": 3, "plan": "team"}, False),
    ],
)
def test_every_property_a_rule_names_must_match(properties, matched) -> None:
    where = {"path": {"prefix": "/pricing"}, "seats": 3, "plan": "team"}
    rule = EventRule.model_validate({"event": "purchase", "where": where})
    event = {"type": "purchase", "at": "now", "properties": properties}
    assert rule.test(Profile(id="t", events=[event]), datetime.now(UTC), lambda *a: False) is matched
