"""Render routes: what landing pages and email senders call."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import NamedTuple

from fastapi import APIRouter, Depends, Query, Request, Response

from variantly import metrics
from variantly.api.deps import bearer, caller, renderer, service
from variantly.api.schemas import ERRORS, HealthResponse, RenderRequest, RenderResponse
from variantly.auth import ANONYMOUS, Principal
from variantly.errors import Unauthenticated, VariantlyError
from variantly.serving.answer import Answer, render_answer
from variantly.serving.decide import Decision, Viewer
from variantly.serving.pictures import IMMUTABLE, PictureFiles
from variantly.serving.release import Release
from variantly.serving.render import (
    cap_windows,
    render_module,
    target_modules,
    viewer_for_cohort,
    viewer_for_profile,
)
from variantly.serving.service import RenderService
from variantly.store.images import ImageFile
from variantly.workspace.files import Workspace
from variantly.workspace.reading import file_named

router = APIRouter()


@router.get("/healthz", response_model=HealthResponse, tags=["ops"])
def healthz(request: Request, svc: RenderService = Depends(service)) -> HealthResponse:
    """Status and release for anyone (load balancers); what is wrong only for a reviewer or admin token,
    since a store error or a broken file path says more about the deployment than strangers should know."""
    health = HealthResponse.of(svc.health())
    try:
        svc.principal_for_token(bearer(request)).require("reviewer")
    except VariantlyError:
        if health.problems:
            health.problems = ["details for operators: send a reviewer or admin token"]
    return health


@router.get(
    "/readyz",
    response_model=HealthResponse,
    tags=["ops"],
    responses={503: {"model": HealthResponse, "description": "degraded: take this node out of the pool"}},
)
def readyz(request: Request, svc: RenderService = Depends(service)) -> Response:
    """Ready for traffic: 200 when nothing is wrong, 503 while degraded (the store unreachable, a workspace edit
    that does not lint, Redis down when configured), so a load balancer can act on the status alone. The
    node still serves while degraded; this says it should not be sent new work."""
    health = healthz(request, svc)
    return Response(
        health.model_dump_json(), status_code=200 if health.status == "ok" else 503, media_type="application/json"
    )


@router.get("/livez", tags=["ops"])
async def livez() -> dict[str, str]:
    """The process answers (for a liveness probe: restart it only if this fails, never because of the store)."""
    return {"status": "alive"}


@router.post("/v1/render", response_model=RenderResponse, responses=ERRORS, tags=["render"])
async def render(body: RenderRequest, request: Request) -> Response:
    """Render a module, several modules or a layout for one profile."""
    answer = await answer_render(body, request)
    return Response(answer.body, media_type="application/json", headers=answer.headers)


async def answer_render(body: RenderRequest, request: Request) -> Answer:
    """What ``POST /v1/render`` answers, before it is a response: the route sends it, and so does the fast path
    (``api.fast_path``), as two ASGI messages of its own."""
    # Async on purpose: render is a few dozen microseconds of CPU with nothing to wait
    # for, and a sync route would pay a thread-pool hop (and GIL hand-offs) per request.
    begun = _begin(body, request)
    seen = await begun.svc.activity.seen_async(body.profile.id, begun.windows) if begun.windows else None
    return _finish(begun, body, seen)


def answer_render_now(body: RenderRequest, request: Request) -> Answer | None:
    """``answer_render`` without waiting for anything, for a server that answers a request whole as its body
    arrives (``api.server.HttpTools``): None when a capped module's impressions must be counted in Redis."""
    begun = _begin(body, request)
    seen = None
    if begun.windows:
        seen = begun.svc.activity.seen_now(body.profile.id, begun.windows)
        if seen is None:
            return None
    return _finish(begun, body, seen)


class _Begun(NamedTuple):
    """A render up to its one possible wait: the release and workspace it is made from (read once, so a swap
    while it waits cannot mix two), who is asking, and since when each capped module counts their impressions."""

    started: float
    svc: RenderService
    workspace: Workspace
    release: Release
    viewer: Viewer
    windows: dict[str, datetime]


def _begin(body: RenderRequest, request: Request) -> _Begun:
    # The caller is checked inline rather than with Depends: on the hottest route of
    # all, each dependency costs more than the check itself.
    started = time.perf_counter()
    svc: RenderService = request.app.state.service
    caller(request, "renderer")
    workspace, release = svc.workspace, svc.release
    viewer = viewer_for_profile(workspace, body.profile, activity=svc.activity)
    shown = target_modules(workspace, module=body.module, modules=body.modules, layout=body.layout)
    return _Begun(started, svc, workspace, release, viewer, cap_windows(workspace, shown, viewer))


def _finish(begun: _Begun, body: RenderRequest, seen: dict[str, int] | None) -> Answer:
    answer = render_answer(
        begun.workspace,
        begun.release,
        begun.viewer if seen is None else begun.viewer.with_seen(seen),
        partial(begun.svc.sign, body.profile.id),
        channel=body.channel,
        module=body.module,
        modules=body.modules,
        layout=body.layout,
    )
    metrics.rendered("render", time.perf_counter() - begun.started, answer.decisions)
    return answer


@dataclass(frozen=True)
class Fragment:
    """A cohort fragment as answered: the same for every request naming the same module and cohort on one release
    and workspace (no profile, no arm, no sampling), so it is built once and kept (``Fragments``)."""

    html: str
    headers: dict[str, str]
    decision: Decision


