"""An error in the review UI is a page a person can read, with the UI's security headers and a way back;
the API keeps answering JSON."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import make_app
from variantly.auth import create_account

FORM = "application/x-www-form-urlencoded"
SECURITY_HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy")


@pytest.fixture
def client(workspace_dir: Path, tmp_path: Path):
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'store.db'}")
    create_account(app.state.service.store, "mia", "reviewer", password="pw-for-mia", token=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', test_client.get("/ui/login").text).group(1)
        test_client.post("/ui/login", data={"csrf": csrf, "name": "mia", "password": "pw-for-mia"})
        yield test_client


def is_a_page(response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert all(header in response.headers for header in SECURITY_HEADERS), response.headers
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert 'id="back"' in response.text and '{"error"' not in response.text


def test_a_stale_link_is_a_page_with_a_way_back(client: TestClient) -> None:
    page = client.get("/ui/variants/no-such-variant")
    is_a_page(page, 404)
    assert "no variant &#39;no-such-variant&#39;" in page.text and 'href="/ui/"' in page.text


def test_a_form_with_an_expired_csrf_token_is_a_page(client: TestClient) -> None:
    page = client.post("/ui/approve-selected", data={"csrf": "from-an-old-tab", "item": "x:1"})
    is_a_page(page, 403)
    assert "reload the page and try again" in page.text


def test_an_unknown_ui_address_and_a_bad_channel_are_pages_too(client: TestClient) -> None:
    is_a_page(client.get("/ui/nothing-here"), 404)
    preview = client.get("/ui/preview?target=cta&channel=fax")  # the preview page shows the error in itself
    assert preview.status_code == 200 and "no channel &#39;fax&#39;" in preview.text
    frame = client.get("/ui/preview/frame?target=cta&channel=fax&example=ben_fintech_startup_en")
    assert frame.status_code == 422 and "no channel &#39;fax&#39;" in frame.text


def test_the_api_keeps_its_json_errors(client: TestClient) -> None:
    answer = client.get("/v1/variants/no-such-variant")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthenticated"
    assert client.get("/v1/nothing").json()["error"]["code"] == "not_found"


LONG = "x" * 300  # past the 255 bytes a file name can have: the file system refuses it rather than finding nothing


@pytest.mark.parametrize(
    ("address", "status"),
    [
        (f"/ui/static/{LONG}.css", 404),
        (f"/assets/{LONG}.svg", 404),
        (f"/ui/preview/frame?target=landing&example={LONG}", 404),
        (f"/ui/preview?target=landing&example={LONG}", 200),  # the preview page says so in itself
    ],
)
def test_a_file_name_too_long_for_the_file_system_is_not_found(client: TestClient, address: str, status: int) -> None:
    answer = client.get(address)
    assert answer.status_code == status
    if status == 200:
        assert f"no example profile &#39;{LONG}&#39;" in answer.text


def test_a_csrf_token_outside_ascii_is_refused_like_any_wrong_one(client: TestClient) -> None:
    for token in ("é" * 43, "\ufffd"):  # "%FF" in a form decodes to U+FFFD
        is_a_page(client.post("/ui/approve-selected", data={"csrf": token, "item": "x:1"}), 403)
    is_a_page(client.post("/ui/logout", content=b"csrf=%FF", headers={"content-type": FORM}), 403)
