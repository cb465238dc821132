"""The last good workspace and the last release, kept on disk so a restart is never an outage.

A render process that meets a broken file or an unreachable store keeps serving what
it had; these snapshots let a process that *starts* in that state do the same. Each
is written after a good load, under ``.variantly/`` in the workspace (beside the
default SQLite store), atomically: a crash mid-write leaves the previous snapshot. A
read-only deployment simply has none, which is logged once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from variantly.serving.release import Release, ServedVariant
from variantly.workspace.files import workspace_files

log = logging.getLogger("variantly.serving")
STATE_DIR = ".variantly"


def _state(root: Path) -> Path:
    return root / STATE_DIR


def save_workspace(root: Path) -> None:
    """Copy the files the workspace is made of to ``.variantly/last-good-workspace``."""
    target = _state(root) / "last-good-workspace"
    staging = None
    try:
        _state(root).mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".last-good-", dir=_state(root)))
        for path in workspace_files(root):
            destination = staging / path.relative_to(root)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
        old = target.with_name(f".last-good-old-{os.getpid()}")  # several workers may save at once
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        log.warning("could not keep a copy of the good workspace (a restart with a broken file would fail): %s", exc)


def last_good_workspace(root: Path) -> Path | None:
    target = _state(root) / "last-good-workspace"
    return target if (target / "modules").is_dir() else None


def save_release(root: Path, release: Release) -> None:
    path = _state(root) / "last-release.json"
    variants = [asdict(v) for served in release.variants.values() for v in served]
    try:
        _state(root).mkdir(exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=_state(root), prefix=".release-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"number": release.number, "variants": variants}, out, ensure_ascii=False)
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("could not keep a copy of release %d: %s", release.number, exc)


def last_release(root: Path) -> Release | None:
    path = _state(root) / "last-release.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Release.build(int(data["number"]), (ServedVariant(**v) for v in data["variants"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
