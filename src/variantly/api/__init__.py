"""The HTTP API: a thin layer over the library (``variantly.serving.render``)."""

from variantly.api.app import create_app

__all__ = ["create_app"]
