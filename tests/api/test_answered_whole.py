"""A render answered whole on the fast stack: ``HttpTools`` with an app that ``AnswersNow`` writes the answer in the
read that completes the request's body, without uvicorn's ASGI cycle. Each case is held to the same request through
that cycle: the same app behind a plain function, which the protocol cannot ask to answer now."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from http_connection import App, Connection, RecordingTransport

from conftest import REPO, approve_examples, fewest_in_cycles, make_app
from variantly.api.server import HttpTools

ANNA = json.loads((REPO / "examples/profiles/anna_retail_enterprise_sv.json").read_text())
HERO = json.dumps({"module": "hero", "profile": ANNA}).encode()
NO_PROXIES = {"proxy_headers": False}  # as ``variantly serve`` runs without named proxies


def render(body: bytes = HERO, *headers: bytes) -> bytes:
    head = [b"POST /v1/render HTTP/1.1", b"Host: node", b"Content-Type: application/json", *headers]
    return b"\r\n".join([*head, b"Content-Length: %d" % len(body), b"", body])


@pytest.fixture
def app(workspace_dir, database_url):
    made = make_app(workspace_dir, database_url)
    approve_examples(made.state.service)
    return made


def same_draws(app) -> None:
    """The same Thompson-sampling draws and signing instant for every request compared."""
    app.state.service.activity.rng.seed(7)
    app.state.service.issued = lambda: 1_767_225_600_000_000


def through_asgi(app) -> App:
    async def plain(scope, receive, send) -> None:
        await app(scope, receive, send)

    return plain


def answers(app, *requests: bytes, asgi: bool = False, **options) -> RecordingTransport:
    """What one connection writes for ``requests`` sent one after another."""
    same_draws(app)
    return served_with(HttpTools, through_asgi(app) if asgi else app, *requests, **(NO_PROXIES | options))


def served_with(protocol_class, app: App, *requests: bytes, **options) -> RecordingTransport:
    async def run() -> RecordingTransport:
        connection = Connection(protocol_class, app, **options)
        for request in requests:
            writes = len(connection.transport.writes)
            await connection.send(request, until=lambda before=writes: len(connection.transport.writes) > before)
        return connection.transport

    return asyncio.run(run())


def test_a_render_is_answered_in_the_read_that_completes_it_as_the_asgi_path_answers(app) -> None:
    async def run() -> tuple[list[bytes], set]:
        connection = Connection(HttpTools, app, **NO_PROXIES)
        same_draws(app)
        connection.protocol.data_received(render())
        return list(connection.transport.writes), set(connection.protocol.tasks)  # before the loop runs anything

    written, tasks = asyncio.run(run())
    assert len(written) == 1 and tasks == set()
    assert written[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert written == answers(app, render(), asgi=True).writes  # byte for byte: status, headers, their order, body


def test_a_render_sent_in_pieces_is_answered_once_its_body_is_in(app) -> None:
    whole = render()
    head, _, body = whole.partition(b"\r\n\r\n")
    pieces = [head + b"\r\n\r\n", body[:100], body[100:]]

    async def run() -> tuple[list[int], list[bytes]]:
        connection = Connection(HttpTools, app, **NO_PROXIES)
        same_draws(app)
        counts = []
        for piece in pieces:
            connection.protocol.data_received(piece)
            counts.append(len(connection.transport.writes))
        return counts, connection.transport.writes

    counts, written = asyncio.run(run())
    assert counts == [0, 0, 1]
    assert written == answers(app, whole, asgi=True).writes


def test_renders_sent_together_are_answered_in_order_and_leave_one_keep_alive_timer(app) -> None:
    """A keep-alive timer is armed after each answer: one armed by an earlier answer of the same read must be
    cancelled, or it would close the connection in the middle of later traffic (uvicorn's bookkeeping for a
    finished response does it, which is why an answer written whole goes through it)."""
    timers: list[asyncio.TimerHandle] = []

    async def run() -> RecordingTransport:
        connection = Connection(HttpTools, app, **NO_PROXIES)
        loop = connection.protocol.loop
        arm = loop.call_later

        def call_later(delay, callback, *args):
            timers.append(arm(delay, callback, *args))
            return timers[-1]

        connection.protocol.loop = type("Loop", (), {"call_later": staticmethod(call_later)})()
        same_draws(app)
        connection.protocol.data_received(render() + render(b'{"module": "cta", "profile": {"id": "x"}}'))
        return connection.transport

    transport = asyncio.run(run())
    assert [write.split(b"\r\n", 1)[0] for write in transport.writes] == [b"HTTP/1.1 200 OK"] * 2
    assert b'"module":"hero"' in transport.writes[0] and b'"module":"cta"' in transport.writes[1]
    assert not transport.closed
    assert [timer.cancelled() for timer in timers] == [True, False]


@pytest.mark.parametrize(
    "request_",
    [
        render(b'{"module": "hero"}'),  # no profile: the route's 422
        render(b'{"module": "nope", "profile": {"id": "x"}}'),  # an unknown module: the route's 404
        render(HERO, b"Connection: close"),  # not kept alive: uvicorn's own
        render(HERO, b"Authorization: Bearer not-a-token"),  # a wrong token: the route's 401
    ],
    ids=["no profile", "unknown module", "connection close", "wrong token"],
)
def test_what_a_render_cannot_answer_now_is_answered_through_asgi_as_before(app, request_: bytes) -> None:
    got, expected = answers(app, request_), answers(app, request_, asgi=True)
    assert got.writes == expected.writes and got.closed == expected.closed


def test_a_render_answered_whole_is_logged_as_uvicorn_logs_it(app) -> None:
    class Lines(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(record.getMessage())

    logger = logging.getLogger("uvicorn.access")
    level = logger.level
    lines = []
    try:
        for asgi in (False, True):
            handler = Lines()
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            answers(app, render(), asgi=asgi, log_config=None, log_level=None)
            logger.removeHandler(handler)
            lines.append(handler.lines)
    finally:
        logger.setLevel(level)
    assert lines[0] == lines[1] == ['127.0.0.1:5000 - "POST /v1/render HTTP/1.1" 200']


@pytest.mark.parametrize(("access_log", "now"), [(False, True), (True, False)])
def test_behind_believed_proxies_a_render_is_answered_now_only_without_an_access_log(app, access_log, now) -> None:
    """The proxy middleware sets the client address a log line names: with a log, it must run, through ASGI."""

    async def run() -> int:
        connection = Connection(HttpTools, app, proxy_headers=True, access_log=access_log)
        connection.protocol.data_received(render())
        return len(connection.transport.writes)

    assert asyncio.run(run()) == (1 if now else 0)


def test_a_render_whose_caps_are_counted_in_redis_goes_through_asgi_with_its_body_validated_once(
    workspace_dir, database_url, shared_caps: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anna's CTA is capped: counted in this process, it is answered in the read; counted in Redis (a round trip),
    the ASGI path answers it, from the body already validated."""
    from variantly.api.schemas import RenderRequest

    node = make_app(workspace_dir, database_url, **shared_caps)
    approve_examples(node.state.service)
    cta = render(json.dumps({"module": "cta", "profile": ANNA}).encode())
    validations = []
    validate = RenderRequest.model_validate_json

    def counted(cls, *args, **kwargs):
        validations.append(1)
        return validate(*args, **kwargs)

    monkeypatch.setattr(RenderRequest, "model_validate_json", classmethod(counted))

    async def run() -> tuple[int, list[bytes]]:
        connection = Connection(HttpTools, node, **NO_PROXIES)
        same_draws(node)
        connection.protocol.data_received(cta)
        in_the_read = len(connection.transport.writes)
        for _ in range(10_000):  # a Redis round trip: wait for the answer, up to 10 s
            if connection.transport.writes:
                break
            await asyncio.sleep(0.001)
        return in_the_read, connection.transport.writes

    written_in_read, written = asyncio.run(run())
    assert written_in_read == (0 if "redis_url" in shared_caps else 1)
    assert len(validations) == 1
    monkeypatch.undo()
    assert written == answers(node, cta, asgi=True).writes


