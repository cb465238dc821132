"""Lift: did personalisation help? Treatment against the holdout control group, in any metric.

The unit is a profile. A profile is exposed to a module at its first impression of it, in
the arm the render decision gave it; what follows is its outcome: a conversion credited to
that module (or a page-level one, with no module) at or after the exposure, the money of
those conversions, the guardrail events it sent (``metrics.Outcome``). Each metric is a mean
per exposed profile, compared per module, per cohort and per variant (a variant against the
control profiles of the cohorts it was shown to) with ``stats.compare``.

Reading it honestly:

- **when**: "significant" is decided by the anytime-valid interval, so the report can be read
  every day; a workspace that declares a fixed horizon in advance (``reporting.fixed_horizon``)
  gets the fixed-horizon test instead, and no verdict before the horizon;
- **how many**: cohort and variant rows are many comparisons at once; their p-values are
  adjusted by Benjamini-Hochberg across the rows of the report (module rows, one per module,
  are the primary comparisons and are not), and the report says how many were compared;
- **whether the data can be trusted**: every module's split of exposed profiles is checked
  against the planned holdout share; a mismatch (p < 0.001) blocks every verdict of the module;
- **money**: revenue per visitor is a mean with its zeros, heavy-tailed; its interval is the
  Welch normal interval on the raw values (a difference of means is asymptotically normal for
  any distribution with a finite variance: ``bench/lift_simulation.py`` measures the coverage on
  log-normal order values), or on values capped at a stated percentile when the workspace asks;
  only money in the workspace's reporting currency is added up: a conversion sent in another
  (before ``reporting.currency`` changed) still counts as a conversion, and the report says how
  many carried money it left out, by currency (``money_elsewhere``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import func, select

from variantly.errors import NotFound
from variantly.reporting.history import Exposure, History, read_history
from variantly.reporting.metrics import Metric, Outcome, metrics_for
from variantly.reporting.stats import (
    Effect,
    Sample,
    SampleRatio,
    benjamini_hochberg,
    capped,
    compare,
    sample_ratio,
)
from variantly.store import Store
from variantly.store.schema import EventRow
from variantly.workspace import Workspace
from variantly.workspace.models import ReportingSettings


@dataclass
class LiftRow:
    metric: str
    level: str  # module, cohort, variant
    module: str
    cohort: str | None
    variant_id: str | None
    treatment_n: int
    control_n: int
    treatment_mean: float
    control_mean: float
    absolute_lift: float
    absolute_ci: tuple[float, float]
    absolute_cs: tuple[float, float]
    relative_lift: float | None
    relative_ci: tuple[float, float] | None
    relative_cs: tuple[float, float] | None
    p_value: float | None
    p_value_sequential: float | None
    q_value: float | None  # Benjamini-Hochberg, of the p-value that decides (cohort and variant rows)
    significant: bool
    verdict: str
    warning: str | None
    guardrail_breached: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LiftReport:
    metric: str
    label: str
    unit: str
    currency: str | None
    decided_by: Literal["anytime-valid", "fixed horizon"]
    alpha: float
    rows: list[LiftRow]
    sample_ratios: dict[str, SampleRatio]
    compared: int  # cohort and variant rows adjusted together
    horizon: str | None = None  # the fixed horizon, and how far the data is from it
    capped_at: dict[str, float] = field(default_factory=dict)  # revenue capped per module (winsorised)
    # Conversions whose money is in another currency than the report's, by currency: not in the money metrics
    money_elsewhere: dict[str, int] = field(default_factory=dict)

    @property
    def money_left_out(self) -> str | None:
        """What the money metrics could not add up, said the same way by the CLI and the lift page."""
        if not self.money_elsewhere:
            return None
        counts = ", ".join(f"{count:,} in {code}" for code, count in sorted(self.money_elsewhere.items()))
        into = f"into {self.currency}" if self.currency else "while reporting.currency is not set"
        return (
            f"Conversions with money in another currency ({counts}) count as conversions, but their money is left "
            f"out of this report: it cannot be added up {into} (sent before reporting.currency changed?)"
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sample_ratios"] = {
            module: asdict(s) | {"mismatch": s.mismatch, "control_share": s.control_share}
            for module, s in self.sample_ratios.items()
        }
        return out


def money_elsewhere(store: Store, currency: str | None) -> dict[str, int]:
    """How many conversions carry money in another currency than ``currency``, by currency: sent before the
    workspace's reporting currency changed, they cannot be added to it."""
    paid = (EventRow.type == "conversion") & EventRow.value.is_not(None) & EventRow.currency.is_not(None)
    query = select(EventRow.currency, func.count()).where(paid).group_by(EventRow.currency)
    with store.sessions() as session:
        return {code: count for code, count in session.execute(query) if code is not None and code != currency}