class Fragments:
    """Cohort fragments as answered, per app, most recently used last; at most ``kept`` (module x cohort
    combinations: a CDN in front asks for few). The key holds the release and the workspace edit, so a new one
    is simply a miss."""

    def __init__(self, kept: int = 4096) -> None:
        self.kept = kept
        self._found: OrderedDict[tuple, Fragment] = OrderedDict()

    def get(self, svc: RenderService, module: str, values: dict[str, str | None]) -> Fragment:
        """Built on first request (about 60 us), then served from memory."""
        workspace, release = svc.workspace, svc.release
        key = (release.serial, workspace.fingerprint, module, *values.values())
        found = self._found.get(key)
        if found is not None:
            self._found.move_to_end(key)
            return found
        rendered = render_module(workspace, release, module, "web", viewer_for_cohort(workspace, values))
        html = rendered.parts["html"]
        headers = {
            "ETag": '"' + hashlib.sha256(html.encode()).hexdigest()[:20] + '"',
            "Cache-Control": "public, max-age=60, stale-while-revalidate=300",
            "X-Variantly-Outcome": rendered.decision.outcome,
            "X-Variantly-Variant": rendered.decision.variant_id or "",
            "X-Variantly-Cohort": rendered.decision.cohort,
            "X-Variantly-Release": str(release.number),
        }
        self._found[key] = found = Fragment(html, headers, rendered.decision)
        if len(self._found) > self.kept:
            self._found.popitem(last=False)
        return found


def fragment_response(request: Request, module: str, values: dict[str, str | None]) -> Response:
    """What ``GET /v1/render/{module}`` answers; the fast path calls it too."""
    started = time.perf_counter()
    svc: RenderService = request.app.state.service
    caller(request, "renderer")
    fragment = request.app.state.fragments.get(svc, module, values)
    metrics.rendered("fragment", time.perf_counter() - started, [fragment.decision])
    if request.headers.get("if-none-match") == fragment.headers["ETag"]:
        return Response(status_code=304, headers=fragment.headers)
    return Response(fragment.html, media_type="text/html; charset=utf-8", headers=fragment.headers)


@router.get("/v1/render/{module}", tags=["render"], responses={200: {"content": {"text/html": {}}}, **ERRORS})
async def render_fragment(
    module: str,
    request: Request,
    segment: str | None = Query(None, description="segment id, or omit for any"),
    industry: str | None = Query(None),
    behaviour: str | None = Query(None),
    locale: str | None = Query(None, description="locale id; the workspace default if omitted"),
) -> Response:
    """An anonymous cohort fragment (web), cacheable by a CDN: no profile, no arm (a value given twice is refused
    before routing: ``api.guard``)."""
    return fragment_response(
        request, module, {"segment": segment, "industry": industry, "behaviour": behaviour, "locale": locale}
    )


@router.get("/metrics", include_in_schema=False)
def get_metrics(
    request: Request, svc: RenderService = Depends(service), who: Principal = Depends(renderer)
) -> Response:
    """Prometheus metrics (any account's token: a scraper gets a renderer token of its own)."""
    if who.name == ANONYMOUS:
        raise Unauthenticated("metrics need a token: `variantly token create prometheus --role renderer`")
    body, content_type = metrics.exposition(request.app.state.settings.metrics_dir)
    return Response(body, media_type=content_type)


ASSET_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}
# A workspace's picture opened on its own is a document of this origin, the review UI's: an SVG with a script in it
# (one saved from the web) ran there. Sandboxed, with no script and nothing loaded, it is only ever a picture.
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=3600",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
    "X-Content-Type-Options": "nosniff",
}


def picture_response(file: ImageFile, if_none_match: str | None, *, public: bool = True) -> Response:
    """A stored picture, immutable: its name is its content, so its ETag is its name and a revalidation is a 304.
    One not approved yet (a reviewer's) is kept by the browser only, never by a shared cache."""
    tag = f'"{file.name}"'
    cache = IMMUTABLE if public else IMMUTABLE.replace("public", "private")
    headers = {"Cache-Control": cache, "ETag": tag, "X-Content-Type-Options": "nosniff"}
    if if_none_match is not None and tag in (t.strip().removeprefix("W/") for t in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(file.data, media_type=file.mime, headers=headers)


def _reviewer(request: Request) -> bool:
    """A signed-in reviewer's browser (the review UI's session cookie) or a reviewer's token: who may see a picture
    before it is approved."""
    from variantly.web.session import load

    svc: RenderService = request.app.state.service
    try:
        who = load(request).principal or (svc.principal_for_token(token) if (token := bearer(request)) else None)
        return who is not None and who.require("reviewer") is not None
    except VariantlyError:  # a bad token, or a renderer's: not a reviewer
        return False


@router.get("/assets/{name}", tags=["render"], include_in_schema=False)
def asset(name: str, request: Request, svc: RenderService = Depends(service)) -> Response:
    """Generated and imported pictures by content hash (``/assets/<sha256>[-<width>].<ext>``, from the store through
    this process's cache), and the files a workspace keeps in ``modules/assets/`` (a module's default pictures)."""
    if PictureFiles.is_picture(name):
        found = svc.pictures.get(name)
        public = found is not None and found.hash in svc.release.pictures
        if found is None or not (public or _reviewer(request)):  # unapproved: reviewers only, and no hint it exists
            return Response(status_code=404, headers={"Cache-Control": "no-store"})
        return picture_response(found, request.headers.get("if-none-match"), public=public)
    path = file_named(svc.root / "modules" / "assets", name)
    if path is None or path.suffix not in ASSET_TYPES:
        return Response(status_code=404)
    return Response(path.read_bytes(), media_type=ASSET_TYPES[path.suffix], headers=ASSET_HEADERS)
