"""Never pushy, and proven: caps, holdout, idempotent events, lift with honest intervals."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from variantly.api import create_app
from variantly.auth import create_account
from variantly.authoring.constraints import check_constraints
from variantly.authoring.importing import import_variants
from variantly.reporting.lift import compare
from variantly.serving.holdout import arm_for

STARTUP = "segment=startup;behaviour=*;locale=en"


def profile(pid: str, **traits) -> dict:
    return {
        "id": pid,
        "traits": {"company_size": 20, "locale": "en"} | traits,
        "consent": {"personalisation": True, "marketing_email": True},
    }


def test_holdout_share_is_within_one_point_and_stable() -> None:
    ids = [f"user-{i}" for i in range(100_000)]
    control = sum(arm_for(i, "lumen-2026", 10) == "control" for i in ids) / len(ids)
    assert abs(control - 0.10) < 0.01
    assert all(arm_for(i, "lumen-2026", 10) == arm_for(i, "lumen-2026", 10) for i in ids[:1000])
    assert abs(sum(arm_for(i, "other-salt", 25) == "control" for i in ids) / len(ids) - 0.25) < 0.01


@pytest.fixture
def app(workspace_dir: Path, database_url: str):
    app = create_app(workspace_dir, database_url)
    svc = app.state.service
    import_variants(
        svc.store,
        svc.workspace,
        workspace_dir / "examples" / "variants.jsonl",
        actor="t",
        check=check_constraints,
        approve=True,
    )
    svc.refresh_release()
    return app


def test_duplicate_events_are_counted_once(app) -> None:
    event = {
        "type": "impression",
        "profile_id": "p1",
        "module": "cta",
        "variant_id": "v1",
        "arm": "treatment",
        "idempotency_key": "send-42:p1:cta",
    }
    derived = {
        "type": "conversion",
        "profile_id": "p1",
        "module": "cta",
        "arm": "treatment",
        "at": "2026-11-20T10:00:00Z",
    }
    with TestClient(app) as client:
        first = client.post("/v1/events", json={"events": [event, event, derived]}).json()
        again = client.post("/v1/events", json={"events": [event, derived]}).json()
    assert first == {"accepted": 2, "duplicates": 1}
    assert again == {"accepted": 0, "duplicates": 2}
    with app.state.service.store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from events").scalar() == 2


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "purchase", "profile_id": "p", "arm": "treatment"}, "type"),
        ({"type": "click", "arm": "treatment"}, "profile_id"),
        ({"type": "click", "profile_id": "p", "arm": "test"}, "arm"),
        ({"type": "click", "profile_id": "p", "arm": "control", "at": "soon"}, "at"),
    ],
)
def test_bad_events_get_422_naming_the_field(app, event: dict, field: str) -> None:
    with TestClient(app) as client:
        response = client.post("/v1/events", json={"events": [event]})
    assert response.status_code == 422 and field in json.dumps(response.json())


def test_event_for_an_unknown_module_is_404(app) -> None:
    with TestClient(app) as client:
        response = client.post(
            "/v1/events", json={"events": [{"type": "click", "profile_id": "p", "module": "nav", "arm": "none"}]}
        )
    assert response.status_code == 404 and "events.0.module" in response.json()["error"]["message"]


def test_frequency_cap_reached_gets_the_default(app) -> None:
    me = profile("capped-1")  # startup, en: the cta has an approved variant for this cohort
    with TestClient(app) as client:
        decision = client.post("/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
        assert decision["outcome"] == "variant" and decision["arm"] == "treatment"
        seen = [
            {
                "type": "impression",
                "profile_id": "capped-1",
                "module": "cta",
                "variant_id": decision["variant_id"],
                "arm": "treatment",
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


def test_intervals_recover_a_known_lift() -> None:
    """Statistics alone: 200 simulated experiments, the 95% interval covers the truth ~95% of the time."""
    rng = random.Random(20261122)
    true_c, true_t, n = 0.05, 0.065, 4000
    covered_abs = covered_rel = 0
    for _ in range(200):
        c_c = sum(rng.random() < true_c for _ in range(n))
        c_t = sum(rng.random() < true_t for _ in range(n))
        result = compare(n, c_t, n, c_c)
        covered_abs += result["absolute_ci"][0] <= true_t - true_c <= result["absolute_ci"][1]
        covered_rel += result["relative_ci"][0] <= true_t / true_c - 1 <= result["relative_ci"][1]
    assert 0.90 <= covered_abs / 200 <= 0.99
    assert 0.90 <= covered_rel / 200 <= 0.99


def test_small_samples_are_flagged_not_concluded() -> None:
    result = compare(40, 4, 30, 1)
    assert result["warning"].startswith("too few to conclude") and result["significant"] is False


def test_simulated_experiment_finds_the_true_lifts_and_moves_traffic(workspace_dir: Path, tmp_path: Path) -> None:
    """20,000 profiles through the real render-batch and events endpoints.

    True conversion rates: default (holdout) 4%, variant A 5%, variant B 8%. Seeds are fixed,
    so the run is repeatable; each 95% interval would miss the truth 5% of the time by chance.
    """
    variants = tmp_path / "ab.jsonl"
    lines = [
        {
            "module": "cta",
            "cohort": {"segment": "startup", "locale": "en"},
            "slots": {"label": label, "note": "No credit card needed."},
        }
        for label in ("Try Lumen free", "See your customers in one place")
    ]
    variants.write_text("\n".join(json.dumps(line) for line in lines))
    app = create_app(workspace_dir, f"sqlite:///{tmp_path / 'sim.db'}")
    svc = app.state.service
    import_variants(svc.store, svc.workspace, variants, actor="t", check=check_constraints, approve=True)
    svc.refresh_release()
    svc.activity.rng = random.Random(7)
    rng = random.Random(11)
    (a_id, b_id) = sorted((v.id, v.slots["label"]) for v in svc.release.candidates("cta", STARTUP))
    by_label = {a_id[1]: a_id[0], b_id[1]: b_id[0]}
    rate = {None: 0.04, by_label["Try Lumen free"]: 0.05, by_label["See your customers in one place"]: 0.08}
    reviewer = create_account(svc.store, "analyst", "reviewer")
    served: dict[str | None, int] = {}
    arms = {"treatment": 0, "control": 0}
    with TestClient(app) as client:
        for round_ in range(20):
            profiles = [profile(f"sim-{round_}-{i}") for i in range(1000)]
            with client.stream("POST", "/v1/render/batch", json={"module": "cta", "profiles": profiles}) as response:
                results = [json.loads(line) for line in response.iter_lines() if line]
            events = []
            for result in results:
                decision = result["decisions"][0]
                arms[decision["arm"]] += 1
                served[decision["variant_id"]] = served.get(decision["variant_id"], 0) + 1
                common = {
                    "profile_id": result["profile_id"],
                    "module": "cta",
                    "variant_id": decision["variant_id"],
                    "arm": decision["arm"],
                    "cohort": decision["cohort"],
                }
                events.append({"type": "impression", **common})
                if rng.random() < rate[decision["variant_id"]]:
                    events.append({"type": "conversion", **common})
            assert client.post("/v1/events", json={"events": events}).status_code == 200
        report = client.get(
            "/v1/reports/lift", params={"module": "cta"}, headers={"Authorization": f"Bearer {reviewer}"}
        ).json()["rows"]
    assert abs(arms["control"] / 20_000 - 0.10) < 0.01
    better = by_label["See your customers in one place"]
    assert served[better] / arms["treatment"] > 0.7, served  # Thompson sampling found the better variant
    rows = {(r["level"], r["variant_id"]): r for r in report}
    for label, true_lift in (("Try Lumen free", 0.01), ("See your customers in one place", 0.04)):
        row = rows[("variant", by_label[label])]
        low, high = row["absolute_ci"]
        assert low <= true_lift <= high, (label, row)
    assert rows[("variant", better)]["significant"] is True
    module_row = rows[("module", None)]
    assert module_row["control_n"] == arms["control"] and module_row["absolute_lift"] > 0
