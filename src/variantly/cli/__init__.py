"""The ``variantly`` command: a thin layer over the library.

Commands import what they need when they run, so ``variantly serve`` never loads
the generation stack.
"""

from __future__ import annotations

import sys

from variantly.cli.common import app, err_console
from variantly.errors import VariantlyError

# Registering the commands: each module adds its own to ``app``.
from variantly.cli import accounts, authoring, report, review, serving  # noqa: F401  isort: skip


def main() -> None:
    try:
        app()
    except VariantlyError as exc:  # anything a command did not catch itself
        err_console.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


__all__ = ["app", "main"]
