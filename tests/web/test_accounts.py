"""An admin controls accounts: lists them, and disables one so that nothing of it works on any server."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import load_profile, make_app
from variantly.auth import create_account, list_accounts
from variantly.cli import app as cli


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def sign_in(client: TestClient, name: str, password: str) -> int:
    page = client.post(
        "/ui/login", data={"csrf": csrf_of(client.get("/ui/login").text), "name": name, "password": password}
    )
    return page.status_code


def until(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    """Wait for a condition (generously: a busy machine polls late), never for a fixed time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_disabled_account_is_locked_out_of_every_node_and_enabled_again(workspace_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    node_a = make_app(workspace_dir, url, poll_seconds=0.1)
    node_b = make_app(workspace_dir, url, poll_seconds=0.1, render_only=True)
    store = node_a.state.service.store
    token = create_account(store, "rita", "reviewer", password="pw-for-rita")
    body = {"module": "hero", "profile": load_profile("anna_retail_enterprise_sv").model_dump(mode="json")}
    runner = CliRunner()
    with TestClient(node_a) as a, TestClient(node_b) as b:
        headers = {"Authorization": f"Bearer {token}"}
        assert b.post("/v1/render", json=body, headers=headers).status_code == 200
        assert sign_in(a, "rita", "pw-for-rita") == 200 and a.get("/ui/", follow_redirects=False).status_code == 200
        [rita] = list_accounts(store)
        assert rita.active_sessions == 1 and not rita.disabled and rita.last_used_at is not None

        disabled = runner.invoke(cli, ["account", "disable", "rita", "--database-url", url])
        assert disabled.exit_code == 0 and "disabled" in disabled.output
        assert until(lambda: b.post("/v1/render", json=body, headers=headers).status_code == 401)  # the token
        assert until(lambda: a.get("/ui/", follow_redirects=False).status_code == 303)  # the session
        with TestClient(node_a) as someone:
            assert sign_in(someone, "rita", "pw-for-rita") == 401  # the password, refused like a wrong one
        listed = runner.invoke(cli, ["account", "list", "--database-url", url])
        assert "disabled" in listed.output and "rita" in listed.output

        enabled = runner.invoke(cli, ["account", "enable", "rita", "--database-url", url])
        assert enabled.exit_code == 0 and "enabled" in enabled.output
        assert until(lambda: b.post("/v1/render", json=body, headers=headers).status_code == 200)
        assert a.get("/ui/", follow_redirects=False).status_code == 303  # the old session stays ended
        assert sign_in(a, "rita", "pw-for-rita") == 200
        assert runner.invoke(cli, ["account", "disable", "nobody", "--database-url", url]).exit_code == 1


def test_revoke_says_what_it_does_not_do(workspace_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'revoke.db'}"
    app = make_app(workspace_dir, url)
    create_account(app.state.service.store, "rita", "reviewer", password="pw")
    said = CliRunner().invoke(cli, ["token", "revoke", "rita", "--database-url", url]).output
    assert "the password still signs in" in said and "variantly account disable rita" in said


def test_an_account_needs_a_name_a_person_can_type_to_sign_in(workspace_dir: Path, database_url: str) -> None:
    where = ["--workspace", str(workspace_dir), "--database-url", database_url]
    for name, said in [
        ("", "1 to 100 characters, not 0"),  # was an account with no name
        ("x" * 101, "1 to 100 characters, not 101"),  # was a traceback on PostgreSQL
        (" rita", "no space around it"),  # the sign-in form strips it: never able to sign in
        ("ri\x01ta", "no control characters"),
    ]:
        made = CliRunner().invoke(cli, ["token", "create", name, *where])
        assert made.exit_code == 1 and said in " ".join(made.output.split()), made.output
    assert CliRunner().invoke(cli, ["token", "create", "Rita Berg", *where]).exit_code == 0
    from variantly.store import Store

    store = Store(database_url)
    assert [a.name for a in list_accounts(store)] == ["Rita Berg"]
    store.dispose()
