"""The HTTP render API: JSON in, HTML and decisions out, clear 4xx, never a 500."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import REPO, LiveServer, approve_examples, make_app
from variantly.auth import create_account
from variantly.settings import ProcessSettings
from variantly.store import Store


def profile_json(name: str) -> dict:
    return json.loads((REPO / "examples" / "profiles" / f"{name}.json").read_text())


@pytest.fixture
def client(workspace_dir: Path, database_url: str, caplog: pytest.LogCaptureFixture):
    app = make_app(workspace_dir, database_url, poll_seconds=0.1)
    approve_examples(app.state.service)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "Exception" in r.getMessage()]


def render(client: TestClient, profile: str, **target) -> httpx.Response:
    return client.post("/v1/render", json={"profile": profile_json(profile), **(target or {"layout": "landing"})})


def test_landing_page_differs_by_profile_and_decisions_say_why(client: TestClient) -> None:
    anna = render(client, "anna_retail_enterprise_sv")
    ben = render(client, "ben_fintech_startup_en")
    assert anna.status_code == ben.status_code == 200
    assert anna.json()["html"] != ben.json()["html"]
    assert '<html lang="sv">' in anna.json()["html"]
    anna_hero = anna.json()["decisions"][0]
    assert anna_hero["outcome"] == "variant"
    assert anna_hero["cohort"] == "behaviour=pricing_researcher;segment=enterprise;industry=retail;locale=sv"
    assert anna.headers["X-Variantly-Arm"] == "treatment"
    assert anna.json()["release"] == 1


def test_email_render_returns_html_text_and_subject(client: TestClient) -> None:
    body = render(client, "eva_bank_dormant_sv", layout="email", channel="email").json()
    assert body["subject"] == "Hej Eva, en bild av varje kund"
    assert "Hej Eva, välkommen tillbaka" in body["text"]
    assert "style=" in body["html"]


def test_email_without_consent_is_refused_with_a_code(client: TestClient) -> None:
    response = render(client, "greta_no_email_consent_sv", layout="email", channel="email")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "consent_required"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"layout": "landing"}, "profile"),
        ({"layout": "landing", "profile": {"traits": {}}}, "id"),
        ({"layout": "landing", "channel": "sms", "profile": {"id": "x"}}, "channel"),
        ({"layout": "landing", "profile": {"id": "x", "events": [{"type": "login", "at": "yesterday"}]}}, "at"),
        ({"profile": {"id": "x"}}, "exactly one of module, modules or layout"),
        ({"layout": "landing", "profile": {"id": "x", "consnet": {}}}, "consnet"),
    ],
)
def test_bad_body_gets_422_naming_the_field(client: TestClient, body: dict, field: str) -> None:
    response = client.post("/v1/render", json=body)
    assert response.status_code == 422
    assert field in json.dumps(response.json())


def test_unknown_module_is_404(client: TestClient) -> None:
    response = client.post("/v1/render", json={"module": "footer", "profile": {"id": "x"}})
    assert response.status_code == 404
    assert "unknown module 'footer'" in response.json()["error"]["message"]
    assert client.get("/v1/render/footer").status_code == 404


def test_not_json_is_422(client: TestClient) -> None:
    response = client.post("/v1/render", content=b"{oops", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_batch_streams_one_line_per_profile_and_isolates_refusals(client: TestClient) -> None:
    profiles = [
        profile_json(n) for n in ("anna_retail_enterprise_sv", "greta_no_email_consent_sv", "ben_fintech_startup_en")
    ]
    profiles += [
        {
            "id": f"bulk-{i}",
            "traits": {"company_size": 50, "locale": "en"},
            "consent": {"personalisation": True, "marketing_email": True},
        }
        for i in range(200)
    ]
    with client.stream(
        "POST", "/v1/render/batch", json={"layout": "email", "channel": "email", "profiles": profiles}
    ) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert [line["profile_id"] for line in lines] == [p["id"] for p in profiles]
    assert lines[1]["ok"] is False and lines[1]["error"]["code"] == "consent_required"
    assert lines[0]["ok"] and lines[0]["subject"].startswith("Hej Anna")
    assert sum(line["ok"] for line in lines) == len(profiles) - 1


def test_an_ndjson_send_streams_a_line_per_profile_and_names_bad_lines(client: TestClient) -> None:
    """Over a real server: the upload and the answer stream at the same time."""
    profiles = [profile_json(n) for n in ("anna_retail_enterprise_sv", "greta_no_email_consent_sv")]
    lines = [json.dumps(p) for p in profiles] + ['{"id": "broken", "consent": "yes"}', "", "not json"]
    lines += [
        json.dumps({"id": f"bulk-{i}", "consent": {"personalisation": True, "marketing_email": True}})
        for i in range(120)
    ]

    def chunks():  # arrives in pieces that cut lines in half, as a real upload does
        body = ("\n".join(lines) + "\n").encode()
        for i in range(0, len(body), 777):
            yield body[i : i + 777]

    with (
        LiveServer(client.app) as server,
        httpx.stream(
            "POST",
            f"{server.url}/v1/render/batch",
            params={"layout": "email", "channel": "email"},
            content=chunks(),
            headers={"content-type": "application/x-ndjson"},
        ) as response,
    ):
        assert response.status_code == 200
        out = [json.loads(line) for line in response.iter_lines() if line]
    assert len(out) == len(lines) - 1  # the empty line is no profile
    assert out[0]["ok"] and out[0]["line"] == 1 and out[0]["subject"].startswith("Hej Anna")
    assert out[1] == out[1] | {"profile_id": "greta-4410", "line": 2, "ok": False}
    assert out[1]["error"]["code"] == "consent_required"
    assert out[2]["ok"] is False and out[2]["line"] == 3 and out[2]["profile_id"] is None
    assert out[2]["error"]["message"].startswith("line 3: consent: ")
    assert out[3]["line"] == 5 and out[3]["error"]["code"] == "profile_invalid"
    assert [o["profile_id"] for o in out[4:]] == [f"bulk-{i}" for i in range(120)] and all(o["ok"] for o in out[4:])


@pytest.mark.parametrize("piece", [1, 2, 4096])  # the byte order mark alone, cut in two, or whole in one piece
def test_an_ndjson_send_refuses_a_line_that_is_not_utf8_and_reads_past_a_byte_order_mark(
    client: TestClient, piece: int
) -> None:
    """A file saved by Excel or Notepad starts with a byte order mark; a name in Latin-1 went out as U+FFFD."""
    anna = json.dumps(profile_json("anna_retail_enterprise_sv"), ensure_ascii=False)
    body = b"\xef\xbb\xbf" + anna.encode() + b"\r\n" + anna.replace("Anna", "Bj\u00f6rn").encode("latin-1") + b"\n"
    with LiveServer(client.app) as server:  # over a real server, so the pieces arrive one by one
        response = httpx.post(
            f"{server.url}/v1/render/batch",
            params={"layout": "email", "channel": "email"},
            content=(body[i : i + piece] for i in range(0, len(body), piece)),
            headers={"content-type": "application/x-ndjson"},
        )
    first, second = (json.loads(line) for line in response.text.splitlines())
    assert first["ok"] and first["subject"].startswith("Hej Anna")
    assert second == second | {"line": 2, "ok": False, "profile_id": None}
    assert second["error"]["code"] == "profile_invalid"
    assert second["error"]["message"].startswith("line 2: not UTF-8 text at byte ")
    assert "\ufffd" not in response.text


def test_an_ndjson_send_of_only_a_byte_order_mark_renders_nothing(client: TestClient) -> None:
    response = client.post(
        "/v1/render/batch",
        params={"module": "hero"},
        content=b"\xef\xbb\xbf",
        headers={"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200 and response.text == ""


def test_an_ndjson_send_needs_its_target_in_the_query(client: TestClient) -> None:
    response = client.post(
        "/v1/render/batch", content=b'{"id": "x"}\n', headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("query: Value error, give exactly one of module")


def test_anonymous_fragment_is_cacheable(client: TestClient) -> None:
    response = client.get("/v1/render/hero", params={"segment": "enterprise", "industry": "retail", "locale": "sv"})
    assert response.status_code == 200
    assert "Varje butik, varje kanal" in response.text
    assert response.headers["cache-control"].startswith("public, max-age=")
    assert response.headers["x-variantly-outcome"] == "variant"
    etag = response.headers["etag"]
    again = client.get(
        "/v1/render/hero",
        params={"segment": "enterprise", "industry": "retail", "locale": "sv"},
        headers={"If-None-Match": etag},
    )
    assert again.status_code == 304
    other = client.get("/v1/render/hero", params={"segment": "startup"})
    assert other.headers["etag"] != etag


def test_openapi_and_health(client: TestClient) -> None:
    assert "/v1/render/batch" in client.get("/openapi.json").json()["paths"]
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["release_variants"] >= 30


def test_a_poll_that_comes_during_another_returns_with_its_result(workspace_dir: Path, monkeypatch) -> None:
    """The poller is loading a broken edit when someone else polls: the second poll waits, and then
    health says what the first found (it used to return at once, before the load had failed)."""
    import threading
    import time

    from variantly.serving import service as service_module

    svc = service_module.RenderService(ProcessSettings(workspace=workspace_dir), None)
    loading = threading.Event()
    real_load = service_module.load_workspace

    def slow_load(root):
        loading.set()
        time.sleep(0.3)  # a big workspace on a busy machine
        return real_load(root)

    monkeypatch.setattr(service_module, "load_workspace", slow_load)
    hero = workspace_dir / "modules" / "hero.jinja"
    hero.write_text(hero.read_text().replace("<h1>{{ slots.headline }}</h1>", "<h1>{{ slots.headline </h1>"))
    poller = threading.Thread(target=svc.poll_once)
    poller.start()
    assert loading.wait(5)
    svc.poll_once()  # comes while the poller is loading the same edit
    assert svc.health().workspace_error and "Jinja syntax error" in svc.health().workspace_error
    poller.join()


def test_broken_workspace_edit_keeps_serving_the_last_good_one(workspace_dir: Path, database_url: str) -> None:
    app = make_app(workspace_dir, database_url, poll_seconds=0.05)
    operator = {"Authorization": f"Bearer {create_account(app.state.service.store, 'ops', 'admin')}"}
    hero = workspace_dir / "modules" / "hero.jinja"
    with LiveServer(app) as server:
        before = httpx.get(f"{server.url}/v1/render/hero").text
        hero.write_text(hero.read_text().replace("<h1>{{ slots.headline }}</h1>", "<h1>{{ slots.headline </h1>"))
        app.state.service.poll_once()
        response = httpx.get(f"{server.url}/v1/render/hero")
        assert response.status_code == 200 and response.text == before
        health = httpx.get(f"{server.url}/healthz", headers=operator).json()
        assert health["status"] == "degraded" and "Jinja syntax error" in health["problems"][0]
        stranger = httpx.get(f"{server.url}/healthz").json()  # status for a load balancer, not the details
        assert stranger["status"] == "degraded" and "hero.jinja" not in str(stranger)
        hero.write_text(hero.read_text().replace("{{ slots.headline </h1>", "{{ slots.headline }}!</h1>"))
        app.state.service.poll_once()
        assert "</h1>" in httpx.get(f"{server.url}/v1/render/hero").text
        assert "!</h1>" in httpx.get(f"{server.url}/v1/render/hero").text
        assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"


def test_store_outage_keeps_serving_the_last_release(workspace_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    app = make_app(workspace_dir, url)
    service = app.state.service
    approve_examples(service)
    # The store goes away: the same process now points at a database it cannot open.
    service.store = Store(f"sqlite:///{tmp_path / 'gone' / 'db.sqlite'}", migrate=False)
    service.refresh_release()
    assert service.store_error and "unable to open database file" in service.store_error
    with TestClient(app) as client:
        body = render(client, "ben_fintech_startup_en").json()
        assert body["decisions"][0]["outcome"] == "variant"
        assert client.get("/healthz").json()["status"] == "degraded"


def test_workspace_images_are_served_and_nothing_else(client: TestClient) -> None:
    image = client.get("/assets/team_dashboard.svg")
    assert image.status_code == 200 and image.headers["content-type"] == "image/svg+xml"
    assert client.get("/assets/..%2F..%2Fvariantly.yml").status_code == 404
    assert client.get("/assets/cta.jinja").status_code == 404


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/render/hero?segment=enterprise&segment=startup", "query.segment"),
        ("/v1/render/hero?locale=sv&segment=startup&locale=sv", "query.locale"),
        ("/v1/variants?module=cta&module=hero", "query.module"),
        ("/v1/reports/lift?metric=revenue&metric=conversion", "query.metric"),
    ],
)
def test_a_query_parameter_given_twice_is_refused_not_the_last_one_taken(client: TestClient, url, field) -> None:
    """ "?segment=enterprise&segment=startup" was served the startup page, and "?module=cta&module=hero" listed
    hero's variants alone: FastAPI takes the last, and no API parameter takes a list."""
    twice = client.get(url, headers={"Authorization": "Bearer nobody"})
    assert twice.status_code == 422
    assert twice.json()["error"]["details"] == [{"field": field, "message": "given more than once: give one value"}]
