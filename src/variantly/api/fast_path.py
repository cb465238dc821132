"""``POST /v1/render`` and ``GET /v1/render/{module}`` without FastAPI's request machinery, when nothing goes wrong.

Measured in-process on the landing page, FastAPI's handling of a request (matching it
through the included routers, solving the route's parameters, decoding the JSON and
then validating it) took longer than the render itself. This pure ASGI layer answers a
render request itself: it validates the body with the route's own model (pydantic reads
the JSON in one pass) and calls the route's own function. Whatever does not go through
untouched (a body the model refuses, a missing token, an unknown module, a refusal for
consent) is handed to the FastAPI route with the same bytes, so every error, its shape
and the OpenAPI document still come from one place. Rendering has no side effects until
its answer is built, so trying it first and handing over costs only time.

A cohort fragment (``GET /v1/render/{module}?segment=...``) is read the same way: the
module from the path, the four cohort values from the query, and the route's own
``fragment_response``; a repeated or unknown query key, or anything it refuses, goes to
the route.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from variantly.api.guard import unstorable_field
from variantly.api.page_calls import PLAIN_TEXT
from variantly.api.render import answer_render, answer_render_now, fragment_response, picture_response
from variantly.api.schemas import RenderRequest
from variantly.serving.answer import Answer
from variantly.serving.profiles import NUL_FREE, no_nul_escape

PATH = "/v1/render"
FRAGMENT = "/v1/render/"
ASSETS = "/assets/"
COHORT_KEYS = ("segment", "industry", "behaviour", "locale")
VALIDATED = "variantly.render"  # the scope's key for a render body validated before it came through ASGI
JSON_TYPES = (b"application/json", b"application/json; charset=utf-8", *PLAIN_TEXT)  # a page's plain text too


class RenderFastPath:
    """In front of every layer, FastAPI's and ours (``VariantlyAPI.__call__`` calls it first): what it answers
    skips them all (ours cost 18-27 us a render in-process, FastAPI's another 19 of a landing's 300 on a slow
    machine), so it does their part for what it takes: a body within the render limit by its Content-Length
    (``BodyLimit``), no query and a plain path, or a fragment's checked for NUL (``RefuseUnusableInput``),
    every exception handed over (``AnswerErrors``). The rest goes through them all."""

    def __init__(self, app: ASGIApp, render_limit: int) -> None:
        self.app = app
        self.render_limit = render_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["method"] == "GET" and scope["path"].startswith(FRAGMENT) and unstorable_field(scope) is None:
            await self._fragment(scope, receive, send)
        elif self.takes(scope):
            await self._render(scope, receive, send)
        elif scope["method"] == "GET" and scope["path"].startswith(ASSETS) and not scope["query_string"]:
            await self._picture(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def takes(self, scope: Scope) -> bool:
        """A render with a JSON body whose declared length is within the render limit, a plain path and no query:
        anything else is for the layers."""
        if scope["method"] != "POST" or scope["path"] != PATH or scope["query_string"]:
            return False
        json_type = length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                json_type = value.lower() in JSON_TYPES
            elif name == b"content-length":
                length = int(value) if value.isdigit() else None
        return bool(json_type) and length is not None and length <= self.render_limit

    def answer_now(self, scope: Scope, body: bytes) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """A render it ``takes`` answered from its whole body without waiting for anything, as headers and body
        for a server to write itself (``api.server.HttpTools``). None hands the request to the ASGI path, which
        answers or refuses it as always; a render that must count caps in Redis leaves its validated body in the
        scope there, so the body is validated once."""
        try:
            request = _validated(body)
            answer = answer_render_now(request, Request(scope))
        except Exception:  # the route says what is wrong, in the documented shape
            return None
        if answer is None:
            scope[VALIDATED] = request
            return None
        return _headers(answer), answer.body

    async def _render(self, scope: Scope, receive: Receive, send: Send) -> None:
        validated = scope.pop(VALIDATED, None)
        body = await _read_body(receive)
        if body is None:  # the client went away while sending
            return
        try:
            request = validated if validated is not None else _validated(body)
            answer = await answer_render(request, Request(scope))
        except Exception:  # the route says what is wrong, in the documented shape
            await self.app(scope, _replay(body, receive), send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _headers(answer)})
        await send({"type": "http.response.body", "body": answer.body})

    async def _picture(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An approved picture this process holds in memory; a miss (the store is read in a thread) or a picture
        not approved yet (reviewers only) goes to the route."""
        request = Request(scope)
        service = request.app.state.service
        found = service.pictures.cached(scope["path"][len(ASSETS) :])
        if found is None or found.hash not in service.release.pictures:  # a miss, or not approved: the route says
            await self.app(scope, receive, send)
            return
        await picture_response(found, request.headers.get("if-none-match"))(scope, receive, send)

    async def _fragment(self, scope: Scope, receive: Receive, send: Send) -> None:
        module = scope["path"][len(FRAGMENT) :]
        values = _cohort_values(scope["query_string"])
        if not module or "/" in module or values is None:
            await self.app(scope, receive, send)
            return
        try:
            answer = fragment_response(Request(scope), module, values)
        except Exception:  # an unknown module or cohort value, a missing token: the route says so
            await self.app(scope, receive, send)
            return
        await answer(scope, receive, send)


def _validated(body: bytes) -> RenderRequest:
    """The route's own model read from the JSON in one pass; the text check skipped for JSON that cannot hold a NUL."""
    return RenderRequest.model_validate_json(body, context=NUL_FREE if no_nul_escape(body) else None)


def _headers(answer: Answer) -> list[tuple[bytes, bytes]]:
    """The headers as Starlette's Response would write them for the route, in its order (a test compares them):
    written directly, 3 us a render less than building that Response."""
    return [
        (b"x-variantly-arm", answer.arm.encode()),
        (b"x-variantly-release", b"%d" % answer.release),
        (b"content-length", b"%d" % len(answer.body)),
        (b"content-type", b"application/json"),
    ]


def _cohort_values(query: bytes) -> dict[str, str | None] | None:
    """The four cohort values as the route reads them (Starlette's query parsing); None when a key is repeated
    or unknown, for the route to judge."""
    values: dict[str, str | None] = dict.fromkeys(COHORT_KEYS)
    seen = set()
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name not in values or name in seen:
            return None
        seen.add(name)
        values[name] = value
    return values


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
