"""Runs against a real local OpenAI-compatible server: nothing else is contacted,
and a run killed halfway resumes without paying for finished jobs again."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CTA_JOBS_PER_LOCALE, LiveServer
from fake_openai import create_app

SCRIPT = r"""
import socket, sys
attempts = []
real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo
def connect(self, address):
    attempts.append(("connect", address))
    return real_connect(self, address)
def getaddrinfo(host, *args, **kwargs):
    attempts.append(("dns", host))
    return real_getaddrinfo(host, *args, **kwargs)
socket.socket.connect = connect
socket.getaddrinfo = getaddrinfo

from variantly.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print("ATTEMPTS", sorted(set(map(repr, attempts))))
"""


def _env(base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OTEL_", "VARIANTLY_"))}
    return env | {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-local"}


def generate(workspace_dir: Path, base_url: str, *args: str) -> tuple[int, str]:
    """``variantly generate`` as a user runs it; its exit code and its output on one line."""
    command = [sys.executable, "-m", "variantly", "generate", "-w", str(workspace_dir), *args]
    out = subprocess.run(command, capture_output=True, text=True, env=_env(base_url), timeout=300)
    return out.returncode, " ".join(out.stdout.split()) + out.stderr


def test_a_run_contacts_only_the_llm_endpoint(workspace_dir: Path) -> None:
    with LiveServer(create_app()) as llm:
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, "generate", "-w", str(workspace_dir), "-m", "cta", "-l", "en"],
            capture_output=True,
            text=True,
            env=_env(f"{llm.url}/v1"),
            timeout=300,
            cwd=workspace_dir,
        )
    assert out.returncode == 0, out.stderr + out.stdout
    assert f"{CTA_JOBS_PER_LOCALE} job(s) done" in out.stdout
    line = next(line for line in out.stdout.splitlines() if line.startswith("ATTEMPTS"))
    attempts = eval(line.removeprefix("ATTEMPTS "))  # a list of reprs we printed ourselves
    port = llm.port
    allowed = {repr(("connect", ("127.0.0.1", port))), repr(("dns", "127.0.0.1"))}
    assert attempts and set(attempts) <= allowed, attempts


def test_killed_run_resumes_without_repeating_finished_jobs(workspace_dir: Path) -> None:
    fake = create_app(latency=0.15)
    db = workspace_dir / ".variantly" / "variantly.db"
    command = [
        sys.executable,
        "-m",
        "variantly",
        "generate",
        "-w",
        str(workspace_dir),
        "-m",
        "cta",
        "--concurrency",
        "2",
    ]
    with LiveServer(fake) as llm:
        env = _env(f"{llm.url}/v1")
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 120
        done_at_kill = 0
        while time.monotonic() < deadline:
            if db.exists():
                try:
                    with sqlite3.connect(db) as conn:
                        done_at_kill = conn.execute("select count(*) from generation_jobs").fetchone()[0]
                except sqlite3.OperationalError:
                    pass
            if done_at_kill >= 8:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with sqlite3.connect(db) as conn:
            done_at_kill = conn.execute("select count(*) from generation_jobs").fetchone()[0]
        assert 8 <= done_at_kill < 2 * CTA_JOBS_PER_LOCALE
        first_requests = len(fake.state.requests)

        resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        second_requests = len(fake.state.requests) - first_requests
    with sqlite3.connect(db) as conn:
        total_done = conn.execute("select count(*) from generation_jobs").fetchone()[0]
        variants = conn.execute("select count(*) from variants").fetchone()[0]
    assert total_done == 2 * CTA_JOBS_PER_LOCALE
    assert second_requests == 2 * CTA_JOBS_PER_LOCALE - done_at_kill  # finished jobs were not asked for again
    assert variants == 2 * CTA_JOBS_PER_LOCALE * 3


def test_editing_a_module_makes_its_variants_stale_and_plans_them_again(workspace_dir: Path) -> None:
    import asyncio

    from variantly.generation.llm import LLMClient
    from variantly.generation.run import Runner, RunOptions
    from variantly.store import Store
    from variantly.workspace import load_workspace

    store = Store(f"sqlite:///{workspace_dir / 'store.db'}")
    options = RunOptions(modules=["cta"], locales=["sv"])

    def runner() -> Runner:
        ws = load_workspace(workspace_dir)
        return Runner(store, ws, LLMClient(ws.settings.generation, api_key="x", base_url=f"{llm.url}/v1"))

    with LiveServer(create_app()) as llm:
        assert asyncio.run(runner().run(options, actor="t")).jobs_done == CTA_JOBS_PER_LOCALE
        assert runner().plan(options).skipped_done == CTA_JOBS_PER_LOCALE
        module = workspace_dir / "modules" / "cta.jinja"
        module.write_text(module.read_text().replace("needs no credit card.", "needs no credit card or setup."))
        assert (runner().plan(options).skipped_done, len(runner().plan(options).jobs)) == (0, CTA_JOBS_PER_LOCALE)
        assert asyncio.run(runner().run(options, actor="t")).jobs_done == CTA_JOBS_PER_LOCALE
    with store.engine.connect() as conn:
        counts = dict(conn.exec_driver_sql("select status, count(*) from variants group by status").fetchall())
        reasons = {r for (r,) in conn.exec_driver_sql("select reason from audit_log where action = 'stale'")}
    assert counts == {"stale": 3 * CTA_JOBS_PER_LOCALE, "pending": 3 * CTA_JOBS_PER_LOCALE}
    assert reasons == {"module cta was edited (brief, facts, slots or assets)"}


@pytest.mark.parametrize("module", ["cta", "hero_image"])  # copy jobs, and picture jobs
def test_ctrl_c_prints_the_summary_records_the_calls_and_exits_130(workspace_dir: Path, module: str) -> None:
    fake = create_app(latency=0.3)
    db = workspace_dir / ".variantly" / "variantly.db"
    command = [
        sys.executable,
        "-m",
        "variantly",
        "generate",
        "-w",
        str(workspace_dir),
        "-m",
        module,
        "--concurrency",
        "4",
        "--budget-usd",  # depth-first: the first jobs finish while others are in flight
        "5",
    ]
    with LiveServer(fake) as llm:
        env = _env(f"{llm.url}/v1")
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline, done = time.monotonic() + 120, 0
        while done < 2 and time.monotonic() < deadline:  # some jobs finished, others in flight
            time.sleep(0.05)
            try:
                with sqlite3.connect(db) as conn:
                    done = conn.execute("select count(*) from generation_jobs").fetchone()[0]
            except sqlite3.OperationalError:  # not created yet
                pass
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert ": interrupted" in out and "Run again to resume" in out  # the summary table and its message
    assert "run again to resume" in err
    with sqlite3.connect(db) as conn:
        status, message = conn.execute("select status, message from runs").fetchone()
        answered = conn.execute("select count(*) from llm_calls where outcome = 'ok'").fetchone()[0]
        done = conn.execute("select count(*) from generation_jobs").fetchone()[0]
    assert status == "interrupted" and "CancelledError" not in message
    assert answered >= done > 0  # every finished job's call is there, and calls of cut-short jobs too


def test_a_run_that_leaves_jobs_unstarted_exits_4_and_says_what_to_do(workspace_dir: Path) -> None:
    with LiveServer(create_app()) as llm:
        code, text = generate(
            workspace_dir, f"{llm.url}/v1", "-m", "cta", "--concurrency", "1", "--budget-usd", "0.002"
        )
    assert code == 4, text
    assert "stopped_budget" in text and "(with a higher --budget-usd) to continue" in text
    assert "`variantly generate --module cta --concurrency 1 --budget-usd 0.002` again" in text  # the same run
    spent = float(text.split("job(s) done, $", 1)[1].split(" ", 1)[0])
    assert 0 < spent <= 0.002


def test_an_unreachable_endpoint_is_reported_once_and_exits_1(workspace_dir: Path) -> None:
    """The circuit breaker's reason is the run's one message, not a line per job that was in flight."""
    with socket.socket() as probe:  # bound and closed: nothing listens there now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    code, text = generate(workspace_dir, f"http://127.0.0.1:{port}/v1", "-m", "hero", "--concurrency", "8")
    assert code == 1, text
    assert text.count(f"127.0.0.1:{port}/v1 refused") == 1, text
    assert "check OPENAI_BASE_URL" in text
    assert "job(s) unfinished: `variantly generate --module hero --concurrency 8` goes on with them" in text
    assert time.monotonic() - started < 60  # seconds of start-up, not a retry per job (was 200 attempts, 42 s)


def test_a_batch_is_sent_collected_later_and_billed_at_half_price_from_the_cli(workspace_dir: Path) -> None:
    """As an operator would: --batch sends, --collect waits while the provider works, then saves the answers."""
    app = create_app(batch_polls=1)
    with LiveServer(app) as llm:
        english_cta = (workspace_dir, f"{llm.url}/v1", "-m", "cta", "-l", "en")

        code, sent = generate(*english_cta, "--batch")
        assert code == 0, sent
        assert f"batch batch_1: sent {CTA_JOBS_PER_LOCALE} job(s)" in sent and "variantly generate --collect" in sent
        assert app.state.requests == [] and len(app.state.batches) == 1  # nothing live, one batch

        code, waiting = generate(*english_cta, "--collect")
        assert code == 0 and f"in_progress, 0/{CTA_JOBS_PER_LOCALE} answered; collect again later" in waiting, waiting

        code, collected = generate(*english_cta, "--collect")
        assert code == 0 and f"completed: {CTA_JOBS_PER_LOCALE} answered, 0 unanswered" in collected, collected
        assert f"{CTA_JOBS_PER_LOCALE} job(s) done" in collected

        code, again = generate(*english_cta)
        assert code == 0 and "0 job(s) done, $0.0000 spent" in again, again
        assert len(app.state.requests) == CTA_JOBS_PER_LOCALE and len(app.state.batches) == 1  # nothing asked twice

    with sqlite3.connect(workspace_dir / ".variantly" / "variantly.db") as conn:
        rows = conn.execute("select purpose, prompt_tokens, completion_tokens, cost_usd from llm_calls").fetchall()
        variants = conn.execute("select count(*) from variants where status = 'pending'").fetchone()[0]
    assert (
        len(rows) == CTA_JOBS_PER_LOCALE
        and {purpose for purpose, *_ in rows} == {"batch"}
        and variants == 3 * CTA_JOBS_PER_LOCALE
    )
    for _, prompt, completion, spent in rows:  # gpt-4o-mini: $0.15 in, $0.60 out per million; half in a batch
        assert spent == pytest.approx((prompt * 0.15 + completion * 0.60) / 1e6 * 0.5)
