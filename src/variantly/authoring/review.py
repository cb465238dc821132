"""The approval queue: what reviewers do, as library functions the API, web UI and CLI share.

Every change names the version the reviewer saw (a stale one gets ``Conflict``, 409),
is one audited transaction, and publishes a new release when it changes what is
served. Edits are re-validated by the same guardrails as generated copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select

from variantly.authoring.brand_score import BANDS, rescore
from variantly.authoring.pictures import text_failures
from variantly.authoring.policy_checks import checked_under
from variantly.authoring.report import CheckReport, VariantReport
from variantly.errors import (
    Conflict,
    FailsPolicy,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    ReasonRequired,
    SecondReviewerNeeded,
    VariantlyError,
)
from variantly.store import Store
from variantly.store.schema import STATUSES, AuditEntry, FeedbackRow, VariantRow
from variantly.store.variants import change_variant, get_variant, history
from variantly.workspace import Workspace
from variantly.workspace.cohorts import Cohort

# (workspace, module_id, cohort dict, slots) -> the report: ``PolicyChecker.check_slots``
SlotChecker = Callable[[Workspace, str, dict[str, str], dict[str, str]], CheckReport]


@dataclass
class Filters:
    module: str | None = None
    cohort: str | None = None
    locale: str | None = None
    status: str | None = None
    guardrail: str | None = None  # "passed" or "failed"
    risk: str | None = None  # the brand risk band: "high", "medium" or "low"

    def where(self) -> list[Any]:
        clauses = []
        if self.module:
            clauses.append(VariantRow.module_id == self.module)
        if self.cohort:
            clauses.append(VariantRow.cohort_key.contains(self.cohort))
        if self.locale:
            clauses.append(VariantRow.locale == self.locale)
        if self.status:
            if self.status not in STATUSES:
                raise NotFound(f"unknown status '{self.status}' (statuses: {', '.join(STATUSES)})")
            clauses.append(VariantRow.status == self.status)
        if self.guardrail == "failed":
            clauses.append(VariantRow.status == "guardrail_failed")
        elif self.guardrail == "passed":
            clauses.append(VariantRow.status != "guardrail_failed")
        if self.risk:
            if self.risk not in BANDS:
                raise NotFound(f"unknown risk '{self.risk}' (risks: {', '.join(BANDS)})")
            clauses.append(VariantRow.brand_risk == self.risk)
        return clauses


@dataclass
class Page:
    items: list[VariantRow]
    total: int
    counts: dict[str, int] = field(default_factory=dict)


QUEUE_ORDER = (VariantRow.module_id, VariantRow.cohort_key, VariantRow.id)
# Riskiest first: the band (high, medium, low, not scored), then the lowest brand score.
RISK_ORDER = (
    case({"high": 0, "medium": 1, "low": 2}, value=VariantRow.brand_risk, else_=3),
    case((VariantRow.brand_score.is_(None), 101), else_=VariantRow.brand_score),
    VariantRow.id,
)
ORDERS = {"queue": QUEUE_ORDER, "risk": RISK_ORDER}
MOST_LISTED = 500  # variants a page of the API's queue shows, at most
MOST_ROWS = 10_000_000  # a limit or an offset past every queue, within what any store can count


def list_variants(store: Store, filters: Filters, *, limit: int = 50, offset: int = 0, order: str = "queue") -> Page:
    """A page of the queue: by module and cohort, or riskiest first (``order="risk"``). The page's bounds are checked
    here for every caller: ``review list --limit -1`` listed everything on SQLite and was a traceback on PostgreSQL,
    as was a limit past what PostgreSQL counts in (bigint)."""
    if not 1 <= limit <= MOST_ROWS:
        raise InvalidRequest("limit", f"between 1 and {MOST_ROWS:,}, not {limit}")
    if not 0 <= offset <= MOST_ROWS:
        raise InvalidRequest("offset", f"between 0 and {MOST_ROWS:,}, not {offset}")
    if order not in ORDERS:
        raise NotFound(f"unknown order '{order}' (orders: {', '.join(ORDERS)})")
    with store.sessions() as session:
        where = filters.where()
        query = select(VariantRow).where(*where).order_by(*ORDERS[order]).limit(limit).offset(offset)
        items = list(session.scalars(query))
        total = session.scalar(select(func.count()).select_from(VariantRow).where(*where)) or 0
        unfiltered_status = Filters(filters.module, filters.cohort, filters.locale, None, None, filters.risk).where()
        counts = dict(
            session.execute(
                select(VariantRow.status, func.count()).where(*unfiltered_status).group_by(VariantRow.status)
            ).all()
        )
    return Page(items, total, {s: counts.get(s, 0) for s in STATUSES})


def neighbours(store: Store, filters: Filters, variant_id: str, order: str = "queue") -> tuple[str | None, str | None]:
    """Previous and next variant ids in the filtered queue, in its order, for keyboard navigation."""
    with store.sessions() as session:
        ids = list(session.scalars(select(VariantRow.id).where(*filters.where()).order_by(*ORDERS[order])))
    if variant_id not in ids:
        return None, ids[0] if ids else None
    i = ids.index(variant_id)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)


def approve(
    store: Store,
    variant_id: str,
    *,
    version: int,
    actor: str,
    reason: str = "",
    workspace: Workspace | None = None,
    check: SlotChecker | None = None,
    publish: bool = True,
) -> VariantRow:
    """Approve; in a brand risk band the guidelines name under ``two_reviewers``, the first approval is recorded
    (``approve_first``, still pending) and a second, different reviewer's approves it. With ``check``, copy checked
    under another policy is checked again first (``_approvable_now``)."""
    if workspace is not None and check is not None:
        _approvable_now(store, workspace, check, variant_id, version)
    if workspace is not None and workspace.brand.two_reviewers:
        current = get_variant(store, variant_id)
        if current.brand_risk in workspace.brand.two_reviewers and current.status == "pending":
            first = first_approver(store, variant_id)
            if first is None:
                return change_variant(
                    store,
                    variant_id,
                    expected_version=version,
                    actor=actor,
                    action="approve_first",
                    to_status="pending",
                    reason=reason or f"first of two approvals ({current.brand_risk} brand risk)",
                )
            if first == actor:
                raise SecondReviewerNeeded(
                    f"you approved {variant_id} already; its {current.brand_risk} brand risk needs a second reviewer"
                )
    row = change_variant(
        store, variant_id, expected_version=version, actor=actor, action="approve", to_status="approved", reason=reason
    )
    if publish:
        store.publish(actor, f"approved {variant_id}")
    return row


def _approvable_now(store: Store, workspace: Workspace, check: SlotChecker, variant_id: str, version: int) -> None:
    """Pending copy checked under another policy, or under older built-in checks, is checked again before it is
    approved; ``FailsPolicy`` if it fails now (it is moved to guardrail_failed). A review server re-checks approved
    copy when the policy changes, not pending copy: a variant pending then, checked under the old policy, showed
    "All checks passed", and approved, it was served with the phrase the new policy bans."""
    row = get_variant(store, variant_id)
    stale = row.policy_hash != checked_under(workspace)
    if not stale or row.version != version or row.status != "pending" or row.module_id not in workspace.modules:
        return  # a version or status that cannot be approved is change_variant's to refuse
    report = _check_again(store, workspace, check, row, actor="policy")
    if not report.passed:
        raise FailsPolicy(f"{variant_id} fails the policy as it is checked now: {report.summary}")


def first_approver(store: Store, variant_id: str) -> str | None:
    """Who gave the first of two approvals since the copy last changed (an edit starts over), if anyone."""
    first = None
    for entry in history(store, variant_id):
        if entry.action == "approve_first":
            first = entry.actor
        elif entry.action in ("edit", "reject", "brand_floor") or entry.to_status != "pending":
            first = None
    return first


def reject(
    store: Store, variant_id: str, *, version: int, actor: str, reason: str, regenerate: bool = False
) -> VariantRow:
    """Reject with a reason; ``regenerate`` asks the next run to redo this cohort with the reason as feedback."""
    if not reason.strip():
        raise ReasonRequired("a rejection needs a reason: say what is wrong so the next version can be better")
    before = get_variant(store, variant_id)
    row = change_variant(
        store, variant_id, expected_version=version, actor=actor, action="reject", to_status="rejected", reason=reason
    )
    if regenerate:
        with store.session() as session:
            session.add(
                FeedbackRow(
                    module_id=row.module_id,
                    cohort_key=row.cohort_key,
                    text=reason.strip(),
                    actor=actor,
                    variant_id=variant_id,
                )
            )
    if before.status == "approved":
        store.publish(actor, f"rejected {variant_id}")
    return row


def retire(store: Store, variant_id: str, *, version: int, actor: str, reason: str = "") -> VariantRow:
    row = change_variant(
        store,
        variant_id,
        expected_version=version,
        actor=actor,
        action="retire",
        to_status="retired",
        reason=reason or "retired",
    )
    store.publish(actor, f"retired {variant_id}")
    return row


def edit(
    store: Store,
    workspace: Workspace,
    check: SlotChecker,
    variant_id: str,
    *,
    version: int,
    actor: str,
    slots: dict[str, str],
    reason: str = "",
) -> VariantRow:
    """Change the text; the edit is re-validated and goes back to pending (or guardrail_failed)."""
    current = get_variant(store, variant_id)
    if current.module_id not in workspace.modules:
        raise NotFound(f"module '{current.module_id}' is no longer in the workspace")
    merged = dict(current.slots) | {k: v for k, v in slots.items()}
    unknown = sorted(set(slots) - set(current.slots))
    if unknown:
        raise NotFound(f"slots: module '{current.module_id}' has no slot {', '.join(unknown)}")
    report = check(workspace, current.module_id, Cohort.from_key(current.cohort_key).as_dict(), merged)
    to_status = "pending" if report.passed else "guardrail_failed"
    row = change_variant(
        store,
        variant_id,
        expected_version=version,
        actor=actor,
        action="edit",
        to_status=to_status,
        reason=reason or "edited",
        slots=merged,
        report=VariantReport(check=report, edited_by=actor).stored(),
    )
    rescore(store, workspace, [variant_id])
    if current.status == "approved":
        store.publish(actor, f"edited {variant_id}")
    return row


@dataclass
class BulkResult:
    approved: list[str] = field(default_factory=list)
    conflicts: list[dict[str, str]] = field(default_factory=list)
    first_approvals: list[str] = field(default_factory=list)  # waiting for a second reviewer


def bulk_approve(
    store: Store,
    items: list[tuple[str, int]],
    *,
    actor: str,
    reason: str = "",
    workspace: Workspace | None = None,
    check: SlotChecker | None = None,
) -> BulkResult:
    """Approve each (id, version); a stale or invalid one is reported, one that needs a second reviewer gets its
    first approval, the rest go through; one publish."""
    result = BulkResult()
    for variant_id, version in items:
        try:
            row = approve(
                store,
                variant_id,
                version=version,
                actor=actor,
                reason=reason or "bulk approve",
                workspace=workspace,
                check=check,
                publish=False,
            )
            if row.status == "approved":
                result.approved.append(variant_id)
            else:
                result.first_approvals.append(variant_id)
        except (Conflict, NotFound, VariantlyError) as exc:
            result.conflicts.append({"id": variant_id, "message": exc.message})
    if result.approved:
        store.publish(actor, f"bulk approved {len(result.approved)}")
    return result


def approved_unchecked(store: Store, workspace: Workspace) -> list[VariantRow]:
    """Approved variants not checked under this policy and the built-in checks' revision (``checked_under``)."""
    current = checked_under(workspace)
    with store.sessions() as session:
        found = select(VariantRow).where(VariantRow.status == "approved", VariantRow.policy_hash != current)
        return list(session.scalars(found.order_by(VariantRow.id)))


