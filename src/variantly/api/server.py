"""How uvicorn serves the app: the event loop and HTTP parser, and whom to believe about the client.

The stack is a setting (``ProcessSettings.server_stack``). ``fast`` is uvloop and httptools
(uvicorn's ``standard`` pieces, installed with Variantly): on this machine they made the
landing render 1.44x faster than asyncio and h11 for nothing (``bench/serving.py`` measures
both). ``asyncio`` is the standard library's loop and h11, for a platform without the fast
pieces.

Proxy headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only from the
addresses an operator names (``--forwarded-allow-ips``). uvicorn's own default trusts them
from 127.0.0.1, so anyone on the host could pick the address sign-in throttling keys on.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from variantly.settings import ProcessSettings

STACKS: dict[str, tuple[str, str]] = {"fast": ("uvloop", "httptools"), "asyncio": ("asyncio", "h11")}  # loop, http


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
