"""POST /v1/render through RenderFastPath answers exactly as FastAPI's route does.

Two apps on one workspace and store, one with the fast path and one without; every
request goes to both with the same Thompson-sampling seed, and the answers must match
byte for byte. Valid renders are answered by the fast path; anything else is handed to
the route, and the error is the route's own.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import REPO, approve_examples, fewest_in_cycles, make_app
from variantly.api import fast_path


def profile(name: str) -> dict:
    return json.loads((REPO / "examples" / "profiles" / f"{name}.json").read_text())


ANNA, BEN = profile("anna_retail_enterprise_sv"), profile("ben_fintech_startup_en")
JSON = {"content-type": "application/json"}

SERVED_FAST = {
    "landing": {"layout": "landing", "profile": ANNA},
    "one module": {"module": "hero", "profile": BEN},
    "several modules": {"modules": ["hero", "cta"], "profile": ANNA},
    "email": {"layout": "email", "channel": "email", "profile": profile("eva_bank_dormant_sv")},
}
HANDED_TO_THE_ROUTE = {
    "no e-mail consent": json.dumps(
        {"layout": "email", "channel": "email", "profile": profile("greta_no_email_consent_sv")}
    ).encode(),
    "unknown module": json.dumps({"module": "nope", "profile": ANNA}).encode(),
    "no profile": b'{"layout": "landing"}',
    "two targets": json.dumps({"module": "hero", "layout": "landing", "profile": ANNA}).encode(),
    "a lone surrogate": b'{"layout": "landing", "profile": {"id": "p\\ud800", "consent": {}}}',
    "not JSON": b'{"layout": ',
    "JSON that is not an object": b"[1, 2]",
}


@pytest.fixture
def clients(workspace_dir: Path, database_url: str):
    fast = make_app(workspace_dir, database_url)
    approve_examples(fast.state.service)
    plain = make_app(workspace_dir, database_url, fast_render=False)
    plain.state.service.refresh_release()
    with TestClient(fast, raise_server_exceptions=False) as a, TestClient(plain, raise_server_exceptions=False) as b:
        yield a, b


@pytest.fixture
def handed_over(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bodies the fast path handed to the FastAPI route."""
    seen: list[bytes] = []
    replay = fast_path._replay

    def counting(body, receive):
        seen.append(body)
        return replay(body, receive)

    monkeypatch.setattr(fast_path, "_replay", counting)
    return seen


def both(clients, body: bytes, headers: dict[str, str] = JSON):
    answers = []
    for client in clients:
        client.app.state.service.activity.rng.seed(7)  # the same Thompson-sampling draws for both
        client.app.state.service.issued = lambda: 1_767_225_600_000_000  # and the same signing instant
        answers.append(client.post("/v1/render", content=body, headers=headers))
    return answers


@pytest.mark.parametrize("case", SERVED_FAST)
def test_a_valid_render_is_answered_by_the_fast_path_as_the_route_would(clients, handed_over, case: str) -> None:
    fast, plain = both(clients, json.dumps(SERVED_FAST[case]).encode())
    assert fast.status_code == plain.status_code == 200
    assert fast.content == plain.content
    assert [(k, v) for k, v in fast.headers.items() if k != "date"] == [  # the same headers, in the same order
        (k, v) for k, v in plain.headers.items() if k != "date"
    ]
    assert handed_over == []


@pytest.mark.parametrize("case", HANDED_TO_THE_ROUTE)
def test_a_request_the_fast_path_cannot_answer_gets_the_routes_own_error(clients, handed_over, case: str) -> None:
    body = HANDED_TO_THE_ROUTE[case]
    fast, plain = both(clients, body)
    assert 400 <= fast.status_code < 500 and fast.status_code == plain.status_code
    assert fast.json() == plain.json() and fast.json()["error"]["code"]
    assert handed_over == [body]


def test_another_content_type_goes_straight_to_the_route(clients, handed_over) -> None:
    body = json.dumps(SERVED_FAST["landing"]).encode()
    fast, plain = both(clients, body, headers={"content-type": "text/plain"})
    assert fast.status_code == plain.status_code and fast.content == plain.content
    assert handed_over == []  # not read by the fast path at all


FRAGMENTS = {
    "a full cohort": "/v1/render/hero?segment=enterprise&industry=retail&behaviour=pricing_researcher&locale=sv",
    "nothing given": "/v1/render/hero",
    "another module": "/v1/render/cta?segment=startup&locale=en",
    "an unknown segment": "/v1/render/hero?segment=galactic",
    "an unknown module": "/v1/render/nope?locale=en",
    "an empty value": "/v1/render/hero?segment=",
    "a repeated key": "/v1/render/hero?locale=en&locale=sv",
    "an unknown key": "/v1/render/hero?colour=blue",
    "a deeper path": "/v1/render/hero/extra",
}


@pytest.mark.parametrize("case", FRAGMENTS)
def test_a_cohort_fragment_is_answered_by_the_fast_path_as_the_route_would(clients, case: str) -> None:
    answers = [[client.get(FRAGMENTS[case]) for _ in range(2)] for client in clients]  # built, then from memory
    (fast, fast_again), (plain, plain_again) = answers
    for got in (fast, fast_again, plain_again):
        assert got.status_code == plain.status_code and got.content == plain.content
        assert {k: v for k, v in got.headers.items() if k != "date"} == {
            k: v for k, v in plain.headers.items() if k != "date"
        }


def test_a_fragment_revalidated_with_its_etag_is_a_304_and_a_new_release_changes_it(clients) -> None:
    fast, _ = clients
    url = FRAGMENTS["a full cohort"]
    first = fast.get(url)
    again = fast.get(url, headers={"if-none-match": first.headers["etag"]})
    assert first.status_code == 200 and again.status_code == 304 and again.headers["etag"] == first.headers["etag"]
    svc = fast.app.state.service
    before = svc.release.number
    svc.store.publish("t", "a new release")
    svc.refresh_release()
    after = fast.get(url)
    assert after.headers["x-variantly-release"] == str(before + 1) != first.headers["x-variantly-release"]


@pytest.mark.parametrize("case", SERVED_FAST)
def test_a_render_leaves_nothing_for_the_cycle_collector(workspace_dir: Path, database_url: str, case: str) -> None:
    """Everything a render makes is freed as soon as it is done with. Garbage in reference cycles waits for the
    cycle collector, whose runs cost a landing render about 4 us on average and keep freed memory from reuse
    until then: a render used to leave 25 such objects (the profile, held by two closures calling each other)."""
    app = make_app(workspace_dir, database_url)
    approve_examples(app.state.service)
    body = json.dumps(SERVED_FAST[case]).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/render",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
    }
    statuses: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def renders(count: int) -> None:
        for _ in range(count):
            await app(dict(scope), receive, send)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(renders(3))  # first renders prepare what later ones share
        fewest = fewest_in_cycles(lambda: loop.run_until_complete(renders(20)))
    finally:
        loop.close()
    assert set(statuses) == {200}
    assert not fewest, (
        f"{len(fewest)} objects in reference cycles after 20 renders: {sorted({type(o).__name__ for o in fewest})}"
    )
