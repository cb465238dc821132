"""Lift against the holdout, as an analyst defends it: in money as well as conversions, read every day without
crying wolf, blocked when the split is broken, adjusted when many rows are compared, and a simulated experiment
recovered through the real endpoints."""

from __future__ import annotations

import json
import math
import random
import re
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from statsmodels.stats.multitest import multipletests
from typer.testing import CliRunner

from conftest import consenting_profile, make_app, shown
from variantly.auth import create_account
from variantly.authoring.constraints import check_constraints
from variantly.authoring.importing import import_variants
from variantly.cli import app as cli
from variantly.reporting.lift import Exposure, report_of
from variantly.reporting.metrics import CONVERSION, REVENUE, Outcome, guardrail
from variantly.workspace.models import FixedHorizon, ReportingSettings

STARTUP = "segment=startup;behaviour=*;locale=en"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def outcomes(
    arm: str, n: int, rate: float, rng: np.random.Generator, *, cohort: str = "*", variant: str | None = "v1", **extra
) -> list[tuple[Exposure, Outcome]]:
    """``n`` exposed profiles of one arm converting at ``rate``, order values log-normal (median 150)."""
    found = []
    for i in range(n):
        converted = bool(rng.random() < rate)
        worth = float(rng.lognormal(5, 1)) if converted else 0.0
        outcome = Outcome(converted, worth, set(extra.get("events", ())), paid=converted)
        exposure = Exposure("cta", f"{arm}-{cohort}-{i}", NOW, arm, cohort, variant if arm == "treatment" else None)
        found.append((exposure, outcome))
    return found


def test_too_few_conversions_are_flagged_not_concluded() -> None:
    rng = np.random.default_rng(1)
    report = report_of(
        outcomes("treatment", 300, 0.2, rng) + outcomes("control", 40, 0.05, rng),
        CONVERSION,
        ReportingSettings(),
        10,
        today=NOW.date(),
    )
    row = report.rows[0]
    assert row.verdict == "too few to conclude" and not row.significant
    assert math.isinf(row.absolute_cs[0]) and row.warning and "at least 10" in row.warning


def test_a_broken_split_blocks_every_verdict_of_the_module() -> None:
    """A sender that drops three in ten control profiles: a large 'lift' that is the data's fault, not the copy's."""
    rng = np.random.default_rng(2)
    exposed = outcomes("treatment", 9300, 0.08, rng) + outcomes("control", 700, 0.04, rng)
    report = report_of(exposed, CONVERSION, ReportingSettings(), 10, today=NOW.date())
    assert report.sample_ratios["cta"].mismatch
    assert {r.verdict for r in report.rows} == {"sample ratio mismatch"} and not any(r.significant for r in report.rows)
    fair = outcomes("treatment", 9000, 0.08, rng) + outcomes("control", 1000, 0.04, rng)
    assert report_of(fair, CONVERSION, ReportingSettings(), 10, today=NOW.date()).rows[0].verdict == "treatment better"


def test_cohort_and_variant_rows_are_adjusted_together_as_statsmodels_adjusts_them() -> None:
    rng = np.random.default_rng(3)
    exposed = []
    for cohort, rate in (("a", 0.06), ("b", 0.05), ("c", 0.07), ("d", 0.05)):
        exposed += outcomes("treatment", 2000, rate, rng, cohort=cohort, variant=f"v-{cohort}")
        exposed += outcomes("control", 220, 0.05, rng, cohort=cohort)
    report = report_of(
        exposed, CONVERSION, ReportingSettings(fixed_horizon=FixedHorizon(sample_size=100)), 10, today=NOW.date()
    )
    secondary = [r for r in report.rows if r.level != "module"]
    assert report.compared == len(secondary) == 8
    expected = multipletests([r.p_value for r in secondary], method="fdr_bh")[1]
    assert [r.q_value for r in secondary] == [float(q) for q in expected]
    assert all(r.significant == (r.q_value < 0.05) for r in secondary if r.verdict != "too few to conclude")


def test_a_fixed_horizon_gives_no_verdict_before_it_and_the_fixed_test_after() -> None:
    rng = np.random.default_rng(4)
    exposed = outcomes("treatment", 9000, 0.07, rng) + outcomes("control", 1000, 0.04, rng)
    planned = ReportingSettings(fixed_horizon=FixedHorizon(end=date(2026, 12, 1)))
    before = report_of(exposed, CONVERSION, planned, 10, today=date(2026, 11, 20))
    after = report_of(exposed, CONVERSION, planned, 10, today=date(2026, 12, 1))
    assert before.decided_by == after.decided_by == "fixed horizon"
    assert before.rows[0].verdict == "wait for the planned horizon" and not before.rows[0].significant
    assert after.rows[0].verdict == "treatment better" and after.rows[0].p_value < 0.05


