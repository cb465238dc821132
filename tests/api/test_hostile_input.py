"""Input from outside cannot break the service, steer a redirect or smuggle a header or a link.

Every answer that is not a 200 has one shape, ``{"error": {"code", "message", "details"}}``,
and never repeats what the caller sent.
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from conftest import load_profile, make_app
from variantly.auth import create_account
from variantly.web.pages import local_path
from variantly.workspace.copy_checks import SlotContext, check_markup_and_links


@pytest.fixture
def client(workspace_dir, tmp_path):
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'store.db'}")
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def render(client: TestClient, profile: dict, **target) -> object:
    body = {"layout": "email", "channel": "email"} | target | {"profile": profile}
    return client.post("/v1/render", content=json.dumps(body), headers={"content-type": "application/json"})


def consenting(name: str = "anna_retail_enterprise_sv") -> dict:
    profile = load_profile(name).model_dump(mode="json")
    return profile | {"consent": {"personalisation": True, "marketing_email": True}}


@pytest.mark.parametrize(
    ("where", "mutate"),
    [
        ("traits.first_name", lambda p: p["traits"].__setitem__("first_name", "\ud800")),
        ("profile", lambda p: p.__setitem__("id", "anna\udfff")),
        ("profile.events.0.at", lambda p: p["events"].insert(0, {"type": "page_view", "at": "now-99999999999d"})),
        # digits alone were read as seconds since 1970: a compact date "20261201" was a page view of 1970-08-23
        ("profile.events.0.at", lambda p: p["events"].insert(0, {"type": "page_view", "at": "20261201"})),
        ("profile.events.0.at", lambda p: p["events"].insert(0, {"type": "page_view", "at": "1764806400"})),
    ],
)
def test_json_no_server_could_use_gets_a_422_naming_the_field_never_a_500(client, where: str, mutate) -> None:
    profile = consenting()
    mutate(profile)
    response = render(client, profile)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and where in error["message"]
    assert "99999999999" not in response.text and "anna" not in response.text  # the input is not echoed


@pytest.mark.parametrize("path", ["/v1/render", "/v1/events"])
@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        (b'{"layout": ', 422, "body: invalid JSON at line 1 column 12: Expecting value"),
        (b'{\n  "layout": "landing",\n  "profile": {"id": "x",}}', 422, "body: invalid JSON at line 3 column 25: "),
        (b'{"layout": "landing", "profile": {"id": "Bj\xf6rn"}}', 400, "body: not UTF-8 text at byte 44 "),
        (b'{"events": ' + b"[" * 1200 + b"]" * 1200 + b"}", 422, "body: invalid JSON: objects or arrays nested too"),
    ],
)
def test_a_body_that_is_not_json_is_named_by_line_and_column_or_byte(client, path, body, status, said) -> None:
    """FastAPI's own words were "body.11: JSON decode error" and "There was an error parsing the body"."""
    answer = client.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status and answer.json()["error"]["code"] == "invalid_request"
    assert answer.json()["error"]["message"].startswith(said)
    assert answer.json()["error"]["details"][0]["field"] == "body"


def test_every_error_has_one_shape(client) -> None:
    missing_field = client.post("/v1/render", json={"layout": "landing"}).json()
    unknown_module = client.post("/v1/render", json={"module": "nav", "profile": consenting()}).json()
    no_route = client.get("/v1/nothing-here").json()
    for body in (missing_field, unknown_module, no_route):
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert missing_field["error"]["details"][0]["field"] == "body.profile"
    assert (unknown_module["error"]["code"], no_route["error"]["code"]) == ("not_found", "not_found")
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schema["ErrorBody"]["properties"]) == {"code", "message", "details"}


def test_a_line_break_in_a_first_name_cannot_start_another_email_header(client) -> None:
    profile = consenting()
    profile["traits"]["first_name"] = "Anna\r\nBcc: all of sales"  # with an address in it, the default stands in
    subject = render(client, profile).json()["subject"]
    assert "\r" not in subject and "\n" not in subject and "Anna Bcc: all of sales" in subject


@pytest.mark.parametrize(
    "copy",
    [
        "javascript:alert(document.domain)",
        "JavaScript :alert(1)",
        "See data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "Go to //evil.example/login",
        "See http://lumen.example/pricing",
    ],
)
def test_links_other_than_https_to_allowed_domains_fail_the_link_check(workspace, copy: str) -> None:
    ctx = SlotContext(slot="note", kind="cta", locale="en")
    assert [f.validator for f in check_markup_and_links(copy, ctx, workspace.policy)] == ["allowed_links"]


