"""The review web UI: server-rendered pages over the same library as the API."""

from fastapi import APIRouter

from variantly.web import lift, preview, routes

router = APIRouter()
router.include_router(routes.router)
router.include_router(preview.router)
router.include_router(lift.router)

__all__ = ["router"]