def test_a_guardrail_rise_is_flagged_as_a_breach() -> None:
    rng = np.random.default_rng(5)
    exposed = [
        (e, Outcome(o.converted, o.revenue, {"unsubscribe"} if rng.random() < 0.06 else set()))
        for e, o in outcomes("treatment", 9000, 0.05, rng)
    ] + [
        (e, Outcome(o.converted, o.revenue, {"unsubscribe"} if rng.random() < 0.02 else set()))
        for e, o in outcomes("control", 1000, 0.05, rng)
    ]
    row = report_of(exposed, guardrail("unsubscribe"), ReportingSettings(), 10, today=NOW.date()).rows[0]
    assert row.verdict == "treatment worse" and row.guardrail_breached


def test_revenue_can_be_capped_at_a_stated_percentile() -> None:
    rng = np.random.default_rng(6)
    exposed = outcomes("treatment", 5000, 0.05, rng) + outcomes("control", 560, 0.05, rng)
    exposed[0] = (exposed[0][0], Outcome(True, 5_000_000.0))  # one whale
    raw = report_of(exposed, REVENUE, ReportingSettings(), 10, today=NOW.date())
    capped = report_of(exposed, REVENUE, ReportingSettings(winsorize_percentile=99), 10, today=NOW.date())
    values = [o.revenue for _, o in exposed]
    assert capped.capped_at["cta"] == np.percentile(values, 99)
    assert capped.rows[0].treatment_mean < raw.rows[0].treatment_mean / 10


