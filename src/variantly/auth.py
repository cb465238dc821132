"""Who may do what: named accounts with one role each.

Roles are ordered: a renderer renders and records events; a reviewer also works the
approval queue; an admin also starts runs and manages accounts. Tokens are random,
shown once, and stored as SHA-256; passwords are stored with scrypt.

Every request is checked against ``Accounts``, an in-memory copy of the accounts table
that the render service's poller refreshes: a token or session never costs a store
query, works while the store is down, and stops working within a poll of being
revoked. A session names an account and its version; signing out or
``variantly token revoke`` bumps the version, which ends every session at once.
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


# Checked when the name is unknown, so an unknown name takes as long as a wrong password.
_NO_ACCOUNT = _password_hash(secrets.token_urlsafe(16))


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


def by_password(store: Store, name: str, password: str) -> Principal:
    with store.sessions() as session:
        row = session.get(AccountRow, name)
    stored = row.password_hash if row is not None and row.password_hash else _NO_ACCOUNT
    if not _check_password(password, stored) or stored is _NO_ACCOUNT or row is None:
        raise Unauthenticated("wrong name or password")
    return Principal(row.name, row.role)


def end_sessions(store: Store, name: str, *, revoke_token: bool = False) -> None:
    """End every session of the account (its version moves on); ``revoke_token`` also voids its token."""
    with store.session() as session:
        row = session.get(AccountRow, name)
        if row is None:
            raise NotFound(f"no account named '{name}' (`variantly token create` makes one)")
        row.version += 1
        if revoke_token:
            row.token_hash = None


@dataclass(frozen=True)
class _Known:
    name: str
    role: str
    version: int


class Accounts:
    """The accounts table in memory, swapped whole on ``refresh``; lookups never touch the store."""

    def __init__(self) -> None:
        self._by_token: dict[str, _Known] = {}
        self._by_name: dict[str, _Known] = {}

    def refresh(self, store: Store) -> None:
        with store.sessions() as session:
            rows = list(
                session.execute(select(AccountRow.name, AccountRow.role, AccountRow.version, AccountRow.token_hash))
            )
        by_name = {name: _Known(name, role, version) for name, role, version, _ in rows}
        self._by_token = {digest: by_name[name] for name, _, _, digest in rows if digest}
        self._by_name = by_name

    def by_token(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated(
                "sign in: send 'Authorization: Bearer <token>' (create one with `variantly token create`)"
            )
        known = self._by_token.get(_token_hash(token))
        if known is None:
            raise Unauthenticated("that token is not valid: check it, or create one with `variantly token create`")
        return Principal(known.name, known.role)

    def session(self, name: str, version: int) -> Principal | None:
        """Who a session is for, if its account still exists at that version (else it has ended)."""
        known = self._by_name.get(name)
        return Principal(known.name, known.role) if known is not None and known.version == version else None

    def version(self, name: str) -> int:
        known = self._by_name.get(name)
        return known.version if known is not None else 0


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
            made = session.get(SecretRow, name)
            assert made is not None, "the secret another process made is there: the insert failed on its key"
            return made.value
