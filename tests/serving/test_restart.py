"""A restart is never an outage: a node that starts with a broken file or without its store serves what it had."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import approve_examples, load_profile, make_app
from variantly.auth import create_account
from variantly.errors import WorkspaceError
from variantly.store import Store

HERO = "<h1>{{ slots.headline }}</h1>"


def break_hero(workspace_dir: Path) -> None:
    hero = workspace_dir / "modules" / "hero.jinja"
    hero.write_text(hero.read_text().replace(HERO, "<h1>{{ slots.headline </h1>"))


def test_a_node_restarted_with_a_broken_file_serves_the_last_good_workspace(workspace_dir: Path, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with TestClient(make_app(workspace_dir, url)) as client:
        before = client.get("/v1/render/hero").text
    break_hero(workspace_dir)
    app = make_app(workspace_dir, url)  # the restart: this raised before
    token = create_account(app.state.service.store, "ops", "admin")
    with TestClient(app) as client:
        assert client.get("/v1/render/hero").text == before
        health = client.get("/healthz", headers={"Authorization": f"Bearer {token}"}).json()
    assert health["status"] == "degraded" and "Jinja syntax error" in health["problems"][0]


def test_without_a_good_copy_a_broken_workspace_still_refuses_to_start(workspace_dir: Path, tmp_path) -> None:
    break_hero(workspace_dir)
    with pytest.raises(WorkspaceError, match=r"hero\.jinja"):
        make_app(workspace_dir, f"sqlite:///{tmp_path / 'store.db'}")


def test_a_node_restarted_while_the_store_is_down_serves_the_last_release(workspace_dir: Path, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    app = make_app(workspace_dir, url)
    svc = app.state.service
    approve_examples(svc)
    served = svc.release.number
    gone = Store(f"sqlite:///{tmp_path / 'gone' / 'x.db'}", migrate=False)
    from variantly.serving.service import RenderService
    from variantly.settings import ProcessSettings

    restarted = RenderService(ProcessSettings(workspace=workspace_dir), gone)  # the restart, with the store unreachable
    assert restarted.release.number == served and len(restarted.release) == len(svc.release)
    assert restarted.store_error
    body = {"module": "cta", "profile": load_profile("ben_fintech_startup_en").model_dump(mode="json")}
    with TestClient(make_app(workspace_dir, service=restarted)) as client:
        decision = client.post("/v1/render", json=body).json()["decisions"][0]
    assert decision["outcome"] == "variant"


def without_email_opt_out(settings: Path) -> None:
    """variantly.yml as written before every email layout needed an unsubscribe line."""
    lines = settings.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("  email:"))
    settings.write_text("".join(lines[:start] + lines[start + 4 :]))


def test_a_node_restarted_after_an_upgrade_that_adds_a_rule_serves_its_last_good_copy(
    workspace_dir: Path, tmp_path
) -> None:
    """An upgrade asked every email layout for an unsubscribe line: a workspace without one, and the copy of it the
    node kept, both failed the new rule, and the node refused to start. It serves that copy, as it did before, and
    says what to fix."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with TestClient(make_app(workspace_dir, url)) as client:  # the node keeps a copy of what it serves
        before = client.get("/v1/render/hero").text
    kept = workspace_dir / ".variantly" / "last-good-workspace"
    for folder in (workspace_dir, kept):  # both as written before the rule
        without_email_opt_out(folder / "variantly.yml")
    app = make_app(workspace_dir, url)  # the restart on the upgrade: this raised
    token = create_account(app.state.service.store, "ops", "admin")
    with TestClient(app) as client:
        assert client.get("/v1/render/hero").text == before
        health = client.get("/healthz", headers={"Authorization": f"Bearer {token}"}).json()
    assert health["status"] == "degraded" and "channels.email.opt_out" in health["problems"][0]


def test_a_kept_copy_whose_files_cannot_be_read_is_not_served_with_defaults(workspace_dir: Path) -> None:
    """Rules added since may be broken, but a settings file the new version cannot read is not replaced by the
    defaults: a node served with another holdout share and no merge fields would be wrong, not degraded."""
    from variantly.workspace.loader import load_last_good

    settings = workspace_dir / "variantly.yml"
    settings.write_text(settings.read_text() + "\nsetting_of_an_older_version: true\n")
    with pytest.raises(WorkspaceError, match="setting_of_an_older_version"):
        load_last_good(workspace_dir)
    without_email_opt_out(workspace_dir / "variantly.yml")  # still unreadable with a rule broken too
    with pytest.raises(WorkspaceError, match="setting_of_an_older_version"):
        load_last_good(workspace_dir)
