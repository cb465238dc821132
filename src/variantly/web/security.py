"""Security headers on every review UI response, set by the UI router's route class.

The UI runs no inline script (``app.js`` is a file), so its policy allows scripts and
styles from this origin only, and no one may frame it (the approve buttons cannot be
clickjacked). The variant preview is framed by the variant page: it may be framed by
this origin, carries its own inline styles, and may run no script at all. Render
routes do not go through this class and pay nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

UI_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)


def headers_for(path: str) -> dict[str, str]:
    preview = "/preview/" in path
    return {
        "Content-Security-Policy": PREVIEW_POLICY if preview else UI_POLICY,
        "X-Frame-Options": "SAMEORIGIN" if preview else "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def secure_cookies(request: Request) -> bool:
    """Mark cookies Secure behind TLS: when the request came over https (uvicorn honours a trusted
    proxy's X-Forwarded-Proto), or always when ``VARIANTLY_SECURE_COOKIES=1``."""
    return request.url.scheme == "https" or request.app.state.settings.secure_cookies


class SecureRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_headers(request: Request) -> Response:
            response = await handler(request)
            response.headers.update(headers_for(request.url.path))
            return response

        return with_headers
