"""The HTTP app: render routes always; review and runs for signed-in roles.

Imports nothing from the generation stack at start-up (a test checks): a run
started over HTTP imports it then, in that process, for that run.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from variantly import __version__, web
from variantly.api import events, render, review, runs
from variantly.errors import StoreUnavailable, VariantlyError
from variantly.serving.service import RenderService
from variantly.store import Store, default_database_url

log = logging.getLogger("variantly.api")


def create_app(
    workspace: str | Path,
    database_url: str | None = None,
    *,
    poll_seconds: float = 1.0,
    service: RenderService | None = None,
    review_enabled: bool = True,
) -> FastAPI:
    """The API. ``review_enabled=False`` makes a render-only node: render routes only,
    and it never loads guardrails-ai (not even to re-check a changed policy)."""
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
        version=__version__,
        lifespan=lifespan,
        summary="Personalised content from approved variants, with the reason for every choice.",
    )
    app.state.service = service
    if review_enabled:
        service.on_policy_change = lambda workspace: _recheck_in_background(app, workspace)

    @app.exception_handler(VariantlyError)
    async def _variantly_error(request: Request, exc: VariantlyError) -> JSONResponse:
        """The one place an error becomes a response; the store's own words go to the log only."""
        if isinstance(exc, StoreUnavailable):
            log.warning("store error on %s: %s", request.url.path, exc.detail or exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status_code, headers=headers
        )

    app.include_router(render.router)
    app.include_router(events.router)
    if review_enabled:
        app.include_router(review.router)
        app.include_router(runs.router)
        app.include_router(web.router)
    return app


def _recheck_in_background(app: FastAPI, workspace) -> None:
    """Re-check approved variants against a changed policy, off the request path."""
    import threading

    from variantly.authoring.review import recheck_policy

    def work() -> None:
        try:
            checker = review.policy_checker(app.state, workspace)
            pulled = recheck_policy(app.state.service.store, workspace, checker.check_slots)
            log.info("policy changed: %d approved variant(s) pulled", len(pulled))
        except Exception:
            log.exception("policy re-check failed")

    threading.Thread(target=work, name="policy-recheck", daemon=True).start()
