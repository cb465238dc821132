"""What pages send from the browser: JSON as plain text, and calls from other sites (CORS) for the origins an
operator names.

``PlainTextAsJSON``: ``navigator.sendBeacon`` sends a page's last impressions as it unloads, and
sends a string as ``text/plain`` (a JSON type would need the preflight a beacon cannot make); a
``fetch`` with ``text/plain`` needs no preflight either, one round trip less. On the routes a
page calls, such a body is read as the JSON it is: it was a 422 "Input should be a valid
dictionary", and the impressions a beacon sent were lost. The render fast path takes it too.

A landing page's script on ``https://www.lumen.example`` that asks ``https://api.lumen.example``
for its blocks, and sends back the impressions with their signatures, is refused by the browser
unless the answer says that origin may read it, and its JSON ``POST`` is asked about first (a
preflight ``OPTIONS``). Without origins named (``page_origins``, the default) nothing here runs
and a page must reach Variantly on its own origin, through its proxy.

Only the routes a page calls: ``/v1/render`` (a page, a fragment, a batch) and ``/v1/events``,
with no cookies (the review UI is never readable from another site). Starlette's
``CORSMiddleware`` answers the preflights (a page's may ask for ``Authorization``, for a page
that carries a renderer token); ``PageOrigins`` adds the headers to the answers, in front of
the render fast path so its answers carry them too, and exposes the headers a page reads (the
arm, the release, a fragment's outcome, variant, cohort and ETag). Every answer there varies
by ``Origin``, asked with one or not, so a CDN keeps a fragment's copy per origin and never
hands a page the copy made without its header.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_PATHS = ("/v1/render", "/v1/events")
PLAIN_TEXT = (b"text/plain", b"text/plain;charset=utf-8", b"text/plain; charset=utf-8")  # as browsers send it


class PlainTextAsJSON:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(PAGE_PATHS):
            headers = scope["headers"]
            for i, (name, value) in enumerate(headers):
                if name == b"content-type" and value.lower() in PLAIN_TEXT:
                    json_type = (b"content-type", b"application/json")
                    scope = {**scope, "headers": [*headers[:i], json_type, *headers[i + 1 :]]}
                    break
        await self.app(scope, receive, send)


EXPOSED = [
    "X-Variantly-Arm",
    "X-Variantly-Release",
    "X-Variantly-Outcome",
    "X-Variantly-Variant",
    "X-Variantly-Cohort",
    "ETag",
]


class PageOrigins:
    """Starlette's ``CORSMiddleware`` answers the preflights; the answers themselves get their headers here, added to
    what the route or the fast path sends. Through Starlette's layer a landing render took 85-86 us in-process
    against 72 without origins named (it reads the request's headers into a mapping and rewrites the answer's);
    this way 73-74 against 69.5 (the landing body handed to the app in-process, medians of 7 rounds of 5,000 in
    turns, 2026-12-04)."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.every = "*" in origins
        self.origins = frozenset(o.encode() for o in origins)
        self.exposed = ", ".join(EXPOSED).encode()
        self.preflight = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization"],  # a page may carry a renderer token (the README says when)
            expose_headers=EXPOSED,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PAGE_PATHS):
            await self.app(scope, receive, send)
        elif scope["method"] == "OPTIONS":
            await self.preflight(scope, receive, send)
        else:
            await self.app(scope, receive, self._sending(send, _origin(scope)))

    def _sending(self, send: Send, origin: bytes | None) -> Send:
        """``send`` with the answer's headers added: the origin it may be read by, if it is named, and ``Vary:
        Origin`` (unless every origin may read it) so a shared cache keeps a copy per origin."""
        added = [] if self.every else [(b"vary", b"Origin")]
        if origin is not None and (self.every or origin in self.origins):
            added += [(b"access-control-allow-origin", b"*" if self.every else origin)]
            added += [(b"access-control-expose-headers", self.exposed)]
        if not added:
            return send

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        return sending


def _origin(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"origin":
            return value
    return None
