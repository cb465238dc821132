"""The HTTP app: render routes always; review and runs for signed-in roles.

Imports nothing from the generation stack at start-up (a test checks): a run
started over HTTP imports it then, in that process, for that run. A render-only
app does not import the review UI or its routes at all.

Everything about how the process runs comes in one ``ProcessSettings``. ``app_from_env``
is the factory for an ASGI server's own command line (``uvicorn --factory``), reading the
environment; ``variantly serve --workers N`` hands each worker its settings directly
(``AppFactory``, pickled with uvicorn's config), not through the environment.
"""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from variantly import __version__
from variantly.api import batch, docs, events, privacy, render
from variantly.api.answers import asgi_answer, install_error_handlers
from variantly.api.fast_path import RenderFastPath
from variantly.api.guard import AnswerErrors, RefuseUnusableInput
from variantly.api.limits import BodyLimit
from variantly.api.page_calls import PageOrigins, PlainTextAsJSON
from variantly.api.schemas import BatchRenderRequest
from variantly.logs import configure_logging
from variantly.privacy.retention import Purger
from variantly.serving.service import RenderService
from variantly.settings import ProcessSettings
from variantly.store import Store, default_database_url

log = logging.getLogger("variantly.api")


class VariantlyAPI(FastAPI):
    """FastAPI with the render fast path in front of the framework's own layers.

    Added as a middleware, ``RenderFastPath`` still ran inside what FastAPI wraps every app in
    (the server-error layer, native OpenTelemetry's layer, its body limit). Moved here, a landing
    render went from 300 to 281 us in-process and one module from 210 to 194, against bare
    FastAPI's 195 (``bench/render_profile.py``, one slow machine, 2026-12-03). What the fast path
    does not answer goes to ``framework``, FastAPI as it is, so every error and layer still comes
    from one place.
    """

    fast_path: RenderFastPath | None = None
    page_origins: PageOrigins | None = None  # CORS for pages on other sites, in front of everything when named

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # ``dispatch`` written out after the first line: one coroutine less on every render where no origin is named,
        # 0.6 us of a landing render's 69 in-process (medians of 9 rounds of 5,000 in turns, 2026-12-04)
        if self.page_origins is not None:
            await self.page_origins(scope, receive, send)  # which calls ``dispatch``
        elif self.fast_path is not None and scope["type"] == "http":
            scope["app"] = self
            await self.fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The fast path first, then the framework."""
        if self.fast_path is not None and scope["type"] == "http":
            scope["app"] = self  # what Starlette sets, for ``Request.app``
            await self.fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def takes_now(self, scope: Scope) -> bool:
        """A request this app can answer as soon as its body is in (``api.server.AnswersNow``): a render the fast
        path takes, where no page origin's CORS layer must come first."""
        return self.page_origins is None and self.fast_path is not None and self.fast_path.takes(scope)

    def answer_now(self, scope: Scope, body: bytes) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """Its headers and body, or None for the ASGI path to answer (``RenderFastPath.answer_now``)."""
        scope["app"] = self  # what Starlette sets, for ``Request.app``
        return self.fast_path.answer_now(scope, body) if self.fast_path is not None else None

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app without the fast path: FastAPI's layers, ours, then the routes."""
        await super().__call__(scope, receive, send)


