"""Pictures kept by content: saved once under the names they are served by, read back by name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from variantly.store.db import Store
from variantly.store.schema import ImageFileRow


@dataclass(frozen=True)
class ImageFile:
    """One file of a picture: the original or a smaller copy, as served at ``/assets/<name>``."""

    name: str
    hash: str
    mime: str
    width: int
    height: int
    data: bytes


def save_image_files(store: Store, files: Iterable[ImageFile]) -> int:
    """Keep the files not kept yet (a name is its content: one that exists is the same bytes). Returns how many."""
    files = list(files)
    with store.sessions() as session:
        have = set(session.scalars(select(ImageFileRow.name).where(ImageFileRow.name.in_([f.name for f in files]))))
        new = [f for f in files if f.name not in have]
        session.add_all(
            ImageFileRow(name=f.name, hash=f.hash, mime=f.mime, width=f.width, height=f.height, data=f.data)
            for f in new
        )
        session.commit()
    return len(new)


def image_file(store: Store, name: str) -> ImageFile | None:
    with store.sessions() as session:
        row = session.get(ImageFileRow, name)
        if row is None:
            return None
        return ImageFile(row.name, row.hash, row.mime, row.width, row.height, bytes(row.data))


def image_names(store: Store, content_hash: str) -> list[str]:
    """Every file kept of one picture (the original and its copies)."""
    with store.sessions() as session:
        return list(session.scalars(select(ImageFileRow.name).where(ImageFileRow.hash == content_hash)))
