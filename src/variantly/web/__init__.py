"""The review web UI: server-rendered pages over the same library as the API."""

from variantly.web.routes import router

__all__ = ["router"]
