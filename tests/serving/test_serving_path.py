"""The serving path never loads the generation stack (DESIGN: two paths)."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

GENERATION_STACK = ("openai", "guardrails", "litellm", "tiktoken")


def test_render_server_does_not_import_the_generation_stack(workspace_dir, tmp_path) -> None:
    script = f"""
import sys
from fastapi.testclient import TestClient
import variantly.cli  # what `variantly serve` loads first
from variantly.api import create_app
from variantly.settings import ProcessSettings
app = create_app(ProcessSettings(workspace={str(workspace_dir)!r}, database_url="sqlite:///{tmp_path / "db.sqlite"}"))
with TestClient(app) as client:
    profile = open({str(REPO / "examples/profiles/anna_retail_enterprise_sv.json")!r}).read()
    r = client.post("/v1/render", content='{{"layout": "landing", "profile": ' + profile + '}}',
                    headers={{"content-type": "application/json"}})
    assert r.status_code == 200, r.text
    client.post("/v1/render", content='{{"layout": "email", "channel": "email", "profile": ' + profile + '}}',
                headers={{"content-type": "application/json"}})
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({GENERATION_STACK!r}))
print("LOADED:" + ",".join(loaded))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "LOADED:\n" in out.stdout or out.stdout.strip().endswith("LOADED:"), out.stdout


def test_a_render_only_node_does_not_import_the_review_ui_or_the_statistics(workspace_dir, tmp_path) -> None:
    script = f"""
import sys
from fastapi.testclient import TestClient
import variantly.cli.serving  # what `variantly serve --render-only` loads
from variantly.api import create_app
from variantly.settings import ProcessSettings
app = create_app(ProcessSettings(workspace={str(workspace_dir)!r}, database_url="sqlite:///{tmp_path / "db.sqlite"}",
                                 render_only=True))
with TestClient(app) as client:
    assert client.get("/v1/render/hero").status_code == 200
    assert client.get("/ui/").status_code == 404
print("LOADED:" + ",".join(sorted(m for m in sys.modules if m.startswith(("variantly.web", "variantly.api.review",
      "variantly.api.runs", "variantly.authoring", "variantly.generation", "variantly.reporting", "scipy")))))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("LOADED:"), out.stdout
