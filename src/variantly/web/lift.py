"""The lift page: one metric at a time, with both intervals, the verdict, and what may block it.

An analyst picks the metric (conversion, revenue per visitor, average order value, a
guardrail rate) and a module; the page shows the forest plot of module and variant rows, the
module's anytime-valid band day by day, the table with every figure, and the notes a CFO will
ask about: which test decided, how many rows were compared, whether the split of profiles
matches the plan, whether revenue was capped.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from variantly.errors import VariantlyError
from variantly.reporting.figures import Figures
from variantly.reporting.history import read_history
from variantly.reporting.lift import workspace_lift
from variantly.reporting.metrics import metrics_for
from variantly.reporting.over_time import lift_over_time
from variantly.store.variants import get_variant
from variantly.web.chart import band_chart, lift_chart
from variantly.web.pages import render_page, signed_in, to_login
from variantly.web.security import SecureRoute

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=SecureRoute)


@router.get("/lift")
def lift_page(request: Request) -> Response:
    session, who = signed_in(request)
    if who is None:
        return to_login()
    svc = request.app.state.service
    workspace, store = svc.workspace, svc.store
    metrics = metrics_for(workspace.settings.reporting.guardrail_events)
    metric = request.query_params.get("metric") or "conversion"
    module = request.query_params.get("module") or None
    context: dict = {"metrics": metrics, "metric": metric, "modules": sorted(workspace.modules), "module": module}
    reporting = workspace.settings.reporting
    try:  # the store read once, for the report and its chart (each read it: 1.2 s of 4 for 100,000 exposures)
        history = read_history(store, reporting.guardrail_events, currency=reporting.currency, module=module)
        report = workspace_lift(store, workspace, metric=metric, module=module, history=history)
    except VariantlyError as exc:
        return render_page(
            request, session, "lift.html", message=exc.message, message_kind="error", report=None, **context
        )
    labels = {}
    for row in report.rows:
        if row.variant_id and row.variant_id not in labels:
            try:
                text = next(iter(get_variant(store, row.variant_id).slots.values()), "")
            except VariantlyError:
                text = row.variant_id[:10]
            labels[row.variant_id] = text if len(text) <= 30 else text[:29] + "…"
    over_time = module or next((r.module for r in report.rows if r.level == "module"), None)
    band = (
        band_chart(lift_over_time(store, reporting, over_time, metric=metric, history=history)) if over_time else None
    )
    return render_page(
        request,
        session,
        "lift.html",
        report=report,
        chart=lift_chart(report, labels),
        band=band,
        band_module=over_time,
        labels=labels,
        show=Figures(report.unit, report.currency),
        link=lambda **changes: (
            "/ui/lift?" + urlencode({k: v for k, v in ({"metric": metric, "module": module} | changes).items() if v})
        ),
        **context,
    )