def test_a_render_still_arriving_when_the_server_stops_is_answered_before_the_connection_closes(app) -> None:
    whole = render()

    async def run() -> tuple[bool, list[bytes], bool]:
        connection = Connection(HttpTools, app, **NO_PROXIES)
        connection.protocol.data_received(whole[:-10])
        connection.protocol.shutdown()
        closed_while_arriving = connection.transport.closed
        connection.protocol.data_received(whole[-10:])
        return closed_while_arriving, connection.transport.writes, connection.transport.closed

    closed_while_arriving, written, closed = asyncio.run(run())
    assert not closed_while_arriving
    assert len(written) == 1 and written[0].startswith(b"HTTP/1.1 200 OK") and closed


def test_an_idle_connection_closes_at_once_when_the_server_stops(app) -> None:
    async def run() -> bool:
        connection = Connection(HttpTools, app, **NO_PROXIES)
        connection.protocol.data_received(render())
        connection.protocol.shutdown()
        return connection.transport.closed

    assert asyncio.run(run())


def test_a_render_answered_whole_leaves_nothing_for_the_cycle_collector(app) -> None:
    """As through ASGI (``test_fast_path``): a request's objects are freed as it ends, not by a collection later."""

    async def run() -> tuple[list[object], int]:
        connection = Connection(HttpTools, app, **NO_PROXIES)

        def renders() -> None:
            for _ in range(20):
                connection.protocol.data_received(render())

        for _ in range(3):  # first renders prepare what later ones share
            connection.protocol.data_received(render())
        return fewest_in_cycles(renders), len(connection.transport.writes)

    fewest, answered = asyncio.run(run())
    assert answered == 63
    assert not fewest, f"{len(fewest)} objects in reference cycles: {sorted({type(o).__name__ for o in fewest})}"


def test_a_fault_in_answering_now_leaves_the_render_to_the_asgi_path(app, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a 400 from the parser's callback: the request goes through ASGI, which answers or reports it."""
    expected = answers(app, render(), asgi=True).writes

    def faulty(scope, body):
        raise RuntimeError("a bug in answering now")

    monkeypatch.setattr(app, "answer_now", faulty)
    assert answers(app, render()).writes == expected
