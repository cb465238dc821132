"""Request body limits per route, before anything parses the body.

A render request is one profile and a few kilobytes; a batch is a send list; events
come in batches of 5,000; an NDJSON send streams (read a line at a time, each line
held to the render limit), so its limit only bounds how long one request may run.
A body over its route's limit gets 413 at once (from its
Content-Length, or while it streams in), so a 5 MB render body or a profile with
100,000 events costs nothing to refuse. Limits are a setting (``ProcessSettings.body_limits``,
``VARIANTLY_BODY_LIMITS=render=256k,batch=64m,stream=16g,events=8m,other=1m``).

A plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: it adds no task or
thread hop to the render path.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from variantly.settings import ENVIRONMENT

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

LIMITS_ENV = ENVIRONMENT["body_limits"][0]


def route_of(path: str, content_type: bytes = b"") -> str:
    if path == "/v1/render/batch":
        return "stream" if content_type.split(b";")[0].strip() == b"application/x-ndjson" else "batch"
    if path.startswith("/v1/render"):
        return "render"
    if path == "/v1/events":
        return "events"
    return "other"


class BodyLimit:
    def __init__(self, app: ASGIApp, limits: dict[str, int]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
        route = route_of(scope["path"], content_type)
        limit = self.limits[route]
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                await _too_large(send, route, limit)
                return
            # The server holds the body to its declared length: nothing more to count (the render path's case).
            await self.app(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(send, route, limit)


class _TooLarge(Exception):
    """Internal: a streamed body passed its limit."""


async def _too_large(send: Callable, route: str, limit: int) -> None:
    message = (
        f"the request body is over the {route} limit of {limit // 1024:,} KB: send less (or raise it with {LIMITS_ENV})"
    )
    body = json.dumps({"error": {"code": "body_too_large", "message": message, "details": []}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
