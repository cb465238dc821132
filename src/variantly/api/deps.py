"""Request dependencies: the render service and who is calling."""

from __future__ import annotations

from fastapi import Request

from variantly.auth import ANONYMOUS, Principal
from variantly.serving.service import RenderService

ANONYMOUS_RENDERER = Principal(ANONYMOUS, "renderer")  # made once: every anonymous render is this caller


async def service(request: Request) -> RenderService:
    """Async, like ``renderer``: a sync dependency would cost every render a thread-pool hop."""
    return request.app.state.service


def bearer(request: Request) -> str | None:
    """The bearer token, read from the raw headers (the server gives their names in lower case): building
    ``request.headers`` for it cost every render 8 us in-process (``bench/render_profile.py``)."""
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def caller(request: Request, role: str) -> Principal:
    """The authenticated caller with at least ``role``; 401 without credentials, 403 below the role."""
    svc: RenderService = request.app.state.service
    token = bearer(request)
    if role == "renderer" and not token and svc.workspace.settings.anonymous_render:
        return ANONYMOUS_RENDERER
    return svc.principal_for_token(token).require(role)


async def renderer(request: Request) -> Principal:
    """Reads tokens from memory (a miss may refresh them from the store, at most twice a second)."""
    return caller(request, "renderer")


def reviewer(request: Request) -> Principal:
    return caller(request, "reviewer")


def admin(request: Request) -> Principal:
    return caller(request, "admin")
