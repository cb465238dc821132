"""The pictures a render node serves at ``/assets/<sha256>[-<width>].<ext>``: from memory, bounded.

A picture's name is its content, so what a process holds is never stale and can be sent
with ``Cache-Control: public, max-age=31536000, immutable``; browsers and CDNs ask once.
A miss reads the store (every node sees the same files without a shared disk) and keeps
the file, least recently used first out when the cache is over ``max_bytes``. A name the
store does not have is remembered as missing for a short while (a bad link costs one query
per process per minute, not one a request).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from variantly.store import Store
from variantly.store.images import ImageFile, image_file
from variantly.workspace.images import ASSET_NAME

IMMUTABLE = "public, max-age=31536000, immutable"
MISSING_SECONDS = 60.0


class PictureFiles:
    def __init__(self, store: Store | None, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.held = 0
        self._files: OrderedDict[str, ImageFile] = OrderedDict()
        self._missing: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def is_picture(name: str) -> bool:
        return ASSET_NAME.match(name) is not None

    def cached(self, name: str) -> ImageFile | None:
        """From memory only: what the fast path answers without a thread or a query."""
        found = self._files.get(name)
        if found is not None:
            with self._lock:
                if name in self._files:
                    self._files.move_to_end(name)
        return found

    def get(self, name: str) -> ImageFile | None:
        """From memory, else from the store (blocking: call it from a worker thread)."""
        found = self.cached(name)
        if found is not None or self.store is None or not self.is_picture(name):
            return found
        if time.monotonic() < self._missing.get(name, 0.0):
            return None
        found = image_file(self.store, name)
        if found is None:
            self._missing[name] = time.monotonic() + MISSING_SECONDS
            if len(self._missing) > 10_000:
                self._missing.clear()
            return None
        self._keep(found)
        return found

    def _keep(self, file: ImageFile) -> None:
        if len(file.data) > self.max_bytes:
            return  # served, never held: it would push out everything else
        with self._lock:
            if file.name in self._files:
                return
            self._files[file.name] = file
            self.held += len(file.data)
            while self.held > self.max_bytes:
                _, dropped = self._files.popitem(last=False)
                self.held -= len(dropped.data)

    def __len__(self) -> int:
        return len(self._files)
