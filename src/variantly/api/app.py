"""The HTTP app: render routes always; review and runs for signed-in roles.

Imports nothing from the generation stack at start-up (a test checks): a run
started over HTTP imports it then, in that process, for that run. A render-only
app does not import the review UI or its routes at all.

``app_from_env`` is the factory for running several worker processes under uvicorn
(``variantly serve --workers N`` uses it) or any ASGI server that takes a factory.
"""

from __future__ import annotations

import gc
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from variantly import __version__
from variantly.api import batch, events, render
from variantly.api.fast_path import RenderFastPath
from variantly.api.limits import BodyLimit, body_limits
from variantly.api.schemas import BatchRenderRequest
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
    redis_url: str | None = None,
    fast_render: bool = True,
) -> FastAPI:
    """The API. ``review_enabled=False`` makes a render-only node: render routes only,
    and it never loads guardrails-ai (not even to re-check a changed policy).
    ``redis_url`` shares frequency caps and variant statistics between processes.
    ``fast_render=False`` sends every ``POST /v1/render`` through FastAPI's route instead of
    ``RenderFastPath`` (the same answers, slower: its tests compare the two)."""
    if service is None:
        store = Store(database_url or default_database_url(workspace))
        service = RenderService(workspace, store, poll_seconds=poll_seconds, redis_url=redis_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        # What is loaded by now (modules, release, compiled templates) lives as long as the process: keep it
        # out of the cyclic collector, so a full collection walks request garbage only, not the whole heap
        # (a stall of tens of milliseconds on a render otherwise).
        gc.collect()
        gc.freeze()
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
    if fast_render:
        app.add_middleware(RenderFastPath)  # inside BodyLimit: added first, so wrapped by it
    app.add_middleware(BodyLimit, limits=body_limits())
    if review_enabled:
        service.on_policy_change = lambda workspace: _recheck_in_background(app, workspace)

    @app.exception_handler(VariantlyError)
    async def _variantly_error(request: Request, exc: VariantlyError) -> JSONResponse:
        """An error a caller can act on; the store's own words go to the log only."""
        if isinstance(exc, StoreUnavailable):
            log.warning("store error on %s: %s", request.url.path, exc.detail or exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return error_response(exc.status_code, exc.code, exc.message, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422, in the one shape; each field named, its value never echoed back."""
        details = [
            {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]} for error in exc.errors()
        ]
        first = details[0] if details else {"field": "body", "message": "invalid"}
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        message = f"{first['field']}: {first['message']}{more}"
        return error_response(422, "invalid_request", message, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "no such route: see /docs" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "something went wrong on our side; it is logged: try again")

    app.include_router(batch.router)  # before render's GET /v1/render/{module}, which would answer it with a 405
    app.include_router(render.router)
    app.include_router(events.router)
    _document_models(app, BatchRenderRequest)  # a body the batch route reads itself, JSON or NDJSON
    if review_enabled:
        from variantly import web
        from variantly.api import review, runs

        app.include_router(review.router)
        app.include_router(runs.router)
        app.include_router(web.router)
    return app


SETTINGS_ENV = {
    "workspace": "VARIANTLY_WORKSPACE",
    "database_url": "VARIANTLY_DATABASE_URL",
    "redis_url": "VARIANTLY_REDIS_URL",
    "render_only": "VARIANTLY_RENDER_ONLY",
    "poll_seconds": "VARIANTLY_POLL_SECONDS",
}


def app_from_env() -> FastAPI:
    """The app as the environment describes it, for an ASGI server's ``--factory`` (one call per worker).

    ``VARIANTLY_WORKSPACE`` (default: the current folder), ``VARIANTLY_DATABASE_URL``,
    ``VARIANTLY_REDIS_URL``, ``VARIANTLY_RENDER_ONLY=1``, ``VARIANTLY_POLL_SECONDS``.
    """
    from variantly.errors import ConfigurationError
    from variantly.logs import configure_logging

    env = {name: os.environ.get(var) for name, var in SETTINGS_ENV.items()}
    try:
        poll_seconds = float(env["poll_seconds"] or 1.0)
    except ValueError:
        raise ConfigurationError(
            f"VARIANTLY_POLL_SECONDS: '{env['poll_seconds']}' is not a number of seconds"
        ) from None
    configure_logging()
    return create_app(
        env["workspace"] or ".",
        env["database_url"],
        poll_seconds=poll_seconds,
        review_enabled=(env["render_only"] or "").lower() not in ("1", "true", "yes"),
        redis_url=env["redis_url"] or None,
    )


def _document_models(app: FastAPI, *models: type) -> None:
    """Put request bodies that a route parses itself into the OpenAPI components, so its schema can name them."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()  # FastAPI keeps it as app.openapi_schema
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                found = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in found.pop("$defs", {}).items():
                    components.setdefault(name, definition)
                components.setdefault(model.__name__, found)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def error_response(
    status: int, code: str, message: str, *, details: list | None = None, headers: dict | None = None
) -> JSONResponse:
    """The one shape of every 4xx and 5xx: ``{"error": {"code", "message", "details"}}``."""
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JSONResponse(body, status_code=status, headers=headers)


def _recheck_in_background(app: FastAPI, workspace) -> None:
    """Re-check approved variants against a changed policy, off the request path."""
    import threading

    from variantly.api import review
    from variantly.authoring.review import recheck_policy

    def work() -> None:
        try:
            checker = review.policy_checker(app.state, workspace)
            pulled = recheck_policy(app.state.service.store, workspace, checker.check_slots)
            log.info("policy changed: %d approved variant(s) pulled", len(pulled))
        except Exception:
            log.exception("policy re-check failed")

    threading.Thread(target=work, name="policy-recheck", daemon=True).start()
