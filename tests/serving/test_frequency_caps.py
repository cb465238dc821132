"""Never pushy: past a module's frequency cap a person gets the default."""

from __future__ import annotations

from fastapi.testclient import TestClient

from conftest import consenting_profile


def test_frequency_cap_reached_gets_the_default(served_app) -> None:
    me = consenting_profile("capped-1")  # startup, en: the cta has an approved variant for this cohort
    with TestClient(served_app) as client:
        decision = client.post("/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
        assert decision["outcome"] == "variant" and decision["arm"] == "treatment"
        seen = [
            {
                "type": "impression",
                "profile_id": "capped-1",
                "module": "cta",
                "variant_id": decision["variant_id"],
                "arm": "treatment",
                "cohort": decision["cohort"],
                "signature": decision["signature"],
                "idempotency_key": f"imp-{i}",
            }
            for i in range(5)
        ]  # cap: 5 in 7 days
        client.post("/v1/events", json={"events": seen})
        capped = client.post("/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
        other = client.post("/v1/render", json={"module": "hero", "profile": me}).json()["decisions"][0]
    assert capped["outcome"] == "default"
    assert capped["reasons"][-1] == "default: frequency cap reached (5 personalised impressions in 7 days, cap 5)"
    assert other["outcome"] == "variant"  # the cap is per module
