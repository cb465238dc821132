"""What every UI page shares: the templates, a page rendered for a signed-in reviewer, the way to sign in, forms
read safely, redirects kept inside the UI. The routes live in ``routes.py``, ``preview.py`` and ``lift.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from variantly.auth import Principal
from variantly.errors import InvalidRequest
from variantly.serving.profiles import NUL_MESSAGE
from variantly.web import session as sessions

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_page(
    request: Request, session: sessions.Session, template: str, status_code: int = 200, **context: Any
) -> Response:
    html = TEMPLATES.get_template(template).render(who=session.principal, csrf=session.csrf, **context)
    response = HTMLResponse(html, status_code=status_code)
    sessions.save(request, response, session)
    return response


def signed_in(request: Request) -> tuple[sessions.Session, Principal | None]:
    session = sessions.load(request)
    if session.principal is None:
        return session, None
    return session, session.principal.require("reviewer")


async def read_form(request: Request) -> FormData:
    """The form, with every field checked for text no store could hold (a NUL): a 422 page naming the field."""
    form = await request.form()
    for name, value in form.multi_items():
        if isinstance(value, str) and "\x00" in value:
            raise InvalidRequest(f"form.{name}", NUL_MESSAGE)
    return form


def local_path(target: str, default: str = "/ui/") -> str:
    """A redirect target from a form, kept inside the review UI: never another site."""
    from urllib.parse import urlsplit

    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/") or "\\" in target:
        return default
    return target


def to_login() -> RedirectResponse:
    return RedirectResponse("/ui/login", status_code=303)
