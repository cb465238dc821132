"""``POST /v1/render`` without FastAPI's request machinery, when nothing goes wrong.

Measured in-process on the landing page, FastAPI's handling of a request (matching it
through the included routers, solving the route's parameters, decoding the JSON and
then validating it) took longer than the render itself. This pure ASGI layer answers a
render request itself: it validates the body with the route's own model (pydantic reads
the JSON in one pass) and calls the route's own function. Whatever does not go through
untouched (a body the model refuses, a missing token, an unknown module, a refusal for
consent) is handed to the FastAPI route with the same bytes, so every error, its shape
and the OpenAPI document still come from one place. Rendering has no side effects until
its answer is built, so trying it first and handing over costs only time.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from variantly.api.render import render
from variantly.api.schemas import RenderRequest

PATH = "/v1/render"
JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")


class RenderFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST" and _is_json(scope)):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away while sending
            return
        try:
            answer = await render(RenderRequest.model_validate_json(body), Request(scope))
        except Exception:  # the route says what is wrong, in the documented shape
            await self.app(scope, _replay(body, receive), send)
            return
        await answer(scope, receive, send)


def _is_json(scope: Scope) -> bool:
    """Only the plain JSON content type: anything else is for FastAPI to judge."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.lower() in JSON_TYPES
    return False


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (``BodyLimit``, outside this layer, has already bounded its size)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the route the body already read, then listens to the client as before."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
