"""The HTTP protocol a render node serves with: uvicorn's own, each response's head and body leaving in one write,
and on the fast stack a render answered whole in the read that completes it.

Driven as uvicorn drives it (bytes in through ``data_received``, an ASGI app on the event loop), with a transport
that records each write, on both stacks' protocols."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Awaitable, Callable

import pytest
import uvicorn
from uvicorn.server import ServerState

from conftest import REPO, approve_examples, make_app
from variantly.api.server import CORK_LIMIT, H11, HttpTools, server_config
from variantly.settings import ProcessSettings

PROTOCOLS = [HttpTools, H11]
GET = b"GET / HTTP/1.1\r\nHost: node\r\n\r\n"
App = Callable[[dict, Callable, Callable], Awaitable[None]]


class RecordingTransport(asyncio.Transport):
    """What the kernel would be handed: each write as one entry, until the connection is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data) -> None:
        if data and not self.closed:  # a closed transport drops what comes after; an empty write sends nothing
            self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Connection:
    """One client connection to ``protocol_class`` serving ``app``; call ``send`` inside a running loop."""

    def __init__(self, protocol_class, app: App, **options) -> None:
        config = uvicorn.Config(app, **({"log_level": "warning", "lifespan": "off"} | options))
        config.load()
        self.transport = RecordingTransport()
        self.protocol = protocol_class(
            config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
        )
        self.protocol.connection_made(self.transport)

    async def send(self, data: bytes, until: Callable[[], bool] | None = None) -> None:
        """Hand the server ``data``; wait (in loop passes, not time) until the response is complete, or ``until``."""
        self.protocol.data_received(data)
        for _ in range(1000):
            await asyncio.sleep(0)
            if (until or self.answered)():
                return
        raise AssertionError(f"no answer: {self.transport.writes}")

    def answered(self) -> bool:
        cycle = self.protocol.cycle
        return cycle is not None and cycle.response_complete and not self.protocol.server_state.tasks


def page(body: bytes, headers: list | None = None) -> App:
    """An app answering ``body`` with its length, as every route here does."""

    async def app(scope, receive, send) -> None:
        length = [(b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": [*(headers or []), *length]})
        await send({"type": "http.response.body", "body": body})

    return app


def served(protocol_class, app: App, *requests: bytes) -> RecordingTransport:
    async def run() -> RecordingTransport:
        connection = Connection(protocol_class, app)
        for request in requests:
            await connection.send(request)
        return connection.transport

    return asyncio.run(run())


@pytest.mark.parametrize("protocol_class", PROTOCOLS)
def test_a_response_leaves_in_one_write_head_first(protocol_class) -> None:
    body = b'{"html": "<p>Hej Anna</p>"}'
    transport = served(protocol_class, page(body, [(b"content-type", b"application/json")]), GET)
    assert len(transport.writes) == 1, transport.writes
    head, _, sent = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-type: application/json" in head.lower()
    assert sent == body


@pytest.mark.parametrize("protocol_class", PROTOCOLS)
def test_a_response_is_sent_as_soon_as_it_is_complete(protocol_class) -> None:
    """Not at the end of the loop pass: a response must not wait for other renders of the same pass."""
    writes_when_done: list[int] = []

    async def run() -> None:
        async def app(scope, receive, send) -> None:
            await page(b"done")(scope, receive, send)
            writes_when_done.append(len(connection.transport.writes))  # before the app gives the loop a pass

        connection = Connection(protocol_class, app)
        await connection.send(GET)

    asyncio.run(run())
    assert writes_when_done == [1]


@pytest.mark.parametrize("protocol_class", PROTOCOLS)
def test_keep_alive_requests_are_answered_in_order_one_write_each(protocol_class) -> None:
    async def path(scope, receive, send) -> None:
        await page(scope["path"].encode())(scope, receive, send)

    transport = served(
        protocol_class, path, b"GET /one HTTP/1.1\r\nHost: n\r\n\r\n", b"GET /two HTTP/1.1\r\nHost: n\r\n\r\n"
    )
    assert [write.rpartition(b"\r\n\r\n")[2] for write in transport.writes] == [b"/one", b"/two"]


@pytest.mark.parametrize("protocol_class", PROTOCOLS)
def test_a_streamed_response_gets_its_head_before_the_body_is_ready(protocol_class) -> None:
    """An app that sends its head and then waits (a stream): the head goes out at the end of that loop pass."""
    heads_out_while_waiting: list[int] = []

    async def run() -> RecordingTransport:
        async def stream(scope, receive, send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"transfer-encoding", b"chunked")]})
            for _ in range(3):
                await asyncio.sleep(0)
            heads_out_while_waiting.append(sum(w.startswith(b"HTTP/1.1 200") for w in connection.transport.writes))
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        connection = Connection(protocol_class, stream)
        await connection.send(GET)
        return connection.transport

    transport = asyncio.run(run())
    assert heads_out_while_waiting == [1]
    assert transport.writes[0].startswith(b"HTTP/1.1 200") and transport.writes[0].endswith(b"\r\n\r\n")
    rest = b"".join(transport.writes[1:])
    assert b"first" in rest and rest.endswith(b"0\r\n\r\n")


