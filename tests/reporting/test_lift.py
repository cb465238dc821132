"""Lift against the holdout: honest intervals, small samples flagged, a simulated experiment recovered."""

from __future__ import annotations

import json
import random
from pathlib import Path

from fastapi.testclient import TestClient

from conftest import consenting_profile, make_app
from variantly.auth import create_account
from variantly.authoring.constraints import check_constraints
from variantly.authoring.importing import import_variants
from variantly.reporting.lift import compare

STARTUP = "segment=startup;behaviour=*;locale=en"


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
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'sim.db'}")
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
            profiles = [consenting_profile(f"sim-{round_}-{i}") for i in range(1000)]
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
                    "signature": decision["signature"],  # as a landing page sends it back, without a token
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
