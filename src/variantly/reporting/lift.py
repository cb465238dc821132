"""Lift: did personalisation help? Treatment against the holdout control group.

The unit is a profile. A profile is exposed to a module at its first impression of
it, in the arm the render decision gave it; it converted if it has a conversion
credited to that module (or a page-level conversion, with no module) at or after
that exposure. For each module, each cohort and each variant we compare conversion
rates with a two-proportion z-test and give 95% confidence intervals for the
absolute lift (Wald, unpooled) and the relative lift (delta method on the log ratio).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select

from variantly.store import Store
from variantly.store.schema import EventRow

Z95 = 1.959963984540054
MIN_EACH = 10  # conversions and non-conversions per arm for the normal approximation


@dataclass
class LiftRow:
    level: str  # module, cohort, variant
    module: str
    cohort: str | None
    variant_id: str | None
    treatment_n: int
    treatment_conversions: int
    control_n: int
    control_conversions: int
    treatment_rate: float
    control_rate: float
    absolute_lift: float
    absolute_ci: tuple[float, float]
    relative_lift: float | None
    relative_ci: tuple[float, float] | None
    p_value: float | None
    significant: bool
    warning: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def compare(n_t: int, c_t: int, n_c: int, c_c: int) -> dict:
    """Two-proportion comparison: rates, lifts, 95% intervals, p-value, and a warning if too small."""
    p_t = c_t / n_t if n_t else 0.0
    p_c = c_c / n_c if n_c else 0.0
    diff = p_t - p_c
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c) if n_t and n_c else float("inf")
    abs_ci = (diff - Z95 * se, diff + Z95 * se)
    rel, rel_ci = None, None
    if p_c > 0 and p_t > 0:
        rel = p_t / p_c - 1
        se_log = math.sqrt((1 - p_t) / (n_t * p_t) + (1 - p_c) / (n_c * p_c))
        log_ratio = math.log(p_t / p_c)
        rel_ci = (math.exp(log_ratio - Z95 * se_log) - 1, math.exp(log_ratio + Z95 * se_log) - 1)
    p_value = None
    if n_t and n_c:
        pooled = (c_t + c_c) / (n_t + n_c)
        se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
        p_value = math.erfc(abs(diff / se_pooled) / math.sqrt(2)) if se_pooled > 0 else 1.0
    warning = None
    if min(c_t, n_t - c_t, c_c, n_c - c_c) < MIN_EACH:
        warning = (
            f"too few to conclude: each arm needs at least {MIN_EACH} conversions and {MIN_EACH} "
            f"non-conversions (treatment {c_t}/{n_t}, control {c_c}/{n_c})"
        )
    significant = warning is None and p_value is not None and p_value < 0.05
    return {
        "treatment_rate": p_t,
        "control_rate": p_c,
        "absolute_lift": diff,
        "absolute_ci": abs_ci,
        "relative_lift": rel,
        "relative_ci": rel_ci,
        "p_value": p_value,
        "significant": significant,
        "warning": warning,
    }


@dataclass
class _Exposure:
    at: datetime
    arm: str
    cohort: str
    variant_id: str | None


def lift_report(store: Store, module: str | None = None) -> list[LiftRow]:
    exposures: dict[tuple[str, str], _Exposure] = {}
    conversions: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    query = select(
        EventRow.type,
        EventRow.profile_id,
        EventRow.module_id,
        EventRow.variant_id,
        EventRow.arm,
        EventRow.cohort_key,
        EventRow.at,
    ).where(EventRow.type.in_(("impression", "conversion")))
    with store.sessions() as session:
        for kind, profile_id, module_id, variant_id, arm, cohort, at in session.execute(query.order_by(EventRow.at)):
            if kind == "impression":
                if arm in ("treatment", "control") and (module is None or module_id == module):
                    exposures.setdefault((module_id, profile_id), _Exposure(at, arm, cohort or "*", variant_id))
            else:
                conversions[profile_id].append((module_id, at))

    def converted(module_id: str, profile_id: str, since: datetime) -> bool:
        return any(m in (module_id, "") and at >= since for m, at in conversions.get(profile_id, ()))

    Group = tuple[str, str, str | None, str | None]  # level, module, cohort, variant
    groups: dict[Group, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # n_t, c_t, n_c, c_c
    variant_cohorts: dict[tuple[str, str], set[str]] = defaultdict(set)
    control_by_cohort: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for (module_id, profile_id), exposure in exposures.items():
        did = converted(module_id, profile_id, exposure.at)
        offset = 0 if exposure.arm == "treatment" else 2
        for key in (("module", module_id, None, None), ("cohort", module_id, exposure.cohort, None)):
            groups[key][offset] += 1
            groups[key][offset + 1] += did
        if exposure.arm == "treatment" and exposure.variant_id:
            shown: Group = ("variant", module_id, None, exposure.variant_id)
            groups[shown][0] += 1
            groups[shown][1] += did
            variant_cohorts[(module_id, exposure.variant_id)].add(exposure.cohort)
        if exposure.arm == "control":
            control_by_cohort[(module_id, exposure.cohort)][0] += 1
            control_by_cohort[(module_id, exposure.cohort)][1] += did
    # A variant is compared with the control profiles of the cohorts it was shown to.
    for (level, module_id, _, variant_id), counts in groups.items():
        if level == "variant" and variant_id is not None:
            for cohort in variant_cohorts[(module_id, variant_id)]:
                counts[2] += control_by_cohort[(module_id, cohort)][0]
                counts[3] += control_by_cohort[(module_id, cohort)][1]
    rows = []
    order = {"module": 0, "cohort": 1, "variant": 2}
    for (level, module_id, cohort, variant_id), (n_t, c_t, n_c, c_c) in sorted(
        groups.items(), key=lambda kv: (kv[0][1], order[kv[0][0]], kv[0][2] or "", kv[0][3] or "")
    ):
        if n_t == 0 or n_c == 0:
            continue
        stats = compare(n_t, c_t, n_c, c_c)
        rows.append(LiftRow(level, module_id, cohort, variant_id, n_t, c_t, n_c, c_c, **stats))
    return rows
