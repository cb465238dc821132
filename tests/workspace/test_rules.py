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
def test_an_event_property_sent_as_text_matches_the_number_a_rule_asks_for(seats, matched) -> None:
    test = EventRule.model_validate({"event": "purchase", "where": {"seats": 3, "plan": "team"}}).test
    event = {"type": "purchase", "at": "now", "properties": {"seats": seats, "plan": "team"}}
    assert test(Profile(id="t", events=[event]), datetime.now(UTC), lambda *a: False) is matched


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