def workspace_lift(
    store: Store,
    workspace: Workspace,
    *,
    metric: str = "conversion",
    module: str | None = None,
    history: History | None = None,
) -> LiftReport:
    """The report as a workspace's settings say to read it (its reporting settings and holdout share). A module
    neither in the workspace nor in any exposure is a typo, said so: it read "no exposures with both arms yet".
    ``history``: the store as already read for it (``read_history`` with the same currency and module)."""
    settings = workspace.settings
    report = lift_report(
        store, settings.reporting, settings.holdout_percent, metric=metric, module=module, history=history
    )
    if module is not None and module not in workspace.modules and not report.sample_ratios:
        raise NotFound(f"unknown module '{module}' (modules: {', '.join(sorted(workspace.modules))})")
    return report


def lift_report(
    store: Store,
    settings: ReportingSettings,
    holdout_percent: float,
    *,
    metric: str = "conversion",
    module: str | None = None,
    today: date | None = None,
    history: History | None = None,
) -> LiftReport:
    """The report for one metric, every module (or one), with its verdicts as described above."""
    metrics = metrics_for(settings.guardrail_events)
    if metric not in metrics:
        raise NotFound(f"unknown metric '{metric}' (metrics: {', '.join(metrics)})")
    chosen = metrics[metric]
    if history is None:
        history = read_history(store, settings.guardrail_events, currency=settings.currency, module=module)
    report = report_of(history.outcomes(), chosen, settings, holdout_percent, today=today or datetime.now(UTC).date())
    if chosen.unit == "money":
        report.money_elsewhere = money_elsewhere(store, settings.currency)
    return report


def report_of(
    outcomes: list[tuple[Exposure, Outcome]],
    metric: Metric,
    settings: ReportingSettings,
    holdout_percent: float,
    *,
    today: date,
) -> LiftReport:
    values: dict[str, list[tuple[Exposure, float]]] = defaultdict(list)
    for exposure, outcome in outcomes:
        value = metric.value(outcome)
        if value is not None:
            values[exposure.module].append((exposure, value))
    capped_at: dict[str, float] = {}
    if metric.unit == "money" and settings.winsorize_percentile is not None:
        for module_id, pairs in values.items():
            kept, cap = capped([v for _, v in pairs], settings.winsorize_percentile)
            values[module_id] = [(e, v) for (e, _), v in zip(pairs, kept, strict=True)]
            if cap is not None:
                capped_at[module_id] = cap
    ratios = {
        module_id: sample_ratio(
            sum(1 for e, _ in outcomes if e.module == module_id and e.arm == "treatment"),
            sum(1 for e, _ in outcomes if e.module == module_id and e.arm == "control"),
            holdout_percent / 100,
        )
        for module_id in sorted({e.module for e, _ in outcomes})
    }
    groups = _groups(values)
    rows = [
        _row(metric, key, treatment, control, settings)
        for key, (treatment, control) in groups.items()
        if treatment and control
    ]
    decided_by, horizon, reached = _horizon(settings, ratios, today)
    secondary = [i for i, row in enumerate(rows) if row.level != "module"]
    deciding = [rows[i].p_value if decided_by == "fixed horizon" else rows[i].p_value_sequential for i in secondary]
    for i, q in zip(secondary, benjamini_hochberg(deciding), strict=True):
        rows[i].q_value = q
    for row in rows:
        _verdict(row, metric, settings.alpha, decided_by, reached, ratios.get(row.module))
    return LiftReport(
        metric=metric.name,
        label=metric.label,
        unit=metric.unit,
        currency=settings.currency if metric.unit == "money" else None,
        decided_by=decided_by,
        alpha=settings.alpha,
        rows=rows,
        sample_ratios=ratios,
        compared=len(secondary),
        horizon=horizon,
        capped_at=capped_at,
    )


Key = tuple[str, str, str | None, str | None]  # level, module, cohort, variant


