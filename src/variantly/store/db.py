"""Connecting to the store: SQLite (WAL) by default, PostgreSQL by URL.

Opening a store runs the Alembic migrations to head, so a fresh machine, a CI run
and an upgraded deployment all reach the same schema the same way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from alembic import command
from alembic.config import Config
from sqlalchemy import CursorResult, Engine, create_engine, event, func, select
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from variantly.errors import ConfigurationError, StoreUnavailable
from variantly.store.schema import ReleaseRow

MIGRATIONS = Path(__file__).parent / "migrations"


def default_database_url(workspace: str | os.PathLike[str]) -> str:
    """The store when none is named: a SQLite file under the workspace."""
    folder = Path(workspace).resolve() / ".variantly"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'variantly.db'}"


MIGRATION_LOCK = 0x7661_7269  # the PostgreSQL advisory lock migrations take turns on ("vari")
OUTAGE_MESSAGE = "the store is unreachable or failed: try again shortly (rendering goes on from the last release)"


def _engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_connection, _record) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()

        else:
            engine = create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # bad URL, missing driver
        raise ConfigurationError(f"cannot use database URL {url!r}: {exc}") from exc
    event.listen(engine, "handle_error", _outage_as_store_unavailable)
    return engine


def _outage_as_store_unavailable(context: ExceptionContext) -> None:
    """A lost or refused connection becomes ``StoreUnavailable`` for every caller, in one place.

    Constraint violations and SQL mistakes are not outages and pass through unchanged.
    """
    error = context.sqlalchemy_exception
    if context.is_disconnect or isinstance(error, (OperationalError, InterfaceError)):
        detail = str(getattr(error, "orig", None) or context.original_exception).strip().splitlines()[0]
        raise StoreUnavailable(OUTAGE_MESSAGE, detail=detail) from context.original_exception


class Store:
    """A handle on the database. Cheap to share; make one per process."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = _engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """The schema to head, one process at a time: workers that start together on a new store (``uvicorn
        --workers 4``) each migrate it as they start, and without turns all but one died of "table already exists"
        (uvicorn started them again). The others wait, then find it at head: on PostgreSQL behind an advisory lock
        held until the migration commits, on SQLite behind a lock on a file beside the database."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with _one_at_a_time(self.engine), self.engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except StoreUnavailable as exc:
            where = self.engine.url.render_as_string(hide_password=True)
            raise StoreUnavailable(f"cannot reach the store at {where}: {exc.detail}", detail=exc.detail) from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    def release_number(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.coalesce(func.max(ReleaseRow.number), 0))) or 0

    def publish(self, actor: str, reason: str) -> int:
        """Bump the release counter; render processes notice and reload."""
        with self.session() as session:
            row = ReleaseRow(actor=actor, reason=reason)
            session.add(row)
            session.flush()
            return row.number

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[None]:
    """Held while a SQLite store migrates: an exclusive lock on ``<database>.lock`` (nothing for PostgreSQL, which
    takes its own lock in the migration's transaction, or for a database in memory)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or sys.platform == "win32":
        yield
        return
    import fcntl

    try:
        lock = open(f"{path}.lock", "a")  # noqa: SIM115 - closed by the with below
    except OSError:  # a folder this process cannot write to: no turns to take (the migration says what is wrong)
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def rows_touched(result: object) -> int:
    """Rows a DELETE or UPDATE touched (SQLAlchemy types ``execute`` as returning rows; theirs is a cursor's)."""
    return int(cast(CursorResult, result).rowcount)