def recheck_policy(store: Store, workspace: Workspace, check: SlotChecker, *, actor: str = "policy") -> list[str]:
    """Re-check approved variants checked under another policy or an older revision of the built-in checks; pull
    those that now fail."""
    pulled = []
    for row in approved_unchecked(store, workspace):
        if row.module_id not in workspace.modules:
            continue
        try:
            report = _check_again(store, workspace, check, row, actor=actor)
        except (Conflict, InvalidTransition):  # changed since it was read: another process re-checking at its start
            continue  # (each worker of a review server does), or a reviewer; the rest are still checked
        if not report.passed:
            pulled.append(row.id)
    if pulled:
        store.publish(actor, f"policy change pulled {len(pulled)} variant(s)")
    return pulled


def _check_again(store: Store, workspace: Workspace, check: SlotChecker, row: VariantRow, *, actor: str) -> CheckReport:
    """Copy checked under another policy, checked now: recorded as checked when it passes, moved to guardrail_failed
    when it fails (``Conflict`` or ``InvalidTransition`` when it changed since ``row`` was read)."""
    cohort = Cohort.from_key(row.cohort_key).as_dict()
    report = _with_picture_text(workspace, row, cohort, check, check(workspace, row.module_id, cohort, row.slots))
    if report.passed:
        with store.session() as session:
            session.get_one(VariantRow, row.id).policy_hash = report.policy_hash
        return report
    change_variant(
        store,
        row.id,
        expected_version=row.version,
        actor=actor,
        action="policy_recheck",
        to_status="guardrail_failed",
        reason=f"fails the policy as it is checked now: {report.summary}",
        report=VariantReport.from_stored(row.report).model_copy(update={"check": report}).stored(),
    )
    return report


