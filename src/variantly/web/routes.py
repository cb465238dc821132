"""Review UI routes. Reads need a signed-in reviewer; every POST needs the session's CSRF token."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from variantly.auth import by_password, end_sessions, record_session
from variantly.authoring import review
from variantly.authoring.brand_score import fixes, stored_score
from variantly.authoring.policy_checks import checked_under
from variantly.authoring.report import VariantReport
from variantly.checkers import judge_again
from variantly.errors import TooManyAttempts, Unauthenticated, VariantlyError
from variantly.store.variants import get_variant
from variantly.web import session as sessions
from variantly.web.pages import local_path, read_form, render_page, signed_in, to_login
from variantly.web.report import brand_rows, picture_view, slot_rows
from variantly.web.security import SecureRoute
from variantly.web.throttle import SignInThrottle
from variantly.workspace.cohorts import Cohort
from variantly.workspace.reading import file_named

STATIC = Path(__file__).parent / "static"
FILTER_KEYS = ("module", "cohort", "locale", "status", "guardrail", "risk")
QUERY_KEYS = (*FILTER_KEYS, "order")  # what a queue link keeps

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=SecureRoute)
log = logging.getLogger("variantly.web")


def _filters(request: Request) -> review.Filters:
    return review.Filters(**{k: request.query_params.get(k) or None for k in FILTER_KEYS})


def _order(request: Request) -> str:
    return "risk" if request.query_params.get("order") == "risk" else "queue"


def _query(request: Request) -> str:
    params = {k: v for k, v in request.query_params.items() if k in QUERY_KEYS and v}
    return "?" + urlencode(params) if params else ""


def _int(value: object) -> int:
    """A version number from a form; a tampered one is 0, which every write refuses as stale."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def _throttle(request: Request) -> SignInThrottle:
    """This app's sign-in throttle (one per process, made on first use)."""
    state = request.app.state
    if getattr(state, "sign_in_throttle", None) is None:
        state.sign_in_throttle = SignInThrottle()
    return state.sign_in_throttle


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = file_named(STATIC, name)
    if path is None:
        return Response(status_code=404)
    media = {"css": "text/css", "js": "text/javascript"}.get(path.suffix.lstrip("."), "application/octet-stream")
    return Response(path.read_bytes(), media_type=media, headers={"Cache-Control": "public, max-age=300"})


@router.get("/login")
def login_form(request: Request) -> Response:
    return render_page(request, sessions.load(request), "login.html")


@router.post("/login")
async def login(request: Request) -> Response:
    session = sessions.load(request)
    form = await read_form(request)
    sessions.check_csrf(session, form.get("csrf"))
    svc = request.app.state.service
    name = str(form.get("name", "")).strip()
    client = request.client.host if request.client else "unknown"
    throttle = _throttle(request)
    try:
        throttle.check(name, client)
        try:
            if form.get("token"):
                who = svc.principal_for_token(str(form["token"]).strip())
            else:
                who = by_password(svc.store, name, str(form.get("password", "")))
            who.require("reviewer")
        except VariantlyError:
            throttle.failed(name, client)
            log.warning("failed sign-in for %r from %s", name or "(token)", client)
            raise
    except VariantlyError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
        answer = render_page(
            request, session, "login.html", status_code=exc.status_code, message=exc.message, message_kind="error"
        )
        answer.headers.update(headers or {})
        return answer
    throttle.succeeded(name, client)
    svc.refresh_accounts()
    session = sessions.signed_in(request, who)
    record_session(svc.store, who, session.version)
    response = RedirectResponse("/ui/", status_code=303)
    sessions.save(request, response, session)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = sessions.load(request)
    sessions.check_csrf(session, (await read_form(request)).get("csrf"))
    if session.principal is not None:  # a copied cookie dies with this one: every session of the account ends
        svc = request.app.state.service
        end_sessions(svc.store, session.principal.name)
        svc.refresh_accounts()
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(sessions.COOKIE)
    return response


@router.get("/")
def queue(request: Request) -> Response:
    session, who = signed_in(request)
    if who is None:
        return to_login()
    svc = request.app.state.service
    filters = _filters(request)
    page = review.list_variants(svc.store, filters, limit=200, order=_order(request))
    query = _query(request)

    def url_with(**changes: str) -> str:
        params = {k: v for k, v in request.query_params.items() if k in QUERY_KEYS and v} | changes
        return "/ui/?" + urlencode({k: v for k, v in params.items() if v})

    return render_page(
        request,
        session,
        "queue.html",
        page=page,
        checks={v.id: VariantReport.from_stored(v.report).check for v in page.items},
        brands={v.id: stored_score(v) for v in page.items},
        pictures={v.id: picture_view(svc.workspace, v) for v in page.items},
        counts=page.counts,
        filters=filters,
        order=_order(request),
        query=query,
        here="/ui/" + query,
        url_with=url_with,
        modules=sorted(svc.workspace.modules),
        locales=svc.workspace.locales,
        message=request.query_params.get("message"),
    )


