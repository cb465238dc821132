"""Attack the whole API from its own OpenAPI schema: no input a client can send gets a 5xx, and every
answer matches what the schema promises (status codes, bodies, timestamps with a timezone).

It runs on SQLite, and on PostgreSQL too when ``VARIANTLY_TEST_POSTGRES_URL`` is set (CI sets it):
the stores refuse different things, and the answers must not differ. Text with a NUL is left to
``tests/api/test_unstorable_input.py``, which puts one in every place a caller can; here it would
only make schema-valid requests fail the check that valid data is accepted.
"""

from __future__ import annotations

import atexit
import json
import os
import tempfile
import uuid
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from conftest import POSTGRES_ENV, REPO, copy_workspace, make_app  # noqa: E402
from variantly.auth import create_account  # noqa: E402
from variantly.authoring.constraints import check_constraints  # noqa: E402
from variantly.authoring.importing import import_variants  # noqa: E402
from variantly.settings import parse_body_limits  # noqa: E402


def _postgres_url() -> str | None:
    """A schema of this module's own in the test database, dropped when the tests end."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        return None
    import sqlalchemy as sa

    schema = f"t_schema_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()

    atexit.register(drop)
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


def _api(database_url: str | None):
    """The API on a throwaway workspace and store, with the example variants approved and an admin token."""
    tmp = Path(tempfile.mkdtemp(prefix="variantly-schema-"))
    workspace = copy_workspace(tmp / "ws")
    limits = parse_body_limits("render=64m,other=64m")  # the limits have their own test
    app = make_app(workspace, database_url or f"sqlite:///{tmp / 'store.db'}", body_limits=limits)
    svc = app.state.service
    import_variants(
        svc.store, svc.workspace, REPO / "examples" / "variants.jsonl", actor="t", check=check_constraints, approve=True
    )
    svc.refresh_release()
    return app, create_account(svc.store, "ops", "admin")


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx, value) -> bytes:
    """A send as NDJSON: the generated profile (or whatever was generated) as one line."""
    return json.dumps(value).encode() + b"\n"


def _schema(app):
    # Starting a generation run is not for a property test (tests/api/test_auth_and_runs.py covers it).
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/v1/runs", method="POST")
    schema.config.generation.update(allow_x00=False)
    return schema


def _call(case, token: str) -> None:
    excluded = []
    if case.media_type == "application/x-ndjson":
        # OpenAPI cannot say "exactly one of module, modules or layout in the query when the body is NDJSON",
        # so a generated send without a target is schema-valid and still (rightly) a 422; and a line that is
        # not a profile is answered in the stream (an error line naming it), not with a 4xx for the send.
        excluded += [schemathesis.checks.positive_data_acceptance, schemathesis.checks.negative_data_rejection]
    elif case.path == "/v1/events":
        # The workspace decides what an event may be (its guardrail event types, its reporting currency) and the
        # clock decides what time is in the future: a schema-valid event can rightly be a 422 naming the field
        # (tests/serving/test_events.py covers each). Server errors and the answers' schema are still checked.
        excluded += [schemathesis.checks.positive_data_acceptance]
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=excluded)


SQLITE_APP, SQLITE_TOKEN = _api(None)
sqlite_schema = _schema(SQLITE_APP)


@sqlite_schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error_and_every_answer_matches_the_schema(case) -> None:
    _call(case, SQLITE_TOKEN)


POSTGRES_URL = _postgres_url()
if POSTGRES_URL is not None:
    POSTGRES_APP, POSTGRES_TOKEN = _api(POSTGRES_URL)
    postgres_schema = _schema(POSTGRES_APP)

    @postgres_schema.parametrize()
    @settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def test_the_same_on_postgresql(case) -> None:
        _call(case, POSTGRES_TOKEN)
