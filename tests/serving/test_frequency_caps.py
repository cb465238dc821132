"""Never pushy: past a module's frequency cap a person gets the default."""

from __future__ import annotations

from fastapi.testclient import TestClient

from conftest import consenting_profile, shown


def test_frequency_cap_reached_gets_the_default(served_app) -> None:
    me = consenting_profile("capped-1")  # startup, en: the cta has an approved variant for this cohort
    with TestClient(served_app) as client:
        pages = [client.post("/v1/render", json={"module": "cta", "profile": me}) for _ in range(5)]
        decisions = [page.json()["decisions"][0] for page in pages]
        assert all(d["outcome"] == "variant" and d["arm"] == "treatment" for d in decisions)
        replayed = shown(decisions[:1], "capped-1") * 3
        assert client.post("/v1/events", json={"events": replayed}).json()["accepted"] == 1  # one page shown once
        client.post("/v1/events", json={"events": shown(decisions, "capped-1")})  # cap: 5 in 7 days
        capped = client.post("/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
        other = client.post("/v1/render", json={"module": "hero", "profile": me}).json()["decisions"][0]
    assert capped["outcome"] == "default"
    assert capped["reasons"][-1] == "default: frequency cap reached (5 personalised impressions in 7 days, cap 5)"
    assert other["outcome"] == "variant"  # the cap is per module
