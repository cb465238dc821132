"""Signed-cookie sessions and CSRF tokens for the review UI.

The cookie holds who signed in, their role and a CSRF token, signed with a secret
every process on the store shares. Every form carries the CSRF token; a POST whose
token does not match the session's is refused.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from variantly.auth import Principal, shared_secret
from variantly.errors import Forbidden
from variantly.web.security import secure_cookies

COOKIE = "variantly_session"
MAX_AGE = 12 * 3600


@dataclass
class Session:
    csrf: str
    principal: Principal | None = None


def _serializer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    if getattr(state, "session_serializer", None) is None:
        state.session_serializer = URLSafeTimedSerializer(shared_secret(state.service.store), salt="variantly-ui")
    return state.session_serializer


def load(request: Request) -> Session:
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(request).loads(raw, max_age=MAX_AGE)
            who = Principal(data["name"], data["role"]) if data.get("name") else None
            return Session(data["csrf"], who)
        except (BadSignature, KeyError, TypeError):
            pass
    return Session(secrets.token_urlsafe(24))


def save(request: Request, response: Response, session: Session) -> None:
    data = {"csrf": session.csrf}
    if session.principal:
        data |= {"name": session.principal.name, "role": session.principal.role}
    response.set_cookie(
        COOKIE,
        _serializer(request).dumps(data),
        max_age=MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def check_csrf(session: Session, token: str | None) -> None:
    if not token or not hmac.compare_digest(token, session.csrf):
        raise Forbidden("this form has no valid CSRF token: reload the page and try again")
