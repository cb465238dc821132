"""Errors in the review UI are pages: a person reads them, with the UI's security headers and a way back.

The API answers its errors as JSON (``{"error": ...}``); the same error on a ``/ui/`` path
(a stale link, a form whose CSRF token expired, a variant that no longer exists) is this
page instead, built from the same status, code and message.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from variantly.web.security import headers_for

_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
TITLES = {
    400: "That request could not be read",
    401: "Please sign in",
    403: "Not allowed",
    404: "Nothing here",
    405: "Not allowed here",
    409: "It changed meanwhile",
    413: "Too large",
    422: "That could not be used",
    429: "Too many tries",
    500: "Something went wrong on our side",
    503: "Not available right now",
}


def is_ui(path: str) -> bool:
    return path == "/ui" or path.startswith("/ui/")


def error_page(path: str, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    back = "/ui/login" if status == 401 else "/ui/"
    html = _PAGES.get_template("error.html").render(
        title=TITLES.get(status, "Something went wrong"), status=status, code=code, message=message, back=back
    )
    return HTMLResponse(html, status_code=status, headers=(headers or {}) | headers_for(path))
