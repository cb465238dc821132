"""Generation runs over HTTP (admin). The generation stack is imported only when a run starts."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from variantly.api.deps import admin, service
from variantly.api.schemas import ERRORS, Body, ErrorResponse
from variantly.auth import Principal
from variantly.errors import InvalidRequest
from variantly.serving.service import RenderService
from variantly.store.runs import get_run
from variantly.workspace import Workspace
from variantly.workspace.models import MOST_CANDIDATES, MOST_CONCURRENCY

router = APIRouter(tags=["runs"])
log = logging.getLogger("variantly.runs")


class RunRequest(Body):
    model_config = ConfigDict(extra="forbid")

    modules: list[str] | None = None
    locales: list[str] | None = None
    cohorts: list[str] | None = None
    candidates: int | None = Field(default=None, ge=1, le=MOST_CANDIDATES)
    concurrency: int | None = Field(default=None, ge=1, le=MOST_CONCURRENCY)
    budget_usd: float | None = Field(default=None, gt=0)
    retry_failed: bool = Field(default=False, description="also redo jobs that failed before")


class RunOut(BaseModel):
    id: str
    status: str
    actor: str
    message: str
    progress: dict
    options: dict


def unknown_names(body: RunRequest, workspace: Workspace) -> InvalidRequest | None:
    """A module or locale the served workspace does not have: named before anything is paid for."""
    known = {"modules": set(workspace.modules), "locales": set(workspace.locales)}
    for field, names in (("modules", body.modules), ("locales", body.locales)):
        for i, name in enumerate(names or []):
            if name not in known[field]:
                return InvalidRequest(
                    f"body.{field}.{i}", f"no {field[:-1]} '{name}' (known: {', '.join(sorted(known[field]))})"
                )
    return None


def start_run(svc: RenderService, body: RunRequest, actor: str) -> str:
    """Start a run in a background thread; returns its id at once."""
    if (unknown := unknown_names(body, svc.workspace)) is not None:
        raise unknown
    from variantly.generation import wiring
    from variantly.generation.plan import unknown_cohort
    from variantly.generation.run import RunOptions

    if (cohort := unknown_cohort(svc.workspace, body.modules, body.locales, body.cohorts)) is not None:
        raise InvalidRequest(f"body.cohorts.{cohort[0]}", cohort[1])  # as a module or locale is: before a run starts

    # the served workspace; a missing or bad LLM setting fails now (503: the server's setting, documented)
    runner = wiring.runner(svc.required_store(), svc.workspace, svc.settings)
    run_id = uuid.uuid4().hex[:12]
    options = RunOptions(**body.model_dump())

    def work() -> None:
        try:
            asyncio.run(runner.run(options, actor=actor, run_id=run_id))
        except Exception:
            log.exception("run %s failed", run_id)

    threading.Thread(target=work, name=f"run-{run_id}", daemon=True).start()
    return run_id


@router.post(
    "/v1/runs",
    status_code=202,
    response_model=RunOut,
    responses=ERRORS
    | {
        503: {
            "model": ErrorResponse,
            "description": "no LLM configured on the server (llm_not_configured), the generation extra is not "
            "installed (generation_not_installed), or the store is unreachable",
        }
    },
)
def create(body: RunRequest, svc: RenderService = Depends(service), who: Principal = Depends(admin)) -> RunOut:
    """Start a generation run (admin). Poll GET /v1/runs/{id} for progress."""
    run_id = start_run(svc, body, who.name)
    for _ in range(100):  # the row appears as soon as the thread starts
        try:
            return show(run_id, svc, who)
        except Exception:
            threading.Event().wait(0.02)
    return RunOut(id=run_id, status="starting", actor=who.name, message="", progress={}, options=body.model_dump())


@router.get("/v1/runs/{run_id}", response_model=RunOut, responses=ERRORS)
def show(run_id: str, svc: RenderService = Depends(service), who: Principal = Depends(admin)) -> RunOut:
    row = get_run(svc.required_store(), run_id)
    return RunOut(
        id=row.id, status=row.status, actor=row.actor, message=row.message, progress=row.progress, options=row.options
    )
