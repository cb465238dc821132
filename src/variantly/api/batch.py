"""Sends: one target rendered for many profiles, streamed out one JSON line per profile.

Two ways in. A JSON body (``{"layout": ..., "profiles": [...]}``, up to 20,000
profiles) for a send that fits in a request; or NDJSON, one profile per line, with
the target in the query string (``?layout=email&channel=email``), read and answered
line by line, so a million-profile send runs in flat memory on both sides. A line
that is not a valid profile gets an error line naming its line number; the rest of
the send goes on.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from variantly import metrics
from variantly.api.deps import caller
from variantly.api.schemas import ERRORS, BatchRenderRequest, Target
from variantly.errors import InvalidProfile, VariantlyError
from variantly.serving.answer import render_answer
from variantly.serving.profiles import Profile, parse_profile
from variantly.serving.render import cap_windows, target_modules, viewer_for_profile
from variantly.serving.service import RenderService
from variantly.workspace.channels import ChannelName

router = APIRouter()

NDJSON = "application/x-ndjson"
LINES_PER_CHUNK = 50  # lines per write: few enough that other requests on this process wait at most a few ms
MAX_LINE = 256 * 1024  # a profile line, like a render body
BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark

REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/BatchRenderRequest"}},
        NDJSON: {
            "schema": {"$ref": "#/components/schemas/Profile"},
            "description": "one profile per line; the target in the query string",
        },
    },
}


@router.post(
    "/v1/render/batch",
    tags=["render"],
    responses={200: {"content": {NDJSON: {}}}, **ERRORS},
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def render_batch(
    request: Request,
    module: str | None = Query(None, description="NDJSON input only (a JSON body names its own target): the module"),
    modules: str | None = Query(None, description="NDJSON input only: modules, comma-separated"),
    layout: str | None = Query(None, description="NDJSON input only: the layout to render"),
    channel: ChannelName | None = Query(None, description="NDJSON input only: web (default), email, sms or push"),
) -> StreamingResponse:
    """Render one target for many profiles (an email send); streams one JSON line per profile.

    A profile that cannot get this content (no email consent, say) gets an error
    line of its own; the rest of the batch goes on.
    """
    svc: RenderService = request.app.state.service
    caller(request, "renderer")
    query = {"module": module, "modules": modules.split(",") if modules else None, "layout": layout}
    if request.headers.get("content-type", "").split(";")[0].strip() == NDJSON:
        target = _validated(Target, {**{k: v for k, v in query.items() if v}, "channel": channel or "web"}, "query")
        return _WhileReading(_lines(svc, target, _ndjson_profiles(request)), media_type=NDJSON)
    body = _validated(BatchRenderRequest, await request.body(), "body")  # names its own target; no query
    return StreamingResponse(_lines(svc, body, _listed(body.profiles)), media_type=NDJSON)


class _WhileReading(StreamingResponse):
    """Answers while the request body is still coming in. Starlette's StreamingResponse listens for a
    disconnect by reading the request, which would take the lines this route reads; here a disconnect
    shows up where the lines are read, and ends the send."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _lines(
    svc: RenderService, target: Target, profiles: AsyncIterator[tuple[int | None, Profile | VariantlyError]]
) -> AsyncIterator[bytes]:
    workspace, release = svc.workspace, svc.release
    shown = target_modules(workspace, module=target.module, modules=target.modules, layout=target.layout)
    chunk: list[bytes] = []
    async for line, profile in profiles:
        started = time.perf_counter()
        where = {"line": line} if line is not None else {}
        try:
            if isinstance(profile, VariantlyError):
                raise profile
            viewer = viewer_for_profile(workspace, profile, activity=svc.activity)
            if windows := cap_windows(workspace, shown, viewer):
                viewer = viewer.with_seen(await svc.activity.seen_async(profile.id, windows))
            answer = render_answer(
                workspace,
                release,
                viewer,
                partial(svc.sign, profile.id),
                channel=target.channel,
                module=target.module,
                modules=target.modules,
                layout=target.layout,
            )
            metrics.rendered("batch", time.perf_counter() - started, answer.decisions)
            written = answer.after({"profile_id": profile.id, **where, "ok": True})
        except VariantlyError as exc:
            ident = profile.id if isinstance(profile, Profile) else None
            out = {"profile_id": ident, **where, "ok": False, "error": {"code": exc.code, "message": exc.message}}
            written = orjson.dumps(out)
        chunk.append(written + b"\n")
        if len(chunk) >= LINES_PER_CHUNK:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)


async def _listed(profiles: Iterable[Profile]) -> AsyncIterator[tuple[int | None, Profile | VariantlyError]]:
    for profile in profiles:
        yield None, profile


async def _ndjson_profiles(request: Request) -> AsyncIterator[tuple[int | None, Profile | VariantlyError]]:
    """Profiles as the body streams in; a bad line becomes an error for that line (named by number).
    A sender that hangs up ends the send. A byte order mark before the first line (a file saved by Excel or
    Notepad) is not part of it: line 1 was refused as "expected value at line 1 column 1"."""
    number, buffer, skipping, begun = 0, b"", False, False
    try:
        async for piece in request.stream():
            buffer += piece
            if not begun and len(buffer) >= len(BOM):
                buffer, begun = buffer.removeprefix(BOM), True
            while (end := buffer.find(b"\n")) >= 0:
                line, buffer = buffer[:end], buffer[end + 1 :]
                if skipping:  # the rest of a line that was too long
                    skipping = False
                    continue
                number += 1
                if line.strip():
                    yield _profile_line(line, number)
            if len(buffer) > MAX_LINE and not skipping:  # refuse a line too long without holding it
                number += 1
                skipping = True
                yield number, InvalidProfile(f"line {number}: over {MAX_LINE // 1024} KB: one profile a line")
            if skipping:
                buffer = b""
    except ClientDisconnect:
        return
    if not begun:
        buffer = buffer.removeprefix(BOM)
    if buffer.strip() and not skipping:
        yield _profile_line(buffer, number + 1)


def _profile_line(line: bytes, number: int) -> tuple[int, Profile | VariantlyError]:
    """One line's profile, or its error. Text that is not UTF-8 is refused, not replaced: a first name sent in
    Latin-1 ("Björn", the ö one byte F6) went out in an email subject with U+FFFD where the ö was."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        said = f"line {number}: not UTF-8 text at byte {exc.start + 1} of the line ({exc.reason}): send UTF-8"
        return number, InvalidProfile(said)
    try:
        return number, parse_profile(text, f"line {number}")
    except VariantlyError as exc:
        return number, exc


def _validated(model: Any, data: Any, where: str) -> Any:
    """``model`` from JSON bytes or a dict; a mistake is the usual 422, each field named under ``where``."""
    try:
        return model.model_validate_json(data) if isinstance(data, bytes) else model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": (where, *e["loc"])} for e in exc.errors(include_input=False, include_url=False)]
        raise RequestValidationError(errors) from None
