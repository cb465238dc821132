"""The ceiling: a raw ASGI app that reads the body, parses it with orjson and answers a fixed 5 KB page.

    uvicorn --factory bench.raw_app:create --port 8101   (run by bench/serving.py)

No framework, no validation: what the server itself (uvicorn on the chosen loop and HTTP
parser) can do on this machine with a body to read and a page to write. Every other row
of the benchmark is a share of it.
"""

from __future__ import annotations

import orjson

PAGE = (
    "<!doctype html><html><body><main>" + "<p>Lumen brings customer data together.</p>" * 120 + "</main></body></html>"
)[:5120]
BODY = orjson.dumps({"html": PAGE})
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


def create():
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        orjson.loads(b"".join(chunks) or b"{}")
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})

    return app
