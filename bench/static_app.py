"""The pictures' baselines: a bare FastAPI app serving a folder with Starlette's ``StaticFiles`` (``/static``), and
the same files from memory by a bare route (``/memory/{name}``: read once at start, answered as they are).

    BENCH_STATIC_DIR=/tmp/pictures uvicorn --factory bench.static_app:create --port 8100   (run by bench/pictures.py)
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response
from fastapi.staticfiles import StaticFiles


def create() -> FastAPI:
    folder = Path(os.environ["BENCH_STATIC_DIR"])
    held = {path.name: path.read_bytes() for path in folder.iterdir()}
    app = FastAPI()

    @app.get("/memory/{name}")
    async def from_memory(name: str) -> Response:
        return Response(held[name], media_type="image/webp")

    app.mount("/static", StaticFiles(directory=folder), name="static")
    return app
