"""One client connection to an HTTP protocol of uvicorn's, driven as uvicorn drives it: bytes in through
``data_received``, an ASGI app on the event loop, and a transport that records each write."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import uvicorn
from uvicorn.server import ServerState

App = Callable[[dict, Callable, Callable], Awaitable[None]]
GET = b"GET / HTTP/1.1\r\nHost: node\r\n\r\n"


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
