"""The ``variantly`` command: a thin layer over the library.

Commands import what they need when they run, so ``variantly serve`` never loads
the generation stack.
"""

from __future__ import annotations

from variantly.cli.common import app

# Registering the commands: each module adds its own to ``app``.
from variantly.cli import accounts, authoring, brand, privacy, report, review, serving  # noqa: F401  isort: skip


def main() -> None:
    """Every command reports its own errors (``cli.common.reports_errors``)."""
    app()


__all__ = ["app", "main"]
