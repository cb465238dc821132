"""No input gets a 5xx, on SQLite or PostgreSQL: text a store cannot hold (a NUL, a lone surrogate) and
times that leave the calendar once their offset is applied are a 422 naming the field, everywhere a
caller can put them: JSON bodies, query strings, path parameters and forms."""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import LiveServer, approve_examples, consenting_profile, make_app
from variantly.auth import create_account


@pytest.fixture
def api(workspace_dir: Path, database_url: str):
    app = make_app(workspace_dir, database_url)
    approve_examples(app.state.service)
    store = app.state.service.store
    tokens = {"reviewer": create_account(store, "rita", "reviewer"), "admin": create_account(store, "ops", "admin")}
    create_account(store, "mia", "reviewer", password="pw-for-mia", token=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, tokens


def as_admin(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['admin']}"}


def ui_session(client: TestClient) -> str:
    """Sign in to the review UI; the CSRF token of the session."""
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text).group(1)
    client.post("/ui/login", data={"csrf": csrf, "name": "mia", "password": "pw-for-mia"})
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/").text).group(1)


def test_the_cases_a_tester_found_are_422s_naming_the_field(api) -> None:
    client, tokens = api
    refused = [
        client.post("/v1/events", json={"events": [{"type": "click", "profile_id": "p\x00", "arm": "none"}]}),
        client.get("/v1/variants", params={"module": "cta\x00"}, headers=as_admin(tokens)),
        client.get("/v1/variants/abc%00def", headers=as_admin(tokens)),
        client.post("/v1/variants/approve", json={"items": [{"id": "a\x00", "version": 1}]}, headers=as_admin(tokens)),
        client.get("/v1/runs/r%00", headers=as_admin(tokens)),
        client.post("/v1/render", json={"module": "cta", "profile": consenting_profile("p\x00")}),
    ]
    for response in refused:
        assert response.status_code == 422, (response.request.url, response.text)
        assert response.json()["error"]["code"] == "invalid_request" and "NUL" in response.json()["error"]["message"]
    fields = [r.json()["error"]["details"][0]["field"] for r in refused]
    assert fields == [
        "body.events.0",
        "query.module",
        "path",
        "body",
        "path",
        "body.profile",
    ] or all(fields), fields


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_that_leaves_the_calendar_once_its_offset_is_applied_is_refused_where_it_would_be_stored(
    api, at: str
) -> None:
    """An event is stored in UTC, so the events route refuses it (a 422, not an overflow at the store); a profile's
    event is only compared by rules, as the instant it names, so a render takes it."""
    client, _ = api
    event = client.post("/v1/events", json={"events": [{"type": "click", "profile_id": "p1", "arm": "none", "at": at}]})
    assert event.status_code == 422, event.text
    assert "outside the years 1 to 9999" in event.json()["error"]["message"]
    profile = consenting_profile("p2") | {"events": [{"type": "page_view", "at": at}]}
    rendered = client.post("/v1/render", json={"module": "cta", "profile": profile})
    assert rendered.status_code == 200, rendered.text


def test_a_sign_in_with_a_nul_in_the_name_is_a_page_not_a_500(api) -> None:
    client, _ = api
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text).group(1)
    page = client.post("/ui/login", data={"csrf": csrf, "name": "rita\x00", "password": "x"})
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "form.name" in page.text and "content-security-policy" in page.headers