@router.post("/approve-selected")
async def approve_selected(request: Request) -> Response:
    session, who = signed_in(request)
    if who is None:
        return to_login()
    form = await read_form(request)
    sessions.check_csrf(session, form.get("csrf"))
    store = request.app.state.service.store
    if form.get("which") == "all-pending":
        from urllib.parse import parse_qs, urlsplit

        params = {k: v[0] for k, v in parse_qs(urlsplit(str(form.get("next", ""))).query).items() if k in FILTER_KEYS}
        filters = review.Filters(**params) if params else review.Filters()
        filters.status, filters.guardrail = "pending", "passed"
        page = await run_in_threadpool(review.list_variants, store, filters, limit=1000)
        items = [(v.id, v.version) for v in page.items]
    else:
        items = []
        for value in form.getlist("item"):
            variant_id, _, version = str(value).partition(":")
            items.append((variant_id, _int(version)))
    workspace = request.app.state.service.workspace
    checker = request.app.state.checkers.slot_checker(workspace)
    result = await run_in_threadpool(
        review.bulk_approve, store, items, actor=who.name, workspace=workspace, check=checker
    )
    message = f"approved {len(result.approved)}" + (
        f", {len(result.conflicts)} changed meanwhile" if result.conflicts else ""
    )
    if result.first_approvals:
        message += f", {len(result.first_approvals)} approved once: their brand risk needs a second reviewer"
    target = local_path(str(form.get("next") or ""))
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}{urlencode({'message': message})}", status_code=303)


@router.get("/variants/{variant_id}")
def variant_page(variant_id: str, request: Request) -> Response:
    session, who = signed_in(request)
    if who is None:
        return to_login()
    svc = request.app.state.service
    row = get_variant(svc.store, variant_id)
    module_file = svc.workspace.modules.get(row.module_id)
    prev, next_ = review.neighbours(svc.store, _filters(request), variant_id, _order(request))
    report = VariantReport.from_stored(row.report)
    generation = report.generation
    return render_page(
        request,
        session,
        "variant.html",
        v=row,
        slots=slot_rows(svc.workspace, row),
        picture=picture_view(svc.workspace, row),
        prev=prev,
        next=next_,
        query=_query(request),
        history=review.variant_history(svc.store, variant_id),
        channels=module_file.module.channels if module_file else [],
        never_served=module_file.module.suppressed_for_cohort(Cohort.from_key(row.cohort_key).as_dict())
        if module_file
        else None,
        report=report.check,
        checked_before=row.status == "pending" and row.policy_hash.removesuffix("p") != checked_under(svc.workspace),
        failures=list(report.check.failures()),
        brand=(brand := stored_score(row)),
        brand_rows=brand_rows(row),
        brand_fixes=fixes(brand) if brand else "",
        attempts=len(generation.attempts) if generation else 0,
        cuts=generation.prompt_cuts if generation else (),
        message=request.query_params.get("message"),
        message_kind=request.query_params.get("kind"),
    )


@router.get("/variants/{variant_id}/preview/{channel}")
def variant_preview(variant_id: str, channel: str, request: Request) -> Response:
    _, who = signed_in(request)
    if who is None:
        raise Unauthenticated("sign in to preview")
    from variantly.authoring.preview import preview_variant

    svc = request.app.state.service
    return HTMLResponse(preview_variant(svc.workspace, get_variant(svc.store, variant_id), channel))


@router.post("/variants/{variant_id}/{action}")
async def decide(variant_id: str, action: str, request: Request) -> Response:
    """A reviewer's decision. The library calls run in the thread pool: they wait on the store, and an approval or
    edit may build the policy checker (guardrails-ai, seconds to import), which on the event loop held up every
    request of the process, renders included, for that long."""
    session, who = signed_in(request)
    if who is None:
        return to_login()
    form = await read_form(request)
    sessions.check_csrf(session, form.get("csrf"))
    svc = request.app.state.service
    query = _query(request)
    version = _int(form.get("version"))
    reason = str(form.get("reason", "")).strip()
    target = f"/ui/variants/{variant_id}{query}"
    try:
        if action == "approve":
            row = await run_in_threadpool(
                review.approve,
                svc.store,
                variant_id,
                version=version,
                actor=who.name,
                reason=reason,
                workspace=svc.workspace,
                check=request.app.state.checkers.slot_checker(svc.workspace),
            )
            _, next_ = await run_in_threadpool(
                review.neighbours, svc.store, _filters(request), variant_id, _order(request)
            )
            message = (
                "approved: it is served within seconds"
                if row.status == "approved"
                else f"approved once: its {row.brand_risk} brand risk needs a second reviewer's approval"
            )
            target = f"/ui/variants/{next_}{query}" if next_ else f"/ui/{query}"
        elif action == "reject":
            await run_in_threadpool(
                review.reject,
                svc.store,
                variant_id,
                version=version,
                actor=who.name,
                reason=reason,
                regenerate=bool(form.get("regenerate")),
            )
            message = "rejected" + (
                ": the next run regenerates this cohort with your feedback" if form.get("regenerate") else ""
            )
        elif action == "retire":
            await run_in_threadpool(
                review.retire, svc.store, variant_id, version=version, actor=who.name, reason=reason
            )
            message = "retired"
        elif action == "edit":
            slots = {k.removeprefix("slot:"): str(v) for k, v in form.items() if k.startswith("slot:")}
            row = await run_in_threadpool(
                review.edit,
                svc.store,
                svc.workspace,
                request.app.state.checkers.slot_checker(svc.workspace),
                variant_id,
                version=version,
                actor=who.name,
                slots=slots,
                reason=reason,
            )
            message = (
                "edit saved and passed the guardrails"
                if row.status == "pending"
                else "edit saved, but it fails the guardrails: see the report"
            )
        elif action == "judge":
            message = await judge_again(svc.store, svc.workspace, svc.settings, variant_id)
        else:
            return Response(status_code=404)
        kind = "info"
    except VariantlyError as exc:
        message, kind = exc.message, "error"
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}{urlencode({'message': message, 'kind': kind})}", status_code=303)
