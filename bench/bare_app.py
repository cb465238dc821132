"""The baseline: a bare FastAPI app that parses the same render body and returns a fixed 5 KB page.

    uvicorn --factory bench.bare_app:create --port 8100   (run by bench/serving.py)

Two routes, so the benchmark can take the faster: ``/def`` (a sync endpoint, which
Starlette runs in its thread pool) and ``/async``. Both validate the body with the same
pydantic model as ``POST /v1/render`` and answer with the same kind of JSON document.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from variantly.api.schemas import RenderRequest

PAGE = (
    "<!doctype html><html><body><main>" + "<p>Lumen brings customer data together.</p>" * 120 + "</main></body></html>"
)[:5120]  # about what a landing render answers
BODY = ('{"html": "' + PAGE + '"}').encode()


def create() -> FastAPI:
    app = FastAPI()

    @app.post("/def")
    def sync_route(body: RenderRequest) -> Response:
        return Response(BODY, media_type="application/json")

    @app.post("/async")
    async def async_route(body: RenderRequest) -> Response:
        return Response(BODY, media_type="application/json")

    return app
