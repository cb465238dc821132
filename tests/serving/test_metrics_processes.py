"""Metrics from several render processes add up (PROMETHEUS_MULTIPROC_DIR), as behind --workers or gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from fastapi.testclient import TestClient
from variantly import metrics
from variantly.api import create_app
from variantly.settings import ProcessSettings
settings = ProcessSettings.from_env(workspace=sys.argv[1], database_url=sys.argv[2])
app = create_app(settings)
profile = open(sys.argv[3]).read()
with TestClient(app) as client:
    body = '{"module": "hero", "profile": ' + profile + '}'
    assert client.post("/v1/render", content=body, headers={"content-type": "application/json"}).status_code == 200
if sys.argv[4] == "read":
    print(metrics.exposition(settings.metrics_dir)[0].decode())
"""


def test_render_counts_from_three_processes_add_up(workspace_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    profile = workspace_dir / "examples" / "profiles" / "anna_retail_enterprise_sv.json"
    url = f"sqlite:///{tmp_path / 'store.db'}"
    outputs = []
    for step in ("render", "render", "read"):
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(workspace_dir), url, str(profile), step],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        outputs.append(out.stdout)
    line = next(
        line for line in outputs[-1].splitlines() if line.startswith('variantly_render_seconds_count{route="render"}')
    )
    assert float(line.rsplit(" ", 1)[1]) == 3.0