def test_simulated_experiment_finds_the_true_lifts_in_conversions_and_money(
    workspace_dir: Path, tmp_path: Path
) -> None:
    """20,000 profiles through the real render-batch and events endpoints, the page sending impressions and
    conversions without a token and the order system sending the money with one.

    True conversion rates: default (holdout) 4%, variant A 5%, variant B 8%; order values log-normal with a mean of
    exp(5.5) SEK. Seeds are fixed, so the run is repeatable; each 95% interval would miss the truth 5% of the time
    by chance.
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
    reviewer = {"Authorization": f"Bearer {create_account(svc.store, 'analyst', 'reviewer')}"}
    orders = {"Authorization": f"Bearer {create_account(svc.store, 'orders', 'renderer')}"}
    served: dict[str | None, int] = {}
    arms = {"treatment": 0, "control": 0}
    with TestClient(app) as client:
        for round_ in range(20):
            profiles = [consenting_profile(f"sim-{round_}-{i}") for i in range(1000)]
            with client.stream("POST", "/v1/render/batch", json={"module": "cta", "profiles": profiles}) as response:
                results = [json.loads(line) for line in response.iter_lines() if line]
            page, money = [], []
            for result in results:
                decision = result["decisions"][0]
                arms[decision["arm"]] += 1
                served[decision["variant_id"]] = served.get(decision["variant_id"], 0) + 1
                seen = shown([decision], result["profile_id"])[0]
                page.append(seen)
                if rng.random() < rate[decision["variant_id"]]:
                    page.append(seen | {"type": "conversion"})
                    value = f"{rng.lognormvariate(5, 1):.2f}"
                    money.append(seen | {"type": "conversion", "value": value, "currency": "SEK"})
            assert client.post("/v1/events", json={"events": page}).status_code == 200
            # the profile converted once, whoever says so; the order system (with a token) adds what it was worth
            assert client.post("/v1/events", json={"events": money}, headers=orders).status_code == 200
            svc.activity.read_statistics(svc.store)  # what the process does every few seconds
        conversion = client.get("/v1/reports/lift", params={"module": "cta"}, headers=reviewer).json()
        revenue = client.get("/v1/reports/lift", params={"module": "cta", "metric": "revenue"}, headers=reviewer).json()
    assert abs(arms["control"] / 20_000 - 0.10) < 0.01
    assert not conversion["sample_ratios"]["cta"]["mismatch"]
    better = by_label["See your customers in one place"]
    assert served[better] / arms["treatment"] > 0.7, served  # Thompson sampling found the better variant
    rows = {(r["level"], r["variant_id"]): r for r in conversion["rows"]}
    for label, true_lift in (("Try Lumen free", 0.01), ("See your customers in one place", 0.04)):
        low, high = rows[("variant", by_label[label])]["absolute_cs"]
        assert low <= true_lift <= high, label
    assert rows[("variant", better)]["significant"] is True
    module_row = rows[("module", None)]
    assert module_row["control_n"] == arms["control"] and module_row["absolute_lift"] > 0
    mean_order = math.exp(5.5)
    money_rows = {(r["level"], r["variant_id"]): r for r in revenue["rows"]}
    low, high = money_rows[("variant", better)]["absolute_ci"]
    assert low <= (0.08 - 0.04) * mean_order <= high
    assert revenue["currency"] == "SEK" and revenue["unit"] == "money"


def test_money_in_a_currency_the_report_is_not_in_is_left_out_and_said(workspace_dir: Path, tmp_path: Path) -> None:
    """Orders sent in SEK, then the workspace's reporting currency changed to EUR: kronor are not added up as euros.
    Each of those conversions still counts as a conversion, and the report says what money it left out."""
    from variantly.reporting.lift import lift_report

    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'money.db'}")
    svc = app.state.service
    orders = {"Authorization": f"Bearer {create_account(svc.store, 'orders', 'renderer')}"}
    with TestClient(app) as client:
        profiles = [consenting_profile(f"buyer-{i}") for i in range(80)]
        with client.stream("POST", "/v1/render/batch", json={"module": "cta", "profiles": profiles}) as response:
            results = [json.loads(line) for line in response.iter_lines() if line]
        seen = [shown(r["decisions"], r["profile_id"])[0] for r in results]
        paid = [s | {"type": "conversion", "value": "100", "currency": "SEK"} for s in seen[::2]]
        assert client.post("/v1/events", json={"events": seen}).status_code == 200
        assert client.post("/v1/events", json={"events": paid}, headers=orders).status_code == 200
        settings = workspace_dir / "variantly.yml"
        settings.write_text(settings.read_text().replace("currency: SEK", "currency: EUR"))
        svc.refresh_workspace()
        analyst = {"Authorization": f"Bearer {create_account(svc.store, 'analyst', 'reviewer')}"}
        answered = client.get("/v1/reports/lift", params={"metric": "revenue"}, headers=analyst).json()
        create_account(svc.store, "lena", "reviewer", password="pw-for-lena", token=False)
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text).group(1)
        client.post("/ui/login", data={"csrf": csrf, "name": "lena", "password": "pw-for-lena"})
        page = client.get("/ui/lift", params={"metric": "revenue"}).text
    printed = CliRunner().invoke(
        cli,
        [
            "report",
            "lift",
            "--metric",
            "revenue",
            "-w",
            str(workspace_dir),
            "--database-url",
            f"sqlite:///{tmp_path / 'money.db'}",
        ],
        env={"COLUMNS": "300"},
    )
    assert answered["currency"] == "EUR" and answered["money_elsewhere"] == {"SEK": 40}
    assert printed.exit_code == 0 and "(40 in SEK)" in printed.output
    assert 'id="money-elsewhere"' in page and "(40 in SEK)" in page

    def report(metric: str, currency: str):
        return lift_report(svc.store, ReportingSettings(currency=currency), 10, metric=metric)

    in_kronor, in_euros = report("revenue", "SEK"), report("revenue", "EUR")
    assert in_kronor.rows[0].treatment_mean > 0 and in_kronor.money_elsewhere == {}
    assert in_kronor.money_left_out is None
    assert [(r.treatment_mean, r.control_mean) for r in in_euros.rows] == [(0.0, 0.0)] * len(in_euros.rows)
    assert in_euros.money_elsewhere == {"SEK": 40}
    assert "(40 in SEK)" in (in_euros.money_left_out or "") and "into EUR" in (in_euros.money_left_out or "")
    assert sum(r.treatment_n + r.control_n for r in report("aov", "EUR").rows) == 0  # no order in euros
    assert report("aov", "SEK").rows[0].treatment_n + report("aov", "SEK").rows[0].control_n == 40
    conversions = report("conversion", "EUR")
    assert conversions.rows[0].treatment_mean == report("conversion", "SEK").rows[0].treatment_mean > 0
    assert conversions.money_elsewhere == {}  # a rate has no money to leave out


def test_a_module_the_workspace_never_had_is_named_not_reported_as_having_no_exposures_yet(
    workspace_dir: Path, tmp_path: Path
) -> None:
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'typo.db'}")
    analyst = {"Authorization": f"Bearer {create_account(app.state.service.store, 'analyst', 'reviewer')}"}
    with TestClient(app) as client:
        typo = client.get("/v1/reports/lift", params={"module": "ctaa"}, headers=analyst)
        real = client.get("/v1/reports/lift", params={"module": "cta"}, headers=analyst)
    assert typo.status_code == 404
    assert typo.json()["error"]["message"] == "unknown module 'ctaa' (modules: cta, customer_example, hero, hero_image)"
    assert real.status_code == 200 and real.json()["rows"] == []  # known, and no exposures yet


def test_the_lift_report_sent_to_a_file_keeps_every_figure_on_its_row(workspace_dir: Path, tmp_path: Path) -> None:
    """Piped or redirected, rich had 80 columns for eleven: "(n=18,016)" came out as "(n=1", "8,01", "6)"."""
    url = f"sqlite:///{tmp_path / 'piped.db'}"
    app = make_app(workspace_dir, url)
    with TestClient(app) as client:
        profiles = [consenting_profile(f"reader-{i}") for i in range(1200)]
        with client.stream("POST", "/v1/render/batch", json={"module": "cta", "profiles": profiles}) as response:
            results = [json.loads(line) for line in response.iter_lines() if line]
        seen = [shown(r["decisions"], r["profile_id"])[0] for r in results]
        converted = [s | {"type": "conversion"} for s in seen[::6]]
        assert client.post("/v1/events", json={"events": seen + converted}).status_code == 200
    printed = CliRunner().invoke(cli, ["report", "lift", "-w", str(workspace_dir), "--database-url", url])
    assert printed.exit_code == 0, printed.output
    module_row = next(line for line in printed.output.splitlines() if "│ module " in line)
    counts = re.findall(r"\(n=([\d,]+)\)", module_row)
    assert len(counts) == 2 and sum(int(n.replace(",", "")) for n in counts) == 1200
    assert re.search(r"\[[-+]\d+\.\d+, [-+]\d+\.\d+\]", module_row)  # an interval whole


def test_average_order_value_is_over_orders_not_sign_ups_nor_money_in_another_currency(
    workspace_dir: Path, tmp_path: Path
) -> None:
    """A conversion without a value (a sign-up the page sends) and one paid in another currency are no orders in
    the report's currency: counted as orders of 0, they pulled the average order value down. Checked against the
    mean of the orders themselves, per arm; money in another currency in the test of a changed currency above."""
    from variantly.reporting.lift import lift_report

    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'orders.db'}")
    svc = app.state.service
    orders = {"Authorization": f"Bearer {create_account(svc.store, 'orders', 'renderer')}"}
    rng = random.Random(4)
    paid: dict[str, list[float]] = {"treatment": [], "control": []}
    with TestClient(app) as client:
        profiles = [consenting_profile(f"shopper-{i}") for i in range(300)]
        with client.stream("POST", "/v1/render/batch", json={"module": "cta", "profiles": profiles}) as response:
            results = [json.loads(line) for line in response.iter_lines() if line]
        seen = [shown(r["decisions"], r["profile_id"])[0] for r in results]
        signed_up = [s | {"type": "conversion"} for s in seen[::3]]  # from the page: no money
        bought = []
        for s in seen[1::3]:
            worth = round(rng.uniform(100, 900), 2)
            paid[s["arm"]].append(worth)
            bought.append(s | {"type": "conversion", "value": str(worth), "currency": "SEK"})
        assert client.post("/v1/events", json={"events": seen + signed_up}).status_code == 200
        assert client.post("/v1/events", json={"events": bought}, headers=orders).status_code == 200
    report = lift_report(svc.store, ReportingSettings(currency="SEK"), 10, metric="aov")
    module_row = next(r for r in report.rows if r.level == "module")
    assert (module_row.treatment_n, module_row.control_n) == (len(paid["treatment"]), len(paid["control"]))
    assert module_row.treatment_mean == pytest.approx(float(np.mean(paid["treatment"])), rel=1e-9)
    assert module_row.control_mean == pytest.approx(float(np.mean(paid["control"])), rel=1e-9)


def test_a_copy_problem_in_the_workspace_does_not_keep_an_analyst_from_the_lift(
    workspace_dir: Path, tmp_path: Path
) -> None:
    """A marketer's edit that fails lint (a default headline over its limit) made ``report lift`` exit with the lint
    problems: the analyst defending the lift could not read it until the copy was fixed. It reads the workspace as
    it is and says what lint found."""
    url = f"sqlite:///{tmp_path / 'lint.db'}"
    app = make_app(workspace_dir, url)
    with TestClient(app) as client:
        decisions = [
            client.post("/v1/render", json={"module": "cta", "profile": consenting_profile(f"r-{i}")}).json()
            for i in range(60)
        ]
        seen = [shown(d["decisions"], f"r-{i}")[0] for i, d in enumerate(decisions)]
        assert client.post("/v1/events", json={"events": seen}).status_code == 200
    hero = workspace_dir / "modules" / "hero.jinja"
    hero.write_text(hero.read_text().replace("Know every customer, in every team", "Know every customer " * 6))
    printed = CliRunner().invoke(cli, ["report", "lift", "-w", str(workspace_dir), "--database-url", url])
    assert printed.exit_code == 0, printed.output
    assert "1 lint problem" in printed.output and "hero.jinja" in printed.output
    assert "│ module " in printed.output  # the report itself
    assert re.search(r"cta: \d+ control / \d+ treatment = .* \(sample-ratio p = [\d.e-]+\): ok\n", printed.output)
