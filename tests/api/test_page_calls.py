"""A landing page on another site calls render and events from the browser: allowed for the origins an operator
names (CORS), for those routes only, and nothing changes where none is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import approve_examples, load_profile, make_app
from variantly.errors import ConfigurationError
from variantly.settings import ProcessSettings

SITE = "https://www.lumen.example"
LANDING = {"layout": "landing", "profile": load_profile("anna_retail_enterprise_sv").model_dump(mode="json")}


@pytest.fixture
def page_site(workspace_dir: Path, tmp_path: Path) -> TestClient:
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'pages.db'}", page_origins=(SITE,))
    approve_examples(app.state.service)
    with TestClient(app) as client:
        yield client


def preflight(client: TestClient, path: str, origin: str = SITE):
    """As a page's browser asks before a JSON POST carrying a renderer token."""
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    return client.options(path, headers=headers)


def test_a_page_of_a_named_site_may_ask_for_its_blocks_and_read_them(page_site: TestClient) -> None:
    asked = preflight(page_site, "/v1/render")
    assert asked.status_code == 200 and asked.headers["access-control-allow-origin"] == SITE
    assert "POST" in asked.headers["access-control-allow-methods"]
    assert {"content-type", "authorization"} <= set(asked.headers["access-control-allow-headers"].lower().split(", "))
    page = page_site.post("/v1/render", json=LANDING, headers={"Origin": SITE})
    plain = page_site.post("/v1/render", json=LANDING)
    assert page.status_code == 200 and page.headers["access-control-allow-origin"] == SITE
    assert "X-Variantly-Arm" in page.headers["access-control-expose-headers"]
    assert page.headers["vary"] == "Origin"
    assert json.loads(page.content)["html"] == json.loads(plain.content)["html"]  # the same page (signatures differ)
    assert "access-control-allow-origin" not in plain.headers


def test_a_page_sends_its_impressions_and_reads_a_fragment(page_site: TestClient) -> None:
    decision = page_site.post("/v1/render", json=LANDING, headers={"Origin": SITE}).json()["decisions"][0]
    seen = {k: decision[k] for k in ("module", "variant_id", "arm", "cohort", "signature")}
    event = {"type": "impression", "profile_id": LANDING["profile"]["id"]} | seen
    assert preflight(page_site, "/v1/events").status_code == 200
    sent = page_site.post("/v1/events", json={"events": [event]}, headers={"Origin": SITE})
    assert sent.status_code == 200 and sent.json()["accepted"] == 1
    assert sent.headers["access-control-allow-origin"] == SITE
    fragment = page_site.get("/v1/render/hero?segment=startup", headers={"Origin": SITE})
    assert fragment.status_code == 200 and fragment.headers["access-control-allow-origin"] == SITE
    assert "ETag" in fragment.headers["access-control-expose-headers"]
    assert fragment.headers["vary"] == "Origin"
    # asked without an origin (a CDN filling its cache), it still says it varies by origin: a shared cache must not
    # give the copy without the header to a page
    for_a_cdn = page_site.get("/v1/render/hero?segment=startup")
    assert for_a_cdn.headers["vary"] == "Origin" and "access-control-allow-origin" not in for_a_cdn.headers


def test_another_site_and_the_review_ui_are_never_allowed(page_site: TestClient) -> None:
    assert preflight(page_site, "/v1/render", origin="https://evil.example").status_code == 400
    other = page_site.post("/v1/render", json=LANDING, headers={"Origin": "https://evil.example"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    for path in ("/ui/login", "/v1/variants", "/healthz"):
        answer = page_site.get(path, headers={"Origin": SITE})
        assert "access-control-allow-origin" not in answer.headers, path


def test_without_named_sites_nothing_is_allowed(served_app) -> None:
    with TestClient(served_app) as client:
        asked = preflight(client, "/v1/render")
        page = client.post("/v1/render", json=LANDING, headers={"Origin": SITE})
    assert asked.status_code == 405 and "access-control-allow-origin" not in asked.headers
    assert page.status_code == 200 and "access-control-allow-origin" not in page.headers


@pytest.mark.parametrize("origin", ["https://www.lumen.example/", "www.lumen.example", "https://lumen.example/pages"])
def test_an_origin_that_no_browser_sends_is_named(origin: str) -> None:
    with pytest.raises(ConfigurationError, match=r"VARIANTLY_PAGE_ORIGINS: .*is not an origin as a browser sends it"):
        ProcessSettings.from_env({"VARIANTLY_PAGE_ORIGINS": f"https://lumen.example,{origin}"})


@pytest.mark.parametrize("fast_render", [True, False])
def test_json_a_page_sends_as_plain_text_is_read_as_json(workspace_dir: Path, tmp_path: Path, fast_render) -> None:
    """navigator.sendBeacon sends a string as text/plain (a page's last impressions as it unloads): it was a 422
    "Input should be a valid dictionary", and the impressions were lost. A fetch sends it to skip the preflight."""
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'beacon.db'}", fast_render=fast_render)
    approve_examples(app.state.service)
    plain = {"content-type": "text/plain;charset=UTF-8"}
    with TestClient(app) as client:
        page = client.post("/v1/render", content=json.dumps(LANDING), headers=plain)
        as_json = client.post("/v1/render", json=LANDING)
        decision = page.json()["decisions"][0]
        seen = {k: decision[k] for k in ("module", "variant_id", "arm", "cohort", "signature")}
        event = {"type": "impression", "profile_id": LANDING["profile"]["id"]} | seen
        beacon = client.post("/v1/events", content=json.dumps({"events": [event]}), headers=plain)
        broken = client.post("/v1/events", content='{"events": [', headers=plain)
    assert page.status_code == 200 and page.json()["html"] == as_json.json()["html"]
    assert beacon.status_code == 200 and beacon.json()["accepted"] == 1
    assert broken.status_code == 422 and broken.json()["error"]["message"].startswith("body: invalid JSON at line 1")
