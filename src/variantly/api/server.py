"""How uvicorn serves the app: the event loop and HTTP parser, one write per response, and whom to believe.

The stack is a setting (``ProcessSettings.server_stack``). ``fast`` is uvloop and httptools
(uvicorn's ``standard`` pieces, installed with Variantly): on this machine they made the
landing render 1.44x faster than asyncio and h11 for nothing (``bench/serving.py`` measures
both). ``asyncio`` is the standard library's loop and h11, for a platform without the fast
pieces. On either, the HTTP protocol is uvicorn's own with one change (``OneWritePerResponse``):
a response's head goes out with its body, in one write.

Proxy headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only from the
addresses an operator names (``--forwarded-allow-ips``). uvicorn's own default trusts them
from 127.0.0.1, so anyone on the host could pick the address sign-in throttling keys on.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from variantly.settings import ProcessSettings

HEAD = b"HTTP/"  # how every response head uvicorn writes begins (status line, then headers)


class OneWritePerResponse(asyncio.Transport):
    """A connection's transport that sends a response's head together with what follows it, in one write.

    uvicorn writes the status line and headers as soon as the app sends ``http.response.start`` and the body
    on the next message: two ``send()`` calls, and two packets, for every response. Each one goes through
    the kernel's network path and wakes the client: with py-spy on a server under wrk, ``transport.write``
    was 28% of the CPU of a one-module render, and a raw ASGI app answered 1.20x the requests when it wrote
    once (median of 5 interleaved rounds). aiohttp coalesces the same way (aio-libs/aiohttp#10991).

    The head is held until the connection's next write (the body, sent straight after it by every route
    here) or the end of the event loop's current pass, whichever comes first: a streamed response whose
    body comes later gets its head then, as it would have, and nothing is reordered. Closing sends what is
    held first. Everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held:
            data, self._held = self._held + data, b""
        elif data[:5] == HEAD:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send a held head (at the end of the loop pass it was written in, if nothing followed it)."""
        if self._held:
            data, self._held = self._held, b""
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = b""
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()


class HttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol (the fast stack), writing once per response."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWritePerResponse(transport, self.loop))


class H11(H11Protocol):
    """uvicorn's h11 protocol (the asyncio stack), writing once per response."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWritePerResponse(transport, self.loop))


STACKS: dict[str, tuple[str, type[asyncio.Protocol]]] = {"fast": ("uvloop", HttpTools), "asyncio": ("asyncio", H11)}


def server_config(
    app: Any, settings: ProcessSettings, *, host: str, port: int, workers: int = 1, access_log: bool = True, **more: Any
) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` (an app, or a factory with ``factory=True`` in ``more``)."""
    trusted = settings.forwarded_allow_ips
    loop, http = STACKS[settings.server_stack]
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=None,  # our log handlers (plain or JSON), not uvicorn's
        access_log=access_log,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or "",
        loop=loop,
        http=http,
        **more,
    )
