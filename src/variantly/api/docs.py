"""The API's own documentation, served from this server alone.

FastAPI's default ``/docs`` loads Swagger UI from a CDN: blank offline, and an outside origin
on a page operators open with their tokens at hand. The same Swagger UI (5.x, which reads
OpenAPI 3.1) ships in the ``fastapi-offline`` package; its files are served here, under
``/docs/static/``, and the page names nothing else.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}


def _assets() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} API",
        swagger_js_url="/docs/static/swagger-ui-bundle.js",
        swagger_css_url="/docs/static/swagger-ui.css",
        swagger_favicon_url="/docs/static/favicon.png",
        oauth2_redirect_url=None,
    )


@router.get("/docs/static/{name}")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        return Response(status_code=404)
    body = (_assets() / name).read_bytes()
    return Response(body, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})