def _with_picture_text(
    workspace: Workspace, row: VariantRow, cohort: dict[str, str], check: SlotChecker, report: CheckReport
) -> CheckReport:
    """A generated picture's text (read by OCR when it was made, kept in its record) against the changed policy too."""
    generation = VariantReport.from_stored(row.report).generation
    found = workspace.modules[row.module_id].module.picture_slot
    text = generation.picture.text if generation and generation.picture else ""
    if not text or found is None:
        return report
    name, spec = found
    seen = check(workspace, row.module_id, cohort, {spec.alt_slot: text})
    said = [f.message for failures in seen.slots.values() for f in failures]
    return report.with_failures({name: text_failures(text, said)}) if said else report


def pending_feedback(store: Store) -> dict[tuple[str, str], list[str]]:
    """Reviewer feedback not yet used by a run, per (module, cohort key)."""
    out: dict[tuple[str, str], list[str]] = {}
    with store.sessions() as session:
        for row in session.scalars(select(FeedbackRow).where(FeedbackRow.run_id.is_(None)).order_by(FeedbackRow.id)):
            out.setdefault((row.module_id, row.cohort_key), []).append(row.text)
    return out


def variant_history(store: Store, variant_id: str) -> list[AuditEntry]:
    get_variant(store, variant_id)
    return history(store, variant_id)


def mark_feedback_used(store: Store, module_id: str, cohort_key: str, run_id: str) -> None:
    with store.session() as session:
        for row in session.scalars(
            select(FeedbackRow).where(
                FeedbackRow.module_id == module_id, FeedbackRow.cohort_key == cohort_key, FeedbackRow.run_id.is_(None)
            )
        ):
            row.run_id = run_id
