"""What an operator relies on: docs with no outside origin, readiness a load balancer can act on, proxy
headers believed only from named proxies, and the README's send command working as written."""

from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import REPO, LiveServer, approve_examples, make_app
from variantly.settings import ProcessSettings
from variantly.store import Store
from variantly.workspace.blocks import header_safe


@pytest.fixture
def app(workspace_dir: Path, tmp_path: Path):
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'ops.db'}", poll_seconds=0.1)
    approve_examples(app.state.service)
    return app


def test_the_api_docs_load_nothing_from_another_origin(app) -> None:
    with TestClient(app) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "swagger" in page.text.lower()
        sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert sources and all(source.startswith("/") for source in sources), sources
        assert "cdn" not in page.text and "https://" not in page.text.split("<body>")[-1].split("</script>")[0]
        for source in sources:
            assert client.get(source).status_code == 200, source
        assert client.get("/openapi.json").json()["openapi"].startswith("3.")


def test_readiness_says_degraded_with_its_status_and_liveness_does_not(app, tmp_path: Path) -> None:
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200 and client.get("/livez").json() == {"status": "alive"}
        app.state.service.store = Store(f"sqlite:///{tmp_path / 'gone' / 'x.db'}", migrate=False)
        app.state.service.refresh_release()
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "degraded"
        assert client.get("/livez").status_code == 200
        assert client.get("/healthz").status_code == 200  # the status page, for people and old probes


@pytest.mark.parametrize(("trusted", "logged"), [(None, "127.0.0.1"), ("127.0.0.1", "203.0.113.9")])
def test_a_forwarded_address_is_believed_only_from_a_named_proxy(
    app, workspace_dir: Path, caplog: pytest.LogCaptureFixture, trusted: str | None, logged: str
) -> None:
    settings = ProcessSettings(workspace=workspace_dir, forwarded_allow_ips=trusted)
    with LiveServer(app, settings) as server, httpx.Client(base_url=server.url) as client:
        login = client.get("/ui/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
        headers = {"X-Forwarded-For": "203.0.113.9"}
        with caplog.at_level(logging.WARNING, logger="variantly.web"):
            client.post("/ui/login", data={"csrf": csrf, "name": "nobody", "password": "x"}, headers=headers)
    assert any(f"failed sign-in for 'nobody' from {logged}" in r.getMessage() for r in caplog.records)


def test_the_readme_send_command_works_as_written(app, tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = re.search(r"`(curl -sN [^`]+send\.ndjson[^`]+)`", readme).group(1)
    profiles = [json.loads(p.read_text()) for p in sorted((REPO / "examples" / "profiles").glob("*.json"))]
    (tmp_path / "send.ndjson").write_text("\n".join(json.dumps(p) for p in profiles) + "\n")
    with LiveServer(app) as server:
        argv = [word.replace("localhost:8000", f"127.0.0.1:{server.port}") for word in shlex.split(command)]
        out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 0 and len(lines) == len(profiles), out.stdout + out.stderr
    refused = {line["profile_id"] for line in lines if not line["ok"]}
    assert refused and all(line["ok"] or line["error"]["code"] == "consent_required" for line in lines)
    assert all("<html" in line["html"] and line["subject"] for line in lines if line["ok"])


def test_a_subject_never_carries_a_line_break_or_a_nul() -> None:
    assert header_safe("Hi Ann\r\nBcc: x@evil.example\x00 there") == "Hi Ann Bcc: x@evil.example there"