# Every route and where a caller can put text in it: path parameters, query parameters, a JSON body.
EXAMPLE_PROFILE = consenting_profile("p-1")
ROUTES = {
    ("GET", "/healthz"): {},
    ("GET", "/readyz"): {},
    ("GET", "/livez"): {},
    ("GET", "/docs"): {},
    ("GET", "/docs/static/{name}"): {"path": {"name": "swagger-ui.css"}},
    ("GET", "/metrics"): {},
    ("POST", "/v1/render"): {"body": {"module": "cta", "channel": "web", "profile": EXAMPLE_PROFILE}},
    ("GET", "/v1/render/{module}"): {
        "path": {"module": "hero"},
        "query": ["segment", "industry", "behaviour", "locale"],
    },
    ("POST", "/v1/render/batch"): {"body": {"module": "cta", "profiles": [EXAMPLE_PROFILE]}},
    ("GET", "/assets/{name}"): {"path": {"name": "team_dashboard.svg"}},
    ("POST", "/v1/events"): {
        "body": {
            "events": [
                {
                    "type": "impression",
                    "profile_id": "p-1",
                    "module": "cta",
                    "arm": "treatment",
                    "cohort": "c",
                    "at": "now",
                }
            ]
        }
    },
    ("GET", "/v1/reports/lift"): {"query": ["module"]},
    ("GET", "/v1/variants"): {"query": ["module", "cohort", "locale", "status", "guardrail"]},
    ("POST", "/v1/variants/approve"): {"body": {"items": [{"id": "v1", "version": 1}], "reason": "fine"}},
    ("GET", "/v1/variants/{variant_id}"): {"path": {"variant_id": "v1"}},
    ("POST", "/v1/variants/{variant_id}/approve"): {
        "path": {"variant_id": "v1"},
        "body": {"version": 1, "reason": "ok"},
    },
    ("POST", "/v1/variants/{variant_id}/reject"): {
        "path": {"variant_id": "v1"},
        "body": {"version": 1, "reason": "no"},
    },
    ("POST", "/v1/variants/{variant_id}/retire"): {
        "path": {"variant_id": "v1"},
        "body": {"version": 1, "reason": "old"},
    },
    ("POST", "/v1/variants/{variant_id}/edit"): {
        "path": {"variant_id": "v1"},
        "body": {"version": 1, "reason": "tone", "slots": {"label": "Book a demo"}},
    },
    ("GET", "/v1/variants/{variant_id}/preview"): {"path": {"variant_id": "v1"}, "query": ["channel"]},
    ("POST", "/v1/runs"): {
        "body": {"modules": ["cta"], "locales": ["en"], "cohorts": ["segment=startup;behaviour=*;locale=en"]}
    },
    ("GET", "/v1/runs/{run_id}"): {"path": {"run_id": "r1"}},
    ("GET", "/ui/static/{name}"): {"path": {"name": "app.css"}},
    ("GET", "/ui/login"): {},
    ("POST", "/ui/login"): {"form": {"name": "mia", "password": "pw"}},
    ("POST", "/ui/logout"): {"form": {}},
    ("GET", "/ui/"): {"query": ["module", "cohort", "locale", "status", "guardrail"]},
    ("POST", "/ui/approve-selected"): {"form": {"item": "v1:1", "next": "/ui/"}},
    ("GET", "/ui/variants/{variant_id}"): {"path": {"variant_id": "v1"}},
    ("GET", "/ui/variants/{variant_id}/preview/{channel}"): {"path": {"variant_id": "v1", "channel": "web"}},
    ("POST", "/ui/variants/{variant_id}/{action}"): {
        "path": {"variant_id": "v1", "action": "reject"},
        "form": {"version": "1", "reason": "too loud"},
    },
    ("GET", "/ui/lift"): {"query": ["module", "metric"]},
    ("GET", "/ui/preview"): {"query": ["target", "channel", "example", "profile"]},
    ("GET", "/ui/preview/frame"): {"query": ["target", "channel", "example", "profile"]},
    ("GET", "/ui/preview/version"): {},
}


def test_the_route_table_covers_every_route() -> None:
    from variantly.api import batch, docs, events, render, review, runs
    from variantly.web import lift, preview, routes

    served = {
        (method, route.path)
        for module in (render, batch, events, review, runs, docs, routes, preview, lift)
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
        if method != "HEAD"
    }
    assert served == set(ROUTES)


def leaves(value, where=()):
    """Every string in a JSON value, with its path."""
    if isinstance(value, str):
        yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*where, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, (*where, i))


