"""How uvicorn serves the app: the event loop and HTTP parser, one write per response, and whom to believe.

The stack is a setting (``ProcessSettings.server_stack``). ``fast`` is uvloop and httptools
(uvicorn's ``standard`` pieces, installed with Variantly): on this machine they made the
landing render 1.44x faster than asyncio and h11 for nothing (``bench/serving.py`` measures
both). ``asyncio`` is the standard library's loop and h11, for a platform without the fast
pieces. On either, the HTTP protocol is uvicorn's own with one change (``CorkedTransport``):
a response goes out in one write, its head with its body.

Proxy headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only from the
addresses an operator names (``--forwarded-allow-ips``). uvicorn's own default trusts them
from 127.0.0.1, so anyone on the host could pick the address sign-in throttling keys on.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from variantly.settings import ProcessSettings

CORK_LIMIT = 64 * 1024  # held bytes that are sent at once: a stream that never yields is bounded, as by a transport


class CorkedTransport(asyncio.Transport):
    """A connection's transport that holds what a response writes and sends it in one write when the response is
    complete (``flush``, called by the protocol), or at the end of the event loop's pass it was written in.

    uvicorn writes a response's status line and headers as soon as the app sends ``http.response.start``, and the
    body on the next message: two ``send()`` calls, two packets, each through the kernel's network path and each
    waking the client. With py-spy on a server under wrk, ``transport.write`` was 28% of the CPU of a one-module
    render. aiohttp coalesces a response's head and body the same way (aio-libs/aiohttp#10991). On this loopback
    machine the effect is small: bare FastAPI served with it ran at 0.99-1.04 of itself on uvicorn as installed
    (``bench/serving.py``, four runs); it halves the packets a small response takes.

    Per response, not per pass: holding everything a pass wrote (as Node corks a socket until its next tick) served
    a quarter more renders under wrk, but a response then waited for every other render of its pass. At the same
    paced load (43 connections pausing 5 ms) its p50 went from 1.2-1.5 to 1.8-2.2 ms and its p99 from 3.8-4.8 to
    4.8-7.4 against uvicorn as installed: the batching mostly saved the client's wake-ups, which a client across a
    network does not cost the server.

    Nothing is reordered and nothing waits past the pass it was written in: a streamed response whose body comes
    later still gets its head at the end of that pass, and "100 Continue" goes out before the client sends its
    body. More than ``CORK_LIMIT`` held is sent at once; closing sends what is held first; a transport already
    closing is written to directly. Everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._transport.is_closing():
            self._transport.write(data)
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))  # a copy of a bytearray or memoryview the writer may reuse; bytes as they are
        self._size += len(data)
        if self._size >= CORK_LIMIT:
            self.flush()

    def flush(self) -> None:
        """Send what is held, in one write: when the response is complete, at the end of the pass it was written in,
        or when the connection is closed."""
        if self._held:
            data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
            self._held, self._size = [], 0
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held, self._size = [], 0
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
        return self._transport.get_write_buffer_size() + self._size

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()


class _SendsWhole:
    """What both of uvicorn's HTTP protocols get: a corked transport, flushed as each response completes."""

    loop: asyncio.AbstractEventLoop
    corked: CorkedTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.corked = CorkedTransport(cast(asyncio.Transport, transport), self.loop)  # a server's: a Transport
        super().connection_made(self.corked)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        self.corked.flush()
        super().on_response_complete()  # type: ignore[misc]


class HttpTools(_SendsWhole, HttpToolsProtocol):
    """uvicorn's httptools protocol (the fast stack), each response sent in one write."""


class H11(_SendsWhole, H11Protocol):
    """uvicorn's h11 protocol (the asyncio stack), each response sent in one write."""


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
