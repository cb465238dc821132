"""The render server. Imports nothing from the generation stack (tests check it)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from variantly.api.schemas import BatchRenderRequest, ErrorResponse, HealthResponse, RenderRequest, RenderResponse
from variantly.errors import VariantlyError
from variantly.render import RenderedPage, render_module, render_target, viewer_for_cohort, viewer_for_profile
from variantly.serving import RenderService
from variantly.store import Store, default_database_url

log = logging.getLogger("variantly.api")

ERRORS = {404: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 422: {"description": "invalid body"}}


def create_app(
    workspace: str | Path,
    database_url: str | None = None,
    *,
    poll_seconds: float = 1.0,
    service: RenderService | None = None,
) -> FastAPI:
    if service is None:
        store = Store(database_url or default_database_url(workspace))
        service = RenderService(workspace, store, poll_seconds=poll_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="Variantly",
        version="0.1.0",
        summary="Personalised content from approved variants, with the reason for every choice.",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(VariantlyError)
    async def _variantly_error(request: Request, exc: VariantlyError) -> JSONResponse:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status_code)

    @app.get("/healthz", response_model=HealthResponse, tags=["ops"])
    def healthz() -> HealthResponse:
        return HealthResponse.of(service.health())

    @app.post("/v1/render", response_model=RenderResponse, responses=ERRORS, tags=["render"])
    def render(body: RenderRequest, response: Response) -> RenderResponse:
        """Render a module, several modules or a layout for one profile."""
        workspace, release = service.workspace, service.release
        viewer = viewer_for_profile(workspace, body.profile)
        page = render_target(
            workspace,
            release,
            viewer,
            channel=body.channel,
            module=body.module,
            modules=body.modules,
            layout=body.layout,
        )
        response.headers["X-Variantly-Arm"] = page.arm
        response.headers["X-Variantly-Release"] = str(release.number)
        return RenderResponse(**page.as_dict(), release=release.number)

    @app.post("/v1/render/batch", tags=["render"], responses={200: {"content": {"application/x-ndjson": {}}}})
    def render_batch(body: BatchRenderRequest) -> StreamingResponse:
        """Render one target for many profiles (an email send); streams one JSON line per profile.

        A profile that cannot get this content (no email consent, say) gets an error
        line of its own; the rest of the batch goes on.
        """
        workspace, release = service.workspace, service.release

        def lines() -> Iterator[bytes]:
            for profile in body.profiles:
                try:
                    viewer = viewer_for_profile(workspace, profile)
                    page: RenderedPage = render_target(
                        workspace,
                        release,
                        viewer,
                        channel=body.channel,
                        module=body.module,
                        modules=body.modules,
                        layout=body.layout,
                    )
                    out = {"profile_id": profile.id, "ok": True, **page.as_dict(), "release": release.number}
                except VariantlyError as exc:
                    out = {"profile_id": profile.id, "ok": False, "error": {"code": exc.code, "message": exc.message}}
                yield json.dumps(out, ensure_ascii=False).encode() + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/v1/render/{module}", tags=["render"], responses={200: {"content": {"text/html": {}}}, **ERRORS})
    def render_fragment(
        module: str,
        request: Request,
        segment: str | None = Query(None, description="segment id, or omit for any"),
        industry: str | None = Query(None),
        behaviour: str | None = Query(None),
        locale: str | None = Query(None, description="locale id; the workspace default if omitted"),
    ) -> Response:
        """An anonymous cohort fragment (web), cacheable by a CDN: no profile, no arm."""
        workspace, release = service.workspace, service.release
        viewer = viewer_for_cohort(
            workspace, {"segment": segment, "industry": industry, "behaviour": behaviour, "locale": locale}
        )
        rendered = render_module(workspace, release, module, "web", viewer)
        etag = '"' + hashlib.sha256(rendered.html.encode()).hexdigest()[:20] + '"'
        headers = {
            "ETag": etag,
            "Cache-Control": "public, max-age=60, stale-while-revalidate=300",
            "X-Variantly-Outcome": rendered.decision.outcome,
            "X-Variantly-Variant": rendered.decision.variant_id or "",
            "X-Variantly-Cohort": rendered.decision.cohort,
            "X-Variantly-Release": str(release.number),
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(rendered.html, media_type="text/html; charset=utf-8", headers=headers)

    return app
