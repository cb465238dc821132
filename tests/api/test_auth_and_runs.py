"""Roles: nobody does more than their role allows. Runs start over HTTP for admins."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import CTA_JOBS_PER_LOCALE, LiveServer, make_app
from fake_openai import create_app as fake_llm
from variantly.auth import by_password, create_account


@pytest.fixture
def app(workspace_dir: Path, database_url: str):
    return make_app(workspace_dir, database_url, poll_seconds=0.1)


@pytest.fixture
def tokens(app) -> dict[str, str]:
    store = app.state.service.store
    return {role: create_account(store, f"{role}-1", role) for role in ("renderer", "reviewer", "admin")}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_unauthenticated_run_request_gets_401(app) -> None:
    with TestClient(app) as client:
        response = client.post("/v1/runs", json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "variantly token create" in response.json()["error"]["message"]


def test_bad_token_gets_401(app, tokens) -> None:
    with TestClient(app) as client:
        assert client.get("/v1/runs/abc", headers=auth("vly_wrong")).status_code == 401


def test_reviewer_cannot_start_runs(app, tokens) -> None:
    with TestClient(app) as client:
        response = client.post("/v1/runs", json={}, headers=auth(tokens["reviewer"]))
    assert response.status_code == 403
    assert "needs the admin role" in response.json()["error"]["message"]


def test_render_needs_a_token_unless_the_workspace_opens_it(workspace_dir: Path, database_url: str) -> None:
    settings = workspace_dir / "variantly.yml"
    settings.write_text(settings.read_text().replace("anonymous_render: true", "anonymous_render: false"))
    app = make_app(workspace_dir, database_url)
    token = create_account(app.state.service.store, "pages", "renderer")
    body = {"module": "hero", "profile": {"id": "p1"}}
    with TestClient(app) as client:
        assert client.post("/v1/render", json=body).status_code == 401
        assert client.get("/v1/render/hero").status_code == 401
        assert client.post("/v1/render", json=body, headers=auth(token)).status_code == 200


def test_passwords_are_checked_and_stored_hashed(app) -> None:
    store = app.state.service.store
    create_account(store, "rita", "reviewer", password="correct horse", token=False)
    assert by_password(store, "rita", "correct horse").role == "reviewer"
    with pytest.raises(Exception, match="wrong name or password"):
        by_password(store, "rita", "wrong")
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("select password_hash from accounts where name = 'rita'").scalar()
    assert stored.startswith("scrypt$") and "correct horse" not in stored


def test_admin_starts_a_run_and_follows_its_progress(app, tokens) -> None:
    with LiveServer(fake_llm()) as llm:
        svc = app.state.service  # the server started with OPENAI_BASE_URL and OPENAI_API_KEY set
        svc.settings = svc.settings.but(openai_base_url=f"{llm.url}/v1", openai_api_key="sk-local")
        with TestClient(app) as client:
            body = {"modules": ["cta"], "locales": ["en"], "candidates": 2}
            started = client.post("/v1/runs", json=body, headers=auth(tokens["admin"]))
            assert started.status_code == 202, started.text
            run_id = started.json()["id"]
            deadline = time.monotonic() + 60
            while (run := client.get(f"/v1/runs/{run_id}", headers=auth(tokens["admin"])).json())[
                "status"
            ] == "running":
                assert time.monotonic() < deadline
                time.sleep(0.1)
    assert run["status"] == "done", json.dumps(run)
    assert (
        run["progress"]["jobs_done"] == CTA_JOBS_PER_LOCALE
        and run["progress"]["candidates_passed"] == 2 * CTA_JOBS_PER_LOCALE
    )
    assert run["actor"] == "admin-1"


def test_run_without_llm_configured_is_a_clear_error(app, tokens) -> None:
    with TestClient(app) as client:
        response = client.post("/v1/runs", json={}, headers=auth(tokens["admin"]))
    assert response.status_code == 503  # the server's setting, not the caller's mistake
    assert response.json()["error"]["code"] == "llm_not_configured"


def test_a_cohort_key_no_planned_cohort_has_is_named_before_a_run_starts(app, tokens) -> None:
    body = {"modules": ["cta"], "locales": ["en"], "cohorts": ["segment=startup;behaviour=*;locale=en", "startup"]}
    with TestClient(app) as client:  # a run planned nothing for it; the plan now refuses it, so the API does first
        response = client.post("/v1/runs", json=body, headers=auth(tokens["admin"]))
    assert response.status_code == 422, response.text
    said = response.json()["error"]["message"]
    assert said.startswith("body.cohorts.1: no cohort 'startup' among the modules and locales planned"), said
