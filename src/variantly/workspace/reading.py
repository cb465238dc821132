"""Files named by a person or a request, read without a traceback: a name the file system refuses, a path out of
its folder, text that is not UTF-8. Each was a 500 or a traceback somewhere before it was read here."""

from __future__ import annotations

from pathlib import Path

from variantly.errors import NotText, Problem


def file_named(folder: Path, name: str) -> Path | None:
    """The file ``name`` directly in ``folder``, for a name a request gave (a static file, an asset, an example
    profile); None for anything else: a path, a link out of the folder, a folder, a missing file, or a name the
    file system refuses outright. A name over 255 bytes makes ``Path.is_file`` raise (``ENAMETOOLONG``) rather
    than answer False: each of the three routes that looked files up this way answered it with a 500."""
    folder = folder.resolve()
    try:
        path = (folder / name).resolve()
        return path if path.parent == folder and path.is_file() else None
    except (OSError, ValueError):  # ValueError: a NUL, which the app refuses before any route
        return None


def read_text(path: Path, shown: str | None = None) -> str:
    """A file people write (a workspace file, a profile, a variants file, a list of ids) as text: UTF-8, or a
    ``NotText`` naming the file, line and column of the first byte that is not (a file saved as UTF-16 was a
    traceback from five commands, and from lint for the policy and the brand guidelines). ``shown``: the path as
    the message names it (lint names workspace files from the workspace's root). A byte order mark at the start is
    dropped: a module saved with one failed lint with "file must start with '---'", which it visibly did."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")  # a byte order mark first (Notepad's "UTF-8 with BOM") is not text
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        said = f"not UTF-8 text ({exc.reason}): save it as UTF-8"
        raise NotText(Problem(shown or str(path), line, col, said)) from None