def test_ordinary_copy_with_colons_is_not_a_link(workspace) -> None:
    ctx = SlotContext(slot="note", kind="cta", locale="en")
    for copy in ("Your data: one view", "Live at 10:30", "See https://lumen.example/pricing"):
        assert check_markup_and_links(copy, ctx, workspace.policy) == []


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/ui/?module=cta", "/ui/?module=cta"),
        ("https://evil.example/ui/", "/ui/"),
        ("//evil.example/ui/", "/ui/"),
        ("/\\evil.example", "/ui/"),
        ("/v1/variants", "/ui/"),
    ],
)
def test_redirects_after_a_form_stay_inside_the_review_ui(target: str, kept: str) -> None:
    assert local_path(target) == kept


def test_bulk_approve_does_not_redirect_to_another_site(client) -> None:
    create_account(client.app.state.service.store, "rita", "reviewer", password="pw-for-rita", token=False)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text).group(1)
    client.post("/ui/login", data={"csrf": csrf, "name": "rita", "password": "pw-for-rita"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/").text).group(1)
    response = client.post(
        "/ui/approve-selected", data={"csrf": csrf, "next": "https://evil.example/"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/ui/?")


def test_review_ui_pages_cannot_be_framed_or_run_inline_script(client) -> None:
    headers = client.get("/ui/login").headers
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in client.get("/healthz").headers  # render routes pay nothing


def test_session_cookies_can_be_marked_secure_behind_tls(client) -> None:
    assert "secure" not in client.get("/ui/login").headers["set-cookie"].lower()
    client.app.state.settings = client.app.state.settings.but(secure_cookies=True)  # VARIANTLY_SECURE_COOKIES=1
    assert "secure" in client.get("/ui/login").headers["set-cookie"].lower()


def test_a_body_over_its_routes_limit_is_refused_at_once(client) -> None:
    huge = consenting() | {"events": [{"type": "page_view", "at": "now-1d"}] * 100_000}
    response = render(client, huge)
    assert response.status_code == 413
    assert (
        response.json()["error"]["code"] == "body_too_large" and "render limit" in response.json()["error"]["message"]
    )


def test_a_profile_over_5000_events_is_refused_naming_the_field(client) -> None:
    many = consenting() | {"events": [{"type": "page_view", "at": "now"}] * 5001}  # within the render body limit
    response = render(client, many, layout="landing", channel="web")
    assert response.status_code == 422
    assert [(d["field"], d["message"]) for d in response.json()["error"]["details"]] == [
        ("body.profile.events", "List should have at most 5000 items after validation, not 5001")
    ]


def test_long_lists_are_counted_before_each_item_is_validated(client) -> None:
    events = [{"type": "impression", "profile_id": "p", "arm": "none"}] * 5001
    response = client.post("/v1/events", json={"events": events})
    assert response.status_code == 422 and "5,001, over the limit of 5,000" in response.json()["error"]["message"]


def test_body_limits_are_configurable_and_a_typo_is_named() -> None:
    from variantly.errors import ConfigurationError
    from variantly.settings import ProcessSettings

    settings = ProcessSettings.from_env({"VARIANTLY_BODY_LIMITS": "render=64k, events=2m"})
    assert settings.body_limits["render"] == 64 * 1024 and settings.body_limits["events"] == 2 * 1024 * 1024
    with pytest.raises(ConfigurationError, match=r"VARIANTLY_BODY_LIMITS: .*'rendr=64k' is not NAME=SIZE"):
        ProcessSettings.from_env({"VARIANTLY_BODY_LIMITS": "rendr=64k"})


def test_metrics_count_renders_decisions_events_and_the_release_for_a_token_holder(client) -> None:
    svc = client.app.state.service
    token = create_account(svc.store, "prometheus", "renderer")
    assert client.get("/metrics").status_code == 401  # not for strangers
    before = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    decision = render(client, consenting(), layout="landing", channel="web").json()["decisions"][0]
    event = {"type": "impression", "profile_id": consenting()["id"], "module": decision["module"]}
    event |= {"variant_id": decision["variant_id"], "arm": decision["arm"], "cohort": decision["cohort"]}
    client.post("/v1/events", json={"events": [event | {"signature": decision["signature"]}]})
    after = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text

    def value(text: str, sample: str) -> float:
        line = next((line for line in text.splitlines() if line.startswith(sample + " ")), f"{sample} 0")
        return float(line.rsplit(" ", 1)[1])

    assert (
        value(after, 'variantly_render_seconds_count{route="render"}')
        == value(before, 'variantly_render_seconds_count{route="render"}') + 1
    )
    outcome = f'variantly_decisions_total{{module="{decision["module"]}",outcome="{decision["outcome"]}"}}'
    assert value(after, outcome) == value(before, outcome) + 1
    assert value(after, 'variantly_events_ingested_total{type="impression"}') >= 1
    assert "variantly_release " in after and "variantly_release_loaded_at_seconds " in after


def test_log_lines_can_be_json_for_a_log_pipeline(capsys) -> None:
    import logging

    from variantly.logs import configure_logging
    from variantly.settings import ProcessSettings

    configure_logging(ProcessSettings.from_env({"VARIANTLY_LOG_FORMAT": "json"}).log_format)
    logging.getLogger("variantly.test").warning("store unreachable; still serving release %d", 7)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["level"] == "warning" and line["message"] == "store unreachable; still serving release 7"
    assert line["time"].endswith("+00:00") and line["logger"] == "variantly.test"
    logging.getLogger().handlers.clear()


def test_hostile_imported_copy_fails_the_checks_and_renders_inert_even_if_approved(workspace, tmp_path) -> None:
    from variantly.authoring.policy_checks import BuiltInChecker
    from variantly.serving.release import load_release
    from variantly.serving.render import render_target, viewer_for_profile
    from variantly.store import Store
    from variantly.store.variants import change_variant

    store = Store(f"sqlite:///{tmp_path / 'hostile.db'}")
    hostile = {
        "label": "<img src=x onerror=alert(1)>",
        "note": "{{ cycler.__init__.__globals__ }} javascript:alert(document.domain)",
    }
    path = tmp_path / "agency.jsonl"
    path.write_text(json.dumps({"module": "cta", "cohort": {"segment": "startup", "locale": "en"}, "slots": hostile}))
    from variantly.authoring.importing import import_variants

    checker = BuiltInChecker(workspace.policy, workspace.policy_hash)
    summary = import_variants(store, workspace, path, actor="agency", check=checker.check, approve=True)
    assert (summary.failed, summary.approved) == (1, 0)
    report = summary.failures[0]
    assert "contains HTML markup" in report and "contains template syntax" in report and "other than https" in report
    # a reviewer approves it anyway (a mistake): it is still only text on the page
    with store.sessions() as session:
        from variantly.store.schema import VariantRow

        row = session.query(VariantRow).one()
    change_variant(store, row.id, expected_version=row.version, actor="t", action="edit", to_status="pending")
    change_variant(store, row.id, expected_version=row.version + 1, actor="t", action="approve", to_status="approved")
    store.publish("t", "approved by mistake")
    profile = load_profile("ben_fintech_startup_en")
    page = render_target(
        workspace, load_release(store), viewer_for_profile(workspace, profile), channel="web", module="cta"
    )
    assert page.decisions[0].outcome == "variant"
    assert "<img src=x" not in page.html and "&lt;img src=x onerror=alert(1)&gt;" in page.html
    assert "{{ cycler" in page.html and "__globals__" in page.html  # shown as text, never compiled
    assert 'href="javascript' not in page.html


@pytest.mark.parametrize(
    ("copy", "problem"),
    [
        ("Reset at lumen.example.evil.com/reset today", "links to lumen.example.evil.com, which is not an allowed"),
        ("Sign in at evil.example/login", "links to evil.example, which is not an allowed domain"),
        ("Read more at www.evil.se", "links to www.evil.se"),
        ("Log in at xn--lumn-x4d.example/x", "links to lumеn.example (xn--lumn-x4d.example)"),
    ],
)
def test_text_a_mail_client_would_make_a_link_fails_unless_it_is_an_allowed_domain(workspace, copy, problem) -> None:
    ctx = SlotContext(slot="note", kind="cta", locale="en")
    [finding] = check_markup_and_links(copy, ctx, workspace.policy)
    assert finding.validator == "allowed_links" and finding.message.startswith(problem)
    start, end = finding.spans[0]
    assert "." in copy[start:end] and " " not in copy[start:end]


def test_bare_domains_are_refused_by_import_approve_and_never_served(workspace_dir, tmp_path) -> None:
    from variantly.checkers import import_file
    from variantly.store import Store
    from variantly.workspace import load_workspace

    ws = load_workspace(workspace_dir)
    store = Store(f"sqlite:///{tmp_path / 'links.db'}")
    agency = tmp_path / "agency.jsonl"
    notes = ["Reset at lumen.example.evil.com/reset today.", "Sign in at evil.example/login to start."]
    cohorts = [{"segment": segment, "locale": "en"} for segment in ("startup", "enterprise")]
    lines = [
        {"module": "cta", "cohort": cohort, "slots": {"label": "Book a demo", "note": note}}
        for cohort, note in zip(cohorts, notes, strict=True)
    ]
    agency.write_text("\n".join(json.dumps(line) for line in lines))
    summary = import_file(store, ws, agency, actor="agency", approve=True)
    assert (summary.approved, summary.failed) == (0, 2)
    assert all("which is not an allowed domain" in failure for failure in summary.failures)
