"""A page's decisions are signed together, and each signature still checks on its own."""

from __future__ import annotations

from variantly.serving.decide import Decision
from variantly.serving.signatures import decision_signature, sign_decisions, valid


def test_a_page_signed_together_verifies_decision_by_decision() -> None:
    """``sign_decisions`` shares the profile's part of the hash across a page: every signature must be the one
    ``decision_signature`` makes alone, and an event's check (``valid``) must accept it and refuse it for another
    module, variant, arm, cohort or person."""
    decisions = [
        Decision("hero", "variant", "segment=enterprise;locale=sv", "treatment", "v-1", "segment=*;locale=sv"),
        Decision("cta", "alternative", "behaviour=open_support_ticket;locale=en", "treatment", rule="open_ticket"),
        Decision("hero_image", "default", "locale=en", "control"),
        Decision("åäö \u2603", "default", "", "none"),
    ]
    for key in (b"k", b"x" * 64, b"y" * 99):
        for person in ("anna-2041", "Åsa \u2603", ""):
            signed = sign_decisions(key, person, decisions, 1_764_000_000_123_456)
            for decision, signature in zip(decisions, signed, strict=True):
                fields = (decision.module, decision.variant_id, decision.arm, decision.cohort)
                assert signature == decision_signature(key, person, *fields, 1_764_000_000_123_456)
                assert valid(key, signature, person, *fields)
                assert not valid(key, signature, person + "x", *fields)
                assert not valid(key, signature, person, decision.module, "v-2", decision.arm, decision.cohort)
                assert not valid(key, signature, person, decision.module, decision.variant_id, "x", decision.cohort)
