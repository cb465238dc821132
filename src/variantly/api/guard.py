"""What no route should ever see, and what no client should ever get: refused or answered at the edge.

``RefuseUnusableInput``: a path or query parameter holding a NUL character is a 422
naming it, before routing. SQLite stores such text and PostgreSQL refuses it (a 500 deep
in the store), so the same request answered differently by store; now it is refused the
same everywhere. JSON bodies are checked by their models (``api.schemas.Body``,
``serving.profiles.reject_invalid_text``) and forms by ``web.forms``. A query parameter of
the API given twice is a 422 too: no API parameter takes a list, and FastAPI took the last,
so "?segment=enterprise&segment=startup" got the startup fragment and
"?module=cta&module=hero" listed hero's variants alone.

``AnswerErrors``: an exception no handler knew is logged and answered with the one error
shape, and the connection stays open. Starlette's own last-resort handler sends the 500
and then raises again so the server can log it, and uvicorn then closes a keep-alive
connection the client meant to reuse.

Both are plain ASGI: they add no task or thread hop to the render path (a byte search of
the path and query string per request).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from variantly.errors import InvalidRequest
from variantly.serving.profiles import NUL_MESSAGE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (scope, status, code, message, details) -> send the answer
Answer = Callable[[Scope, Send, int, str, str, list[dict[str, str]]], Awaitable[None]]

log = logging.getLogger("variantly.api")


def unstorable_field(scope: Scope) -> InvalidRequest | None:
    """The first path or query parameter holding a NUL, or None (the common case costs two byte searches)."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    if b"%00" in raw_path or "\x00" in scope["path"]:
        return InvalidRequest("path", NUL_MESSAGE)
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            name, value = unquote(name), unquote(value)
            if "\x00" in name:
                return InvalidRequest("query", f"a parameter's name {NUL_MESSAGE}")
            if "\x00" in value:
                return InvalidRequest(f"query.{name}", NUL_MESSAGE)
        return InvalidRequest("query", NUL_MESSAGE)
    return None


def repeated_field(scope: Scope) -> InvalidRequest | None:
    """The first query parameter of an API route (``/v1/``) given more than once, or None (no query: no work)."""
    query: bytes = scope.get("query_string", b"")
    if not query or not scope["path"].startswith("/v1/"):
        return None
    seen = set()
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return InvalidRequest(f"query.{name}", "given more than once: give one value")
        seen.add(name)
    return None


class RefuseUnusableInput:
    def __init__(self, app: ASGIApp, answer: Answer) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (refused := unstorable_field(scope) or repeated_field(scope)) is not None:
            await self.answer(scope, send, refused.status_code, refused.code, refused.message, refused.details)
            return
        await self.app(scope, receive, send)


class AnswerErrors:
    def __init__(self, app: ASGIApp, answer: Answer) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:  # once the answer has begun there is nothing honest left to send
                message = "something went wrong on our side; it is logged: try again"
                await self.answer(scope, send, 500, "internal", message, [])
