"""Who may do what: named accounts with one role each.

Roles are ordered: a renderer renders and records events; a reviewer also works the
approval queue; an admin also starts runs and manages accounts. Tokens are random,
shown once, and stored as SHA-256; passwords are stored with scrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from variantly.errors import Conflict, Forbidden, NotFound, Unauthenticated
from variantly.store import Store
from variantly.store.schema import AccountRow, SecretRow

ROLES = ("renderer", "reviewer", "admin")
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def require(self, role: str) -> Principal:
        if ROLES.index(self.role) < ROLES.index(role):
            raise Forbidden(f"'{self.name}' is a {self.role}; this needs the {role} role")
        return self


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _password_hash(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def _check_password(password: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    return hmac.compare_digest(_password_hash(password, bytes.fromhex(salt)).split("$")[2], digest)


def create_account(
    store: Store, name: str, role: str, *, password: str | None = None, token: bool = True
) -> str | None:
    """Create an account; returns its token (shown once) when ``token``."""
    if role not in ROLES:
        raise NotFound(f"unknown role '{role}' (roles: {', '.join(ROLES)})")
    plain = f"vly_{secrets.token_urlsafe(24)}" if token else None
    with store.session() as session:
        if session.get(AccountRow, name) is not None:
            raise Conflict(f"an account named '{name}' exists already")
        session.add(
            AccountRow(
                name=name,
                role=role,
                token_hash=_token_hash(plain) if plain else None,
                password_hash=_password_hash(password) if password else None,
            )
        )
    return plain


def by_token(store: Store, token: str | None) -> Principal:
    if not token:
        raise Unauthenticated(
            "sign in: send 'Authorization: Bearer <token>' (create one with `variantly token create`)"
        )
    with store.sessions() as session:
        row = session.scalar(select(AccountRow).where(AccountRow.token_hash == _token_hash(token)))
    if row is None:
        raise Unauthenticated("that token is not valid: check it, or create one with `variantly token create`")
    return Principal(row.name, row.role)


def by_password(store: Store, name: str, password: str) -> Principal:
    with store.sessions() as session:
        row = session.get(AccountRow, name)
    if row is None or not row.password_hash or not _check_password(password, row.password_hash):
        raise Unauthenticated("wrong name or password")
    return Principal(row.name, row.role)


def shared_secret(store: Store, name: str = "session_key") -> str:
    """A secret shared by every process on this store, made on first use."""
    from sqlalchemy.exc import IntegrityError

    try:
        with store.session() as session:
            row = session.get(SecretRow, name)
            if row is None:
                row = SecretRow(name=name, value=secrets.token_urlsafe(32))
                session.add(row)
            return row.value
    except IntegrityError:  # another process made it first: use theirs
        with store.sessions() as session:
            return session.get(SecretRow, name).value