def _groups(values: dict[str, list[tuple[Exposure, float]]]) -> dict[Key, tuple[list[float], list[float]]]:
    groups: dict[Key, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    control_by_cohort: dict[tuple[str, str], list[float]] = defaultdict(list)
    shown_to: dict[tuple[str, str], set[str]] = defaultdict(set)
    for module_id, pairs in values.items():
        for exposure, value in pairs:
            arm = 0 if exposure.arm == "treatment" else 1
            groups[("module", module_id, None, None)][arm].append(value)
            groups[("cohort", module_id, exposure.cohort, None)][arm].append(value)
            if exposure.arm == "treatment" and exposure.variant_id:
                groups[("variant", module_id, None, exposure.variant_id)][0].append(value)
                shown_to[(module_id, exposure.variant_id)].add(exposure.cohort)
            elif exposure.arm == "control":
                control_by_cohort[(module_id, exposure.cohort)].append(value)
    for (level, module_id, _, variant_id), (_, control) in groups.items():
        if level == "variant" and variant_id is not None:
            for cohort in sorted(shown_to[(module_id, variant_id)]):
                control.extend(control_by_cohort[(module_id, cohort)])
    order = {"module": 0, "cohort": 1, "variant": 2}
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][1], order[kv[0][0]], kv[0][2] or "", kv[0][3] or "")))


def _row(
    metric: Metric, key: Key, treatment: list[float], control: list[float], settings: ReportingSettings
) -> LiftRow:
    level, module_id, cohort, variant_id = key
    ddof = 0 if metric.unit == "rate" else 1
    t, c = Sample.of(treatment, ddof=ddof), Sample.of(control, ddof=ddof)
    effect: Effect = compare(
        t, c, alpha=settings.alpha, tuning=settings.sequential_tuning, minimum=settings.minimum_per_arm
    )
    least = settings.minimum_per_arm
    warning = None
    if metric.unit == "rate" and min(t.nonzero, t.n - t.nonzero, c.nonzero, c.n - c.nonzero) < least:
        warning = (
            f"too few to conclude: each arm needs at least {least} of each outcome "
            f"(treatment {t.nonzero}/{t.n}, control {c.nonzero}/{c.n})"
        )
    elif min(t.nonzero, c.nonzero) < least:
        warning = (
            f"too few to conclude: each arm needs at least {least} profiles with a value "
            f"(treatment {t.nonzero}, control {c.nonzero})"
        )
    return LiftRow(
        metric=metric.name,
        level=level,
        module=module_id,
        cohort=cohort,
        variant_id=variant_id,
        treatment_n=t.n,
        control_n=c.n,
        treatment_mean=t.mean,
        control_mean=c.mean,
        absolute_lift=effect.absolute,
        absolute_ci=effect.absolute_ci.as_tuple(),
        absolute_cs=effect.absolute_cs.as_tuple(),
        relative_lift=effect.relative,
        relative_ci=effect.relative_ci.as_tuple() if effect.relative_ci else None,
        relative_cs=effect.relative_cs.as_tuple() if effect.relative_cs else None,
        p_value=effect.p_value,
        p_value_sequential=effect.p_value_sequential,
        q_value=None,
        significant=False,
        verdict="",
        warning=warning,
    )


def _horizon(
    settings: ReportingSettings, ratios: dict[str, SampleRatio], today: date
) -> tuple[Literal["anytime-valid", "fixed horizon"], str | None, set[str]]:
    """Which test decides, what the horizon is, and the modules that have reached it."""
    plan = settings.fixed_horizon
    if plan is None:
        return "anytime-valid", None, set(ratios)
    if plan.end is not None:
        reached = set(ratios) if today >= plan.end else set()
        return "fixed horizon", f"read on {plan.end.isoformat()} (planned in advance)", reached
    size = plan.sample_size or 0
    reached = {m for m, r in ratios.items() if r.treatment + r.control >= size}
    return "fixed horizon", f"read at {size:,} exposed profiles per module (planned in advance)", reached


def _verdict(
    row: LiftRow,
    metric: Metric,
    alpha: float,
    decided_by: str,
    reached: set[str],
    ratio: SampleRatio | None,
) -> None:
    if ratio is not None and ratio.mismatch:
        row.warning = (
            f"sample ratio mismatch: {ratio.control:,} control against {ratio.treatment:,} treatment, "
            f"{ratio.control_share:.1%} where {ratio.expected_control_share:.0%} was planned "
            f"(p = {ratio.p_value:.1g}); "
            "no verdict until it is explained: a sender that drops the control group, a cache serving one arm, "
            "events lost for one arm"
        )
        row.verdict = "sample ratio mismatch"
        return
    if row.warning:
        row.verdict = "too few to conclude"
        return
    if decided_by == "fixed horizon" and row.module not in reached:
        row.verdict = "wait for the planned horizon"
        return
    p = row.p_value if decided_by == "fixed horizon" else row.p_value_sequential
    deciding = row.q_value if row.level != "module" else p
    row.significant = deciding is not None and deciding < alpha
    if not row.significant:
        row.verdict = "not significant"
        return
    better = (row.absolute_lift > 0) == metric.higher_is_better
    row.verdict = "treatment better" if better else "treatment worse"
    row.guardrail_breached = metric.guardrail and not better
