"""Every error answered in one shape: JSON for the API, a page for the review UI.

Each 4xx and 5xx of the API is ``{"error": {"code", "message", "details"}}`` and never
repeats the input; the same error on a ``/ui/`` path is an HTML page with the UI's security
headers and a way back (``web.errors``), when the app serves the UI at all. The handlers
here cover what the routes raise; ``api.guard`` answers, in the same shape, what is refused
before routing and what nothing else caught.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from variantly.api.guard import Answer, Scope, Send
from variantly.errors import InvalidRequest, StoreUnavailable, VariantlyError

log = logging.getLogger("variantly.api")


def error_response(
    status: int, code: str, message: str, *, details: list | None = None, headers: dict | None = None
) -> JSONResponse:
    """The one shape of every 4xx and 5xx: ``{"error": {"code", "message", "details"}}``."""
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JSONResponse(body, status_code=status, headers=headers)


def answer_for(
    path: str,
    status: int,
    code: str,
    message: str,
    *,
    ui: bool,
    details: list | None = None,
    headers: dict | None = None,
) -> Response:
    """A page for a person on a UI path (when this app has the UI), the JSON shape for everyone else."""
    if ui:
        from variantly.web.errors import error_page, is_ui

        if is_ui(path):
            return error_page(path, status, code, message, headers)
    return error_response(status, code, message, details=details, headers=headers)


def install_error_handlers(app: FastAPI, *, ui: bool) -> None:
    @app.exception_handler(VariantlyError)
    async def _variantly_error(request: Request, exc: VariantlyError) -> Response:
        """An error a caller can act on; the store's own words go to the log only."""
        if isinstance(exc, StoreUnavailable):
            log.warning("store error on %s: %s", request.url.path, exc.detail or exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        # A field the library refused is a detail too, as a field pydantic refused is: a client reads them there
        details = exc.details if isinstance(exc, InvalidRequest) else None
        return answer_for(
            request.url.path, exc.status_code, exc.code, exc.message, ui=ui, details=details, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """FastAPI's 422, in the one shape; each field named, its value never echoed back."""
        details = [_detail(error, exc.body) for error in exc.errors()]
        first = details[0] if details else {"field": "body", "message": "invalid"}
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        message = f"{first['field']}: {first['message']}{more}"
        return answer_for(request.url.path, 422, "invalid_request", message, ui=ui, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and (unreadable := _unreadable_body(exc.__cause__)) is not None:
            status, said = unreadable
            details = [{"field": "body", "message": said}]
            return answer_for(request.url.path, status, "invalid_request", f"body: {said}", ui=ui, details=details)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "no such route: see /docs" if exc.status_code == 404 else str(exc.detail)
        if ui and exc.status_code == 404:
            message = "no such page" if request.url.path.startswith("/ui") else message
        headers = getattr(exc, "headers", None)
        return answer_for(request.url.path, exc.status_code, code, message, ui=ui, headers=headers)


def _unreadable_body(cause: BaseException | None) -> tuple[int, str] | None:
    """(status, what is wrong) for a body FastAPI could not read, where the cause says more than its "There was an
    error parsing the body": bytes that are not UTF-8 (where), or JSON nested a thousand deep, which Python's parser
    gives up on (a JSON problem like any other, named as one)."""
    if isinstance(cause, UnicodeDecodeError):
        return 400, f"not UTF-8 text at byte {cause.start + 1} ({cause.reason}): send JSON as UTF-8"
    if isinstance(cause, RecursionError):
        return 422, "invalid JSON: objects or arrays nested too deeply to read (hundreds of levels): send flatter JSON"
    return None


def _detail(error: dict[str, Any], body: Any) -> dict[str, str]:
    """One bad field of a 422. A body that is not JSON at all is named by line and column with the parser's reason,
    as a batch's body is (FastAPI's own words were "body.11: JSON decode error"); the input is never repeated."""
    where = error["loc"]
    if error.get("type") == "json_invalid" and isinstance(body, str) and len(where) == 2 and type(where[1]) is int:
        line = body.count("\n", 0, where[1]) + 1
        column = where[1] - body.rfind("\n", 0, where[1])
        return {"field": "body", "message": f"invalid JSON at line {line} column {column}: {error['ctx']['error']}"}
    return {"field": ".".join(str(part) for part in where), "message": error["msg"]}


def asgi_answer(*, ui: bool) -> Answer:
    """The same answers for the plain ASGI layers, which have a scope and a send, not a request."""

    async def answer(scope: Scope, send: Send, status: int, code: str, message: str, details: list[Any]) -> None:
        response = answer_for(scope["path"], status, code, message, ui=ui, details=details)
        await response(scope, _no_body, send)

    return answer


async def _no_body() -> dict[str, Any]:
    return {"type": "http.disconnect"}
