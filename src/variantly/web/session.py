"""Signed-cookie sessions and CSRF tokens for the review UI.

The cookie holds who signed in, their account's version, when, and a CSRF token,
signed with a secret every process on the store shares. The role is never taken from
the cookie: it comes from the account (``auth.Accounts``), and a session whose account
has moved to a new version (signed out, revoked) is over. A session lasts ``MAX_AGE``
from sign-in, however active: pages re-send the cookie, but never extend it. Every
form carries the CSRF token; a POST whose token does not match the session's is refused.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from variantly.auth import SESSION_HOURS, Principal, shared_secret
from variantly.errors import Forbidden
from variantly.web.security import secure_cookies

COOKIE = "variantly_session"
MAX_AGE = SESSION_HOURS * 3600


@dataclass
class Session:
    csrf: str
    principal: Principal | None = None
    version: int = 0
    signed_in_at: float = 0.0


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
            who, version, since = None, 0, 0.0
            if data.get("name") and time.time() - float(data["since"]) < MAX_AGE:
                version, since = int(data["version"]), float(data["since"])
                who = request.app.state.service.accounts.session(data["name"], version)
            return Session(data["csrf"], who, version, since)
        except (BadSignature, KeyError, TypeError, ValueError):
            pass
    return Session(secrets.token_urlsafe(24))


def signed_in(request: Request, who: Principal) -> Session:
    """A new session for ``who`` (with a new CSRF token), at their account's current version."""
    version = request.app.state.service.accounts.version(who.name)
    return Session(secrets.token_urlsafe(24), who, version, time.time())


def save(request: Request, response: Response, session: Session) -> None:
    data: dict = {"csrf": session.csrf}
    if session.principal:
        data |= {"name": session.principal.name, "version": session.version, "since": session.signed_in_at}
    response.set_cookie(
        COOKIE,
        _serializer(request).dumps(data),
        max_age=MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def check_csrf(session: Session, token: object) -> None:
    """``token`` is the form's field as it came (a string, a file upload, nothing): only the right string passes.
    Compared as bytes: ``compare_digest`` raises on a string with a character outside ASCII, which a tampered
    form can send (a 500 until 2026-12-04)."""
    if not isinstance(token, str) or not token or not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise Forbidden("this form has no valid CSRF token: reload the page and try again")
