"""Who may do what: named accounts with one role each.

Roles are ordered: a renderer renders and records events; a reviewer also works the
approval queue; an admin also starts runs and manages accounts. Tokens are random,
shown once, and stored as SHA-256; passwords are stored with scrypt.

Every request is checked against ``Accounts``, an in-memory copy of the accounts table
that the render service's poller refreshes: a token or session never costs a store
query, works while the store is down, and stops working within a poll of being
revoked. A session names an account and its version; signing out or
``variantly token revoke`` bumps the version, which ends every session at once.
``variantly account disable`` also makes the account's token and password stop working
on every node within a poll, until it is enabled again (its sessions stay ended).

When an account was last used is kept in memory per process and written to the store at
most every ``LAST_USED_EVERY`` seconds, so a request never waits on a write.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from variantly.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthenticated
from variantly.store import Store
from variantly.store.schema import AccountRow, SecretRow, UISessionRow

ROLES = ("renderer", "reviewer", "admin")
ANONYMOUS = "anonymous"
SESSION_HOURS = 12  # a review UI session lasts this long from sign-in, however active
LAST_USED_EVERY = 30.0  # seconds between writes of when accounts were last used
MOST_NAME = 100  # characters of an account's name (the accounts table's column)


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
    _check_name(name)
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


def _check_name(name: str) -> None:
    """A name a person can type at the sign-in form and read in the audit log. Before this, ``token create ''`` made
    an account with no name, one with a control character showed as another name, one with a space around it could
    never sign in (the form strips it), and one over 100 characters was a traceback on PostgreSQL."""
    if not 1 <= len(name) <= MOST_NAME:
        raise InvalidRequest("name", f"an account's name has 1 to {MOST_NAME} characters, not {len(name)}")
    if name != name.strip() or not name.isprintable():
        raise InvalidRequest("name", f"{name!r}: no space around it and no control characters (it is typed to sign in)")


def by_password(store: Store, name: str, password: str) -> Principal:
    """The account a name and password sign in as. A disabled account is refused like a wrong password,
    after the same scrypt, so neither timing nor the message says which accounts exist or are disabled."""
    with store.sessions() as session:
        row = session.get(AccountRow, name)
    stored = row.password_hash if row is not None and row.password_hash else _NO_ACCOUNT
    if not _check_password(password, stored) or stored is _NO_ACCOUNT or row is None or row.disabled_at is not None:
        raise Unauthenticated("wrong name or password")
    with store.session() as session:
        session.execute(update(AccountRow).where(AccountRow.name == name).values(last_used_at=_now()))
    return Principal(row.name, row.role)


def _account(session: Session, name: str) -> AccountRow:
    row = session.get(AccountRow, name)
    if row is None:
        raise NotFound(f"no account named '{name}' (`variantly account list` shows them)")
    return row


def end_sessions(store: Store, name: str, *, revoke_token: bool = False) -> None:
    """End every session of the account (its version moves on); ``revoke_token`` also voids its token."""
    with store.session() as session:
        row = _account(session, name)
        row.version += 1
        if revoke_token:
            row.token_hash = None


def set_disabled(store: Store, name: str, disabled: bool) -> bool:
    """Disable (or enable) an account; False when it already was. Disabling ends every session; while
    disabled, its token and password are refused on every node (within a poll). Enabling brings back
    its token and password, not its sessions: those stay ended."""
    with store.session() as session:
        row = _account(session, name)
        if (row.disabled_at is not None) == disabled:
            return False
        row.disabled_at = _now() if disabled else None
        if disabled:
            row.version += 1
        return True


def record_session(store: Store, who: Principal, version: int) -> None:
    """A review UI sign-in, for the account list's count of active sessions (old rows are cleared here)."""
    started = _now()
    with store.session() as session:
        session.execute(delete(UISessionRow).where(UISessionRow.started_at < started - timedelta(hours=SESSION_HOURS)))
        session.add(UISessionRow(id=secrets.token_hex(16), account=who.name, version=version, started_at=started))


@dataclass(frozen=True)
class AccountInfo:
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    active_sessions: int
    disabled: bool
    has_token: bool
    has_password: bool


def list_accounts(store: Store) -> list[AccountInfo]:
    """Every account, with when it was last used and its review UI sessions still running."""
    since = _now() - timedelta(hours=SESSION_HOURS)
    with store.sessions() as session:
        active = dict(
            session.execute(
                select(UISessionRow.account, func.count())
                .join(AccountRow, AccountRow.name == UISessionRow.account)
                .where(UISessionRow.version == AccountRow.version, UISessionRow.started_at >= since)
                .group_by(UISessionRow.account)
            ).all()
        )
        rows = list(session.scalars(select(AccountRow).order_by(AccountRow.name)))
    return [
        AccountInfo(
            row.name,
            row.role,
            row.created_at,
            row.last_used_at,
            0 if row.disabled_at else active.get(row.name, 0),
            row.disabled_at is not None,
            row.token_hash is not None,
            row.password_hash is not None,
        )
        for row in rows
    ]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Known:
    name: str
    role: str
    version: int


class Accounts:
    """The accounts table in memory, swapped whole on ``refresh``; lookups never touch the store.
    A disabled account is left out: its token and its sessions are unknown here."""

    def __init__(self) -> None:
        self._by_token: dict[str, _Known] = {}
        self._by_name: dict[str, _Known] = {}
        self._used: set[str] = set()  # accounts whose token was used since the last write
        self._used_lock = threading.Lock()
        self._last_written = 0.0

    def refresh(self, store: Store) -> None:
        with store.sessions() as session:
            rows = list(
                session.execute(
                    select(AccountRow.name, AccountRow.role, AccountRow.version, AccountRow.token_hash).where(
                        AccountRow.disabled_at.is_(None)
                    )
                )
            )
        by_name = {name: _Known(name, role, version) for name, role, version, _ in rows}
        self._by_token = {digest: by_name[name] for name, _, _, digest in rows if digest}
        self._by_name = by_name
        self.write_last_used(store)

    def write_last_used(self, store: Store, *, now: bool = False) -> None:
        """Write when the accounts used since the last write were used (at most every ``LAST_USED_EVERY`` s)."""
        if not now and time.monotonic() - self._last_written < LAST_USED_EVERY:
            return
        with self._used_lock:
            used, self._used = self._used, set()
        self._last_written = time.monotonic()
        if used:
            with store.session() as session:
                session.execute(update(AccountRow).where(AccountRow.name.in_(sorted(used))).values(last_used_at=_now()))

    def by_token(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated(
                "sign in: send 'Authorization: Bearer <token>' (create one with `variantly token create`)"
            )
        known = self._by_token.get(_token_hash(token))
        if known is None:
            raise Unauthenticated("that token is not valid: check it, or create one with `variantly token create`")
        if known.name not in self._used:
            self._used.add(known.name)  # a set add per request; written by the poller
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