def replaced(value, where, new):
    if not where:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[where[0]] = replaced(value[where[0]], where[1:], new)
    return copy


HOSTILE = st.one_of(
    st.tuples(st.text(max_size=8), st.text(max_size=8)).map(lambda parts: parts[0] + "\x00" + parts[1]),
    st.sampled_from(["\x00", "a\x00b", "%00", "\ud800", "x\udfffy", "9999-12-31T23:59:59-23:00"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(route=st.sampled_from(sorted(ROUTES)), hostile=HOSTILE, choice=st.integers(min_value=0, max_value=1000))
def test_no_route_answers_hostile_text_with_a_server_error(api, route, hostile: str, choice: int) -> None:
    client, tokens = api
    method, template = route
    spec = ROUTES[route]
    places = [("path", name) for name in spec.get("path", {})] + [("query", name) for name in spec.get("query", [])]
    places += [("body", where) for where in leaves(spec.get("body", {}))]
    places += [("form", name) for name in spec.get("form", {})]
    if not places:
        places = [("query", "extra")]
    kind, where = places[choice % len(places)]
    path_values = dict(spec.get("path", {}))
    query, body, form = {}, spec.get("body"), dict(spec.get("form", {}))
    if kind == "path":
        path_values[where] = hostile.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    elif kind == "query":
        query[where] = hostile.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    elif kind == "body":
        body = replaced(body, where, hostile)
    else:
        form[where] = hostile.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    path = template
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    headers = as_admin(tokens)
    if form or (method == "POST" and template.startswith("/ui/")):
        form["csrf"] = ui_session(client)
    if body is not None:
        content = json.dumps(body)  # lone surrogates go as \ud800 escapes, as a client's JSON would carry them
        response = client.request(
            method, path, params=query, content=content, headers=headers | {"content-type": "application/json"}
        )
    elif method == "POST":
        response = client.request(method, path, params=query, data=form, headers=headers)
    else:
        response = client.request(method, path, params=query, headers=headers)
    no_llm_here = template == "/v1/runs" and response.json()["error"]["code"] == "llm_not_configured"
    assert response.status_code < 500 or no_llm_here, (method, path, kind, where, repr(hostile), response.text[:300])


def test_an_unexpected_error_is_answered_and_the_connection_stays_open(api, monkeypatch) -> None:
    client, _ = api
    svc = client.app.state.service

    def broken():
        raise RuntimeError("a bug")

    with LiveServer(client.app) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        monkeypatch.setattr(svc, "health", broken)
        connection.request("GET", "/healthz")
        first = connection.getresponse()
        assert first.status == 500 and json.loads(first.read())["error"]["code"] == "internal"
        monkeypatch.undo()
        connection.request("GET", "/healthz")  # the same connection: it was not dropped
        second = connection.getresponse()
        assert second.status == 200 and json.loads(second.read())["status"] in ("ok", "degraded")
        connection.close()


@pytest.mark.parametrize(
    "name",
    [
        "%00.png",
        "a" * 64 + ".png",
        "a" * 64 + "-99999.webp",
        "..%2f..%2fvariantly.yml",
        "A" * 64 + ".png",
        "x.svg%00",
        "a" * 64 + "-0.png",
        "%ED%A0%80.webp",
    ],
)
def test_a_picture_name_no_store_holds_is_a_4xx(api, name: str) -> None:
    client, _ = api
    assert 400 <= client.get(f"/assets/{name}").status_code < 500


def test_a_stored_picture_is_served_by_its_name(api) -> None:
    client, _ = api
    page = client.post("/v1/render", json={"module": "hero_image", "profile": consenting_profile("p-shop") | {
        "traits": {"industry": "retail", "locale": "en"}}}).json()  # fmt: skip
    src = re.search(r'src="(/assets/[0-9a-f]{64}-\d+\.png)"', page["html"]).group(1)
    served = client.get(src)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