def create_app(
    settings: ProcessSettings, *, service: RenderService | None = None, fast_render: bool = True
) -> VariantlyAPI:
    """The API. ``settings.render_only`` makes a render-only node: render routes only,
    and it never loads guardrails-ai (not even to re-check a changed policy).
    ``settings.redis_url`` shares frequency caps between processes.
    ``fast_render=False`` sends every ``POST /v1/render`` through FastAPI's route instead of
    ``RenderFastPath`` (the same answers, slower: its tests compare the two)."""
    review_enabled = not settings.render_only
    if service is None:
        store = Store(settings.database_url or default_database_url(settings.workspace))
        service = RenderService(settings, store)

    purger = (
        Purger(service.store, lambda: service.workspace.settings.events.retention_days, settings.purge_seconds)
        if service.store is not None
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        if review_enabled and service.store is not None:
            # Variants approved before a policy edit that came with a deploy, or before a built-in check was added:
            # served until checked, so checked now. And variants not scored under this brand.yml yet.
            _recheck_in_background(app, service.workspace)
            _rescore_in_background(app, service.workspace)
        if purger is not None:
            purger.start()
        # What is loaded by now (modules, release, compiled templates) lives as long as the process: keep it
        # out of the cyclic collector, so a full collection walks request garbage only, not the whole heap
        # (a stall of tens of milliseconds on a render otherwise).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            service.stop()
            if purger is not None:
                purger.stop()

    app = VariantlyAPI(
        title="Variantly",
        version=__version__,
        lifespan=lifespan,
        summary="Personalised content from approved variants, with the reason for every choice.",
        docs_url=None,  # served by api.docs from packaged files, not a CDN
        redoc_url=None,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.fragments = render.Fragments()
    app.add_middleware(PlainTextAsJSON)
    app.add_middleware(BodyLimit, limits=settings.body_limits)
    app.add_middleware(RefuseUnusableInput, answer=asgi_answer(ui=review_enabled))
    app.add_middleware(AnswerErrors, answer=asgi_answer(ui=review_enabled))
    if fast_render:  # in front of every layer, doing their part for what it answers itself
        app.fast_path = RenderFastPath(app.framework, render_limit=settings.body_limits["render"])
    if settings.page_origins:
        app.page_origins = PageOrigins(app.dispatch, settings.page_origins)
    if review_enabled:
        service.on_policy_change = lambda workspace: _recheck_in_background(app, workspace)
        service.on_brand_change = lambda workspace: _rescore_in_background(app, workspace)

    install_error_handlers(app, ui=review_enabled)

    app.include_router(batch.router)  # before render's GET /v1/render/{module}, which would answer it with a 405
    app.include_router(render.router)
    app.include_router(events.router)
    app.include_router(privacy.router)
    app.include_router(docs.router)
    _document_models(app, BatchRenderRequest)  # a body the batch route reads itself, JSON or NDJSON
    if review_enabled:
        from variantly import web
        from variantly.api import review, runs
        from variantly.checkers import CheckerCache

        app.state.checkers = CheckerCache()  # the review routes' and pages' checker, built on first use
        app.include_router(review.router)
        app.include_router(runs.router)
        app.include_router(web.router)
    return app


def app_from_env() -> FastAPI:
    """The app as the environment describes it (``ProcessSettings.from_env``), for an ASGI server's
    ``--factory``: one call per worker."""
    settings = ProcessSettings.from_env()
    configure_logging(settings.log_format)
    return create_app(settings)


@dataclass(frozen=True)
class AppFactory:
    """Builds the app in a worker process from settings its parent gave it (pickled with uvicorn's config)."""

    settings: ProcessSettings

    def __call__(self) -> FastAPI:
        configure_logging(self.settings.log_format)
        return create_app(self.settings)


def _document_models(app: FastAPI, *models: type[BaseModel]) -> None:
    """Put request bodies that a route parses itself into the OpenAPI components, so its schema can name them."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()  # FastAPI keeps it as app.openapi_schema
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                found = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in found.pop("$defs", {}).items():
                    components.setdefault(name, definition)
                components.setdefault(model.__name__, found)
            return schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _recheck_in_background(app: FastAPI, workspace) -> None:
    """Re-check approved variants not checked under this policy and these built-in checks, off the request path.
    With none (most starts), the checker (guardrails-ai, seconds to import) is never built."""
    import threading

    from variantly.authoring.review import approved_unchecked, recheck_policy

    def work() -> None:
        try:
            if not approved_unchecked(app.state.service.store, workspace):
                return
            checker = app.state.checkers.for_workspace(workspace)
            pulled = recheck_policy(app.state.service.store, workspace, checker.check_slots)
            log.info("approved variants checked again under the policy: %d pulled", len(pulled))
        except Exception:
            log.exception("policy re-check failed")

    threading.Thread(target=work, name="policy-recheck", daemon=True).start()


def _rescore_in_background(app: FastAPI, workspace) -> None:
    """Score every variant not scored under the workspace's brand.yml, off the request path."""
    import threading

    from variantly.authoring.brand_score import rescore

    def work() -> None:
        try:
            done = rescore(app.state.service.store, workspace)
            if done:
                log.info("brand guidelines: %d variant(s) scored", done)
        except Exception:
            log.exception("brand scoring failed")

    threading.Thread(target=work, name="brand-rescore", daemon=True).start()
