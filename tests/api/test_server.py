"""The HTTP protocol a render node serves with: uvicorn's own, each response's head and body leaving in one write.

Driven as uvicorn drives it (``http_connection``), on both stacks' protocols."""

from __future__ import annotations

import asyncio

import pytest
from http_connection import GET, Connection, RecordingTransport, page, served

from variantly.api.server import CORK_LIMIT, H11, HttpTools, server_config
from variantly.settings import ProcessSettings

PROTOCOLS = [HttpTools, H11]


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
