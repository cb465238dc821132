"""The HTTP app: render routes always; review and runs for signed-in roles.

Imports nothing from the generation stack at start-up (a test checks): a run
started over HTTP imports it then, in that process, for that run.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from variantly import __version__
from variantly.api import render, runs
from variantly.errors import VariantlyError
from variantly.serving import RenderService
from variantly.store import Store, default_database_url


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
        version=__version__,
        lifespan=lifespan,
        summary="Personalised content from approved variants, with the reason for every choice.",
    )
    app.state.service = service

    @app.exception_handler(VariantlyError)
    async def _variantly_error(request: Request, exc: VariantlyError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status_code, headers=headers
        )

    app.include_router(render.router)
    app.include_router(runs.router)
    return app