@pytest.mark.parametrize("protocol_class", PROTOCOLS)
def test_expect_continue_is_sent_before_the_body_arrives(protocol_class) -> None:
    """A client that waits for "100 Continue" before sending its body must get it: nothing holds it back."""

    async def echo(scope, receive, send) -> None:
        message = await receive()
        await page(message["body"])(scope, receive, send)

    async def run() -> list[list[bytes]]:
        connection = Connection(protocol_class, echo)
        writes = connection.transport.writes
        await connection.send(
            b"POST / HTTP/1.1\r\nHost: n\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n", until=lambda: writes
        )
        before_body = list(writes)
        await connection.send(b"ping")
        return [before_body, writes]

    before_body, writes = asyncio.run(run())
    assert before_body == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    assert len(writes) == 2 and writes[1].startswith(b"HTTP/1.1 200") and writes[1].endswith(b"\r\n\r\nping")


@pytest.mark.parametrize("protocol_class", PROTOCOLS)
def test_closing_sends_what_is_held_first(protocol_class) -> None:
    """A HEAD response is a head with no body written: it must still reach the client before the close."""
    request = b"HEAD / HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n"
    transport = served(protocol_class, page(b""), request)
    assert transport.closed and len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("protocol_class", PROTOCOLS)
def test_a_stream_that_never_yields_is_sent_as_it_grows_not_held_whole(protocol_class) -> None:
    """Sixteen 16 KB chunks sent without giving the loop a pass: held at most ``CORK_LIMIT`` at a time."""
    chunk = b"x" * 16384

    async def stream(scope, receive, send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % (16 * 16384))]}
        )
        for _ in range(16):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    transport = served(protocol_class, stream, GET)
    assert len(transport.writes) >= 4 and max(len(write) for write in transport.writes) <= CORK_LIMIT + 1024
    assert b"".join(transport.writes).partition(b"\r\n\r\n")[2] == chunk * 16


@pytest.mark.parametrize(("stack", "protocol_class"), [("fast", HttpTools), ("asyncio", H11)])
def test_each_server_stack_sends_each_response_in_one_write(tmp_path, stack: str, protocol_class) -> None:
    config = server_config(page(b""), ProcessSettings(workspace=tmp_path, server_stack=stack), host="127.0.0.1", port=0)
    assert config.http is protocol_class and config.loop == {"fast": "uvloop", "asyncio": "asyncio"}[stack]


# A render answered whole (``HttpTools`` with an app that ``AnswersNow``), against the same request through uvicorn's
# ASGI cycle: the same app behind a plain function, which the protocol cannot ask to answer now.

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
        connection.protocol.access_log = access_log  # uvicorn's own reading depends on the test's logging
        connection.protocol.__init__(
            config=connection.protocol.config,
            server_state=connection.protocol.server_state,
            app_state={},
            _loop=connection.protocol.loop,
        )
        connection.protocol.connection_made(connection.transport)
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

    def garbage_after(connection: Connection, count: int) -> list[object]:
        gc.collect()
        gc.disable()
        try:
            for _ in range(count):
                connection.protocol.data_received(render())
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            return list(gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()

    async def run() -> tuple[list[list[object]], int]:
        connection = Connection(HttpTools, app, **NO_PROXIES)
        for _ in range(3):  # first renders prepare what later ones share
            connection.protocol.data_received(render())
        windows = [garbage_after(connection, 20) for _ in range(3)]  # one clean window of three: see test_fast_path
        return windows, len(connection.transport.writes)

    windows, answered = asyncio.run(run())
    assert answered == 63
    fewest = min(windows, key=len)
    assert not fewest, f"{len(fewest)} objects in reference cycles: {sorted({type(o).__name__ for o in fewest})}"
