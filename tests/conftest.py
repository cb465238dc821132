"""Shared fixtures: a throwaway copy of the example workspace and a store per engine.

The store fixture runs every test on SQLite, and again on PostgreSQL when
``VARIANTLY_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it). Each PostgreSQL test
gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx.mocks

# The LLM client sends through aiohttp (the openai SDK's DefaultAioHttpClient). respx's
# default mocker patches httpcore, which that transport never reaches; the httpx mocker
# swaps the transport an httpx client picks for each URL, so respx sees every request the
# SDK builds, whatever carries it.
respx.mocks.DEFAULT_MOCKER = respx.mocks.HTTPXMocker.name

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ENV = "VARIANTLY_TEST_POSTGRES_URL"
REDIS_ENV = "VARIANTLY_TEST_REDIS_URL"
# The example cta module's generation jobs in one locale: 4 segments x 5 behaviours, less the 8 cohorts (an open
# ticket, a recent purchase) that a suppression rule holds for as a whole, whose variants would never be served
CTA_JOBS_PER_LOCALE = 12
WORKSPACE_PARTS = ("modules", "prompts", "guardrails", "examples", "audiences.yml", "variantly.yml")


def copy_workspace(dest: Path) -> Path:
    for part in WORKSPACE_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / part)
    return dest


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    return copy_workspace(tmp_path / "ws")


@pytest.fixture
def workspace(workspace_dir: Path):
    from variantly.workspace import load_workspace

    return load_workspace(workspace_dir)


def _engines() -> list:
    engines = [pytest.param("sqlite", id="sqlite")]
    engines.append(
        pytest.param(
            "postgres",
            id="postgres",
            marks=pytest.mark.skipif(
                not os.environ.get(POSTGRES_ENV), reason=f"set {POSTGRES_ENV} to run against PostgreSQL"
            ),
        )
    )
    return engines


@pytest.fixture(params=_engines())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    import sqlalchemy as sa

    base = os.environ[POSTGRES_ENV]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def store(database_url: str):
    from variantly.store import Store

    handle = Store(database_url)
    yield handle
    handle.dispose()


_MADE: list = []  # apps made by make_app: their pooled store connections are closed after each test


@pytest.fixture(autouse=True)
def _close_store_connections() -> Iterator[None]:
    """Each app's engine keeps a pool of connections; without this, PostgreSQL runs out of them (100) mid-suite.
    A disposed engine still works: it connects again when used (the module-level apps of the schema tests)."""
    yield
    while _MADE:
        service = _MADE.pop().state.service
        if service.store is not None:
            service.store.dispose()


def make_app(workspace: Path, database_url: str | None = None, *, service=None, fast_render: bool = True, **settings):
    """The API for a workspace and store, with any other process settings (``render_only=True``, ...)."""
    from variantly.api import create_app
    from variantly.settings import ProcessSettings

    given = ProcessSettings(workspace=workspace, database_url=database_url, **settings)
    app = create_app(given, service=service, fast_render=fast_render)
    _MADE.append(app)
    return app


@pytest.fixture
def served_app(workspace_dir: Path, database_url: str):
    """The API with the example variants approved (on each store engine)."""
    app = make_app(workspace_dir, database_url)
    approve_examples(app.state.service)
    return app


def approve_examples(service) -> None:
    """Import the workspace's example variants as approved (module constraints only) and serve them."""
    from variantly.authoring.constraints import check_constraints
    from variantly.authoring.importing import import_variants

    variants = service.root / "examples" / "variants.jsonl"
    import_variants(service.store, service.workspace, variants, actor="t", check=check_constraints, approve=True)
    service.refresh_release()


def add_cta(store, ident: str, slots: dict[str, str]) -> None:
    """A pending imported CTA variant for a startup reader in English (the brand tests' copy under test)."""
    from variantly.store.schema import VariantRow
    from variantly.store.variants import add_variant

    cohort = "segment=startup;behaviour=*;locale=en"
    row = VariantRow(id=ident, module_id="cta", cohort_key=cohort, locale="en", slots=slots, status="pending",
                     module_hash="m", source="import")  # fmt: skip
    add_variant(store, row, actor="t")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A real uvicorn server on 127.0.0.1 and a free port, in a thread of this process."""

    def __init__(self, app, settings=None) -> None:
        """``settings`` (``ProcessSettings``) configures uvicorn as ``variantly serve`` does; without, uvicorn's
        defaults but for the HTTP protocol: always the one a render node serves with (one write per response)."""
        import uvicorn

        from variantly.api.server import HttpTools, server_config

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if settings is None:
            config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", http=HttpTools)
        else:
            config = server_config(app, settings, host="127.0.0.1", port=self.port, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def load_profile(name: str):
    from variantly.serving.profiles import Profile

    return Profile.model_validate_json((REPO / "examples" / "profiles" / f"{name}.json").read_text())


def shown(decisions: list[dict], profile_id: str) -> list[dict]:
    """The impressions a page sends, without a token, for the decisions it showed: one each, the signature its proof
    (a decision replayed counts once)."""
    return [
        {
            "type": "impression",
            "profile_id": profile_id,
            "module": d["module"],
            "variant_id": d["variant_id"],
            "arm": d["arm"],
            "cohort": d["cohort"],
            "signature": d["signature"],
        }
        for d in decisions
    ]


def consenting_profile(pid: str, **traits) -> dict:
    """A startup reader in English who consented to personalisation and email (a profile as JSON)."""
    return {
        "id": pid,
        "traits": {"company_size": 20, "locale": "en"} | traits,
        "consent": {"personalisation": True, "marketing_email": True},
    }


@pytest.fixture(
    params=[
        "store",
        pytest.param("redis", marks=pytest.mark.skipif(not os.environ.get(REDIS_ENV), reason=f"set {REDIS_ENV}")),
    ]
)
def shared_caps(request: pytest.FixtureRequest):
    """No settings (caps shared through the store), or a Redis URL with a key prefix of this test's own."""
    if request.param == "store":
        yield {}
        return
    import redis

    prefix = f"t{uuid.uuid4().hex[:10]}:"
    yield {"redis_url": os.environ[REDIS_ENV], "redis_prefix": prefix}
    client = redis.Redis.from_url(os.environ[REDIS_ENV])
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def fewest_in_cycles(work, windows: int = 3) -> list[object]:
    """The objects left in reference cycles by ``work()``, in the cleanest of ``windows`` runs of it, with the
    collector off while it runs. Another thread of the test process (a poller left by an earlier test) could leave
    garbage of its own in a window; work that leaves some does so in every window, so one clean window is the
    test."""
    import gc

    found = []
    for _ in range(windows):
        gc.collect()
        gc.disable()
        try:
            work()
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            found.append(list(gc.garbage))
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    return min(found, key=len)


def until(check, seconds: float) -> float:
    """Seconds until ``check()`` is true; fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def lint(ws: Path) -> list[str]:
    """Every problem lint finds in the workspace at ``ws``, as ``path:line:col: message``."""
    from variantly.workspace import lint_workspace

    _, problems = lint_workspace(ws)
    return [str(p) for p in problems]


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in a file with ``new``; the test's setup is wrong if it is not there."""
    text = path.read_text()
    assert old in text, f"test setup: {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    """The first line of the file holding ``needle``."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)
