"""Signing in is throttled, signing out ends every copy of a session, and revocation reaches servers in seconds."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import load_profile, make_app
from variantly.auth import by_password, create_account
from variantly.cli import app as cli
from variantly.errors import Unauthenticated
from variantly.web import session as sessions


@pytest.fixture
def app(workspace_dir, tmp_path):
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'store.db'}", poll_seconds=0.2)
    create_account(app.state.service.store, "rita", "reviewer", password="pw-for-rita", token=False)
    return app


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def sign_in(client: TestClient, password: str = "pw-for-rita", name: str = "rita"):
    return client.post(
        "/ui/login", data={"csrf": csrf_of(client.get("/ui/login").text), "name": name, "password": password}
    )


def test_repeated_wrong_passwords_are_slowed_down_with_a_growing_wait(app, caplog) -> None:
    with TestClient(app) as client:
        first = [sign_in(client, "wrong").status_code for _ in range(5)]
        blocked = sign_in(client, "wrong")
        right_but_too_soon = sign_in(client)
    assert first == [401] * 5
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert right_but_too_soon.status_code == 429  # even the right password waits its turn
    assert "failed sign-in for 'rita'" in caplog.text


def test_the_wait_doubles_and_a_success_clears_it() -> None:
    from variantly.web.throttle import SignInThrottle

    now = [0.0]
    throttle = SignInThrottle(clock=lambda: now[0])
    waits = []
    for _ in range(8):
        throttle.failed("rita", "10.0.0.1")
        try:
            throttle.check("rita", "10.0.0.9")
            waits.append(0)
        except Exception as exc:
            waits.append(exc.retry_after)
    assert waits == [0, 0, 0, 0, 2, 3, 5, 9]  # 1, 2, 4, 8 s (rounded up)
    now[0] += 60
    throttle.check("rita", "10.0.0.9")
    throttle.succeeded("rita", "10.0.0.1")
    throttle.failed("rita", "10.0.0.1")
    throttle.check("rita", "10.0.0.1")  # back to free tries


def test_an_unknown_name_takes_as_long_as_a_wrong_password(app) -> None:
    store = app.state.service.store

    def timed(name: str) -> float:
        started = time.perf_counter()
        with pytest.raises(Unauthenticated):
            by_password(store, name, "wrong")
        return time.perf_counter() - started

    known = min(timed("rita") for _ in range(3))
    unknown = min(timed("nobody") for _ in range(3))
    assert unknown > known / 3  # both pay for scrypt (before: 2.5 ms against 50 ms)


def test_signing_out_ends_a_copied_session_cookie_too(app) -> None:
    with TestClient(app) as client:
        sign_in(client)
        copied = client.cookies.get(sessions.COOKIE)
        assert client.get("/ui/", follow_redirects=False).status_code == 200
        client.post("/ui/logout", data={"csrf": csrf_of(client.get("/ui/").text)})
        with TestClient(app) as thief:
            thief.cookies.set(sessions.COOKIE, copied)
            assert thief.get("/ui/", follow_redirects=False).headers["location"] == "/ui/login"


def test_a_session_ends_after_its_lifetime_however_active(app, monkeypatch) -> None:
    with TestClient(app) as client:
        sign_in(client)
        assert client.get("/ui/", follow_redirects=False).status_code == 200
        later = time.time() + sessions.MAX_AGE + 1
        monkeypatch.setattr(sessions.time, "time", lambda: later)
        assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_revoking_an_account_ends_its_token_and_sessions_within_seconds(app, workspace_dir, tmp_path) -> None:
    store = app.state.service.store
    token = create_account(store, "landing-pages", "renderer")
    body = {"module": "hero", "profile": load_profile("anna_retail_enterprise_sv").model_dump(mode="json")}
    url = str(store.engine.url)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/v1/render", json=body, headers=headers).status_code == 200
        result = CliRunner().invoke(cli, ["token", "revoke", "landing-pages", "--database-url", url])
        assert result.exit_code == 0, result.output
        deadline = time.monotonic() + 15
        while client.post("/v1/render", json=body, headers=headers).status_code == 200:
            assert time.monotonic() < deadline, "the revoked token still works after 15 s"
            time.sleep(0.1)
        assert client.post("/v1/render", json=body, headers=headers).status_code == 401


def test_a_token_keeps_working_when_the_store_goes_away(app, tmp_path) -> None:
    from variantly.store import Store

    token = create_account(app.state.service.store, "landing-pages", "renderer")
    body = {"module": "hero", "profile": load_profile("anna_retail_enterprise_sv").model_dump(mode="json")}
    with TestClient(app) as client:
        app.state.service.store = Store(f"sqlite:///{tmp_path / 'gone' / 'x.db'}", migrate=False)
        response = client.post("/v1/render", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
