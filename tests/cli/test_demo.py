"""The README's main job, as a new user runs it: `variantly demo` on a fresh workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import free_port

VARIANTLY = str(Path(sys.executable).with_name("variantly"))


def test_demo_sets_up_imports_and_serves_personalised_content(workspace_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VARIANTLY_DATABASE_URL", "OPENAI_API_KEY")}
    port = free_port()
    proc = subprocess.Popen(
        [VARIANTLY, "demo", "--workspace", str(workspace_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "demo did not start"
            time.sleep(0.2)
        profiles = workspace_dir / "examples" / "profiles"
        pages = {}
        for name in ("anna_retail_enterprise_sv", "ben_fintech_startup_en", "carla_healthcare_open_ticket_en"):
            body = {"layout": "landing", "profile": json.loads((profiles / f"{name}.json").read_text())}
            response = httpx.post(f"{base}/v1/render", json=body)
            assert response.status_code == 200
            pages[name] = response.json()
        assert len({p["html"] for p in pages.values()}) == 3
        assert pages["carla_healthcare_open_ticket_en"]["decisions"][-1]["rule"] == "open_ticket_no_sales"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    variants = len((workspace_dir / "examples" / "variants.jsonl").read_text().splitlines())
    assert "lint ok" in output
    assert f"{variants} approved" in output
    assert "curl" in output and "/v1/render" in output
    assert (workspace_dir / ".variantly" / "variantly.db").exists()


def test_demo_twice_imports_nothing_the_second_time(workspace_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VARIANTLY_DATABASE_URL"}
    outputs = []
    for _ in range(2):
        out = subprocess.run(
            [VARIANTLY, "demo", "--no-serve", "--workspace", str(workspace_dir)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        outputs.append(" ".join(out.stdout.split()))
    variants = len((workspace_dir / "examples" / "variants.jsonl").read_text().splitlines())
    assert f"imported {variants} new variant(s)" in outputs[0]
    assert (
        f"imported 0 new variant(s): 0 approved, 0 pending, 0 failed checks; {variants} already present" in outputs[1]
    )


def test_a_port_no_socket_can_have_is_refused_before_anything_starts(workspace_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from variantly.cli import app

    for command in ("serve", "demo"):
        for port in ("0", "65536", "99999"):  # 99999 listened on 34463 and said it was on 99999
            args = [command, "--port", port, "--workspace", str(workspace_dir)]
            done = CliRunner().invoke(app, [*args, "--database-url", f"sqlite:///{tmp_path / 'demo.db'}"])
            assert done.exit_code == 2 and "not in the range 1<=x<=65535" in " ".join(done.output.split()), done.output
    assert not (tmp_path / "demo.db").exists()  # refused before the store was made
