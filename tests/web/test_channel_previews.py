"""Marketers and reviewers see every channel a module is sent in: SMS and push as the reader gets them."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from conftest import approve_examples, make_app
from variantly.auth import create_account


def signed_in(workspace_dir: Path, database_url: str) -> TestClient:
    app = make_app(workspace_dir, database_url)
    approve_examples(app.state.service)
    create_account(app.state.service.store, "mia", "reviewer", password="pw-for-mia", token=False)
    client = TestClient(app)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text).group(1)
    client.post("/ui/login", data={"csrf": csrf, "name": "mia", "password": "pw-for-mia"})
    return client


def test_the_preview_opens_on_a_page_it_can_render_and_offers_every_channel(
    workspace_dir: Path, database_url: str
) -> None:
    with signed_in(workspace_dir, database_url) as client:
        page = client.get("/ui/preview").text
        assert 'value="landing" selected' in page and "has no web channel" not in page
        assert all(
            f"<option{' selected' if c == 'web' else ''}>{c}</option>" in page for c in ("web", "email", "sms", "push")
        )
        email = client.get("/ui/preview?target=email").text
        assert "<option selected>email</option>" in email and "has no" not in email  # the email layout opens as email


def test_an_sms_preview_shows_the_text_and_what_it_costs(workspace_dir: Path, database_url: str) -> None:
    with signed_in(workspace_dir, database_url) as client:
        frame = client.get("/ui/preview/frame?target=cta&channel=sms&example=ben_fintech_startup_en").text
        assert "<h2>sms text</h2>" in frame and "Reply STOP to opt out" in frame
        assert re.search(r"1 SMS segment\(s\): \d+ septets \(GSM7\)|2 SMS segment\(s\): \d+ septets \(GSM7\)", frame)
        queue = client.get("/ui/?module=cta&status=approved").text
        variant_id = re.search(r"/ui/variants/([0-9a-f]+)", queue).group(1)
        variant = client.get(f"/ui/variants/{variant_id}").text
        assert all(f"/ui/variants/{variant_id}/preview/{c}" in variant for c in ("web", "email", "sms", "push"))
        push = client.get(f"/ui/variants/{variant_id}/preview/push").text
        assert "<h2>push title</h2>" in push and "<h2>push body</h2>" in push
