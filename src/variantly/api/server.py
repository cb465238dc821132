"""How uvicorn serves the app: the event loop and HTTP parser, one write per response, a render answered whole as
its body arrives (``HttpTools``), and whom to believe.

The stack is a setting (``ProcessSettings.server_stack``). ``fast`` is uvloop and httptools
(uvicorn's ``standard`` pieces, installed with Variantly): on this machine they made the
landing render 1.44x faster than asyncio and h11 for nothing (``bench/serving.py`` measures
both). ``asyncio`` is the standard library's loop and h11, for a platform without the fast
pieces. On either, the HTTP protocol is uvicorn's own with one change (``CorkedTransport``):
a response goes out in one write, its head with its body. On the fast stack, a second: a render
is answered as soon as its body is in, without uvicorn's ASGI cycle (``HttpTools``).

Proxy headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only from the
addresses an operator names (``--forwarded-allow-ips``). uvicorn's own default trusts them
from 127.0.0.1, so anyone on the host could pick the address sign-in throttling keys on.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any, Protocol, cast, runtime_checkable

import httptools
import uvicorn
from starlette.types import Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.utils import get_client_addr

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


@runtime_checkable
class AnswersNow(Protocol):
    """An app that can answer some requests as soon as their body is in, with nothing to wait for (Variantly's
    renders): the protocol then writes the answer itself, without an ASGI task, scope messages or uvicorn's
    response cycle."""

    def takes_now(self, scope: Scope) -> bool:
        """Whether to hold this request's body and offer it to ``answer_now`` (its scope's method, path, query
        and headers are filled)."""
        ...

    def answer_now(self, scope: Scope, body: bytes) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """A 200's headers and body; None sends the request through the ASGI app as usual."""
        ...


class HttpTools(_SendsWhole, HttpToolsProtocol):
    """uvicorn's httptools protocol (the fast stack), each response sent in one write, and a render answered
    whole as its body arrives.

    uvicorn gives every request an asyncio task, a response cycle, and a dict for each ASGI message, and checks
    every header the app sends. Counted by callgrind with the request's bytes handed to the protocol
    (``bench/instructions.py``), that was 88-91k instructions of a render: a landing took 699,875 through the ASGI
    cycle and 609,108 answered whole, one module 509,543 and 421,350 (bare FastAPI on uvicorn's own protocol
    655,450). So for a request an app that ``AnswersNow`` takes, uvicorn is told nothing until the body is
    in: the app answers it then, in the parser's callback, and the answer is written here as uvicorn would
    write it (its status line and default headers, its access log line, its bookkeeping for a finished response).
    When the app returns None (a body it refuses, a cap counted in Redis), uvicorn is told about the request
    then, as if it had all come in that moment, and the ASGI path answers it.

    Only on a plain keep-alive HTTP/1.1 request with nothing else in flight on the connection, nothing waiting
    on a slow reader, no ``Expect: 100-continue``, no upgrade, no root path and no concurrency limit: the rest is
    uvicorn's as it is. Behind proxies whose headers are believed, only with the access log off, since the
    client address a log line names is the proxy middleware's to set; a render reads neither address nor scheme.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        app = self.app
        if isinstance(app, ProxyHeadersMiddleware) and not self.access_log:
            app = app.app
        self.answers_now = app if isinstance(app, AnswersNow) else None
        self.held: bytearray | None = None  # the body so far of a request uvicorn has not been told about
        self.shut_down_after = False  # the server is stopping: answer the request held, then close

    def on_headers_complete(self) -> None:
        if self.answers_now is not None and self._nothing_else_to_mind():
            self._fill_target()
            if self.answers_now.takes_now(cast(Scope, self.scope)):
                self.held = bytearray()
                return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.held is None:
            super().on_body(body)
        else:
            self.held += body

    def on_message_complete(self) -> None:
        if self.held is None or self.answers_now is None:
            super().on_message_complete()
            return
        body, self.held = bytes(self.held), None
        try:
            answer = self.answers_now.answer_now(cast(Scope, self.scope), body)
        except Exception:  # a fault of ours: the ASGI path answers, and reports it as it reports any
            answer = None
        if answer is None:  # uvicorn is told now, as if the request had just come in whole
            super().on_headers_complete()
            super().on_body(body)
            super().on_message_complete()
        else:
            self._write(*answer)
        if self.shut_down_after:
            super().shutdown()  # closes now, or once the request just handed to uvicorn is answered

    def shutdown(self) -> None:
        """The server is stopping: a request whose body is still arriving is answered first, as uvicorn lets a
        request in flight finish."""
        if self.held is None:
            super().shutdown()
        else:
            self.shut_down_after = True

    def _write(self, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        """A 200 as uvicorn writes it, and its bookkeeping for a finished response."""
        lines = [STATUS_LINE[200]]
        for name, value in (*self.server_state.default_headers, *headers):
            lines += (name, b": ", value, b"\r\n")
        lines += (b"\r\n", content)
        self.transport.write(b"".join(lines))
        if self.access_log:
            scope = self.scope
            log = '%s - "%s %s HTTP/%s" %d'  # uvicorn's line
            self.access_logger.info(log, get_client_addr(scope), scope["method"], scope["path"], "1.1", 200)
        self.on_response_complete()

    def _nothing_else_to_mind(self) -> bool:
        """A plain keep-alive HTTP/1.1 request, the only one in flight, on a connection whose reader keeps up."""
        return (
            (self.cycle is None or self.cycle.response_complete)
            and not self.pipeline
            and not self.flow.write_paused
            and not self.expect_100_continue
            and not self.root_path
            and self.limit_concurrency is None
            and self.parser.get_http_version() == "1.1"
            and self.parser.should_keep_alive()
            and not self.parser.should_upgrade()
        )

    def _fill_target(self) -> None:
        """The method, path and query in the scope, as uvicorn fills them."""
        url = httptools.parse_url(self.url)
        path = url.path.decode("ascii")
        self.scope["method"] = self.parser.get_method().decode("ascii")
        self.scope["path"] = urllib.parse.unquote(path) if "%" in path else path
        self.scope["raw_path"] = url.path
        self.scope["query_string"] = url.query or b""


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
