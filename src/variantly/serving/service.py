"""What a render process holds: the last good workspace and the current release.

Both are swapped whole by a background poller, so a request reads two attributes
and never waits on the disk or the store. A broken workspace edit or an unreachable
store is logged and the process keeps serving what it had (DESIGN invariant 9).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from variantly import metrics
from variantly.auth import Accounts, Principal, shared_secret
from variantly.errors import StoreUnavailable, Unauthenticated, VariantlyError, WorkspaceError
from variantly.serving import snapshot
from variantly.serving.activity import Activity
from variantly.serving.decide import Decision
from variantly.serving.pictures import PictureFiles
from variantly.serving.pseudonyms import ErasureLog, Pseudonyms, erased_since, latest_erasure, load_pseudonyms
from variantly.serving.release import EMPTY_RELEASE, Release, load_release
from variantly.serving.shared_activity import SharedActivity
from variantly.serving.signatures import IssueClock, sign_decisions
from variantly.settings import ProcessSettings
from variantly.store import Store
from variantly.workspace import Workspace, load_workspace
from variantly.workspace.files import fingerprint
from variantly.workspace.loader import load_last_good

log = logging.getLogger("variantly.serving")


@dataclass
class Health:
    workspace_fingerprint: str
    workspace_error: str | None
    release: int
    release_variants: int
    store_error: str | None
    activity_error: str | None = None


class RenderService:
    def __init__(self, settings: ProcessSettings, store: Store | None) -> None:
        self.settings = settings
        self.root = Path(settings.workspace)
        self.store = store
        self.poll_seconds = settings.poll_seconds
        self.workspace_error: str | None = None
        self.store_error: str | None = None
        self._last_attempt = ""
        self.workspace: Workspace = self._first_workspace()
        self.release: Release = EMPTY_RELEASE
        # Caps and statistics: shared through Redis when there is one, else this process's bounded copy.
        local = Activity(settings.activity_pairs)
        self.activity: Activity | SharedActivity = (
            SharedActivity(settings.redis_url, prefix=settings.redis_prefix, local=local)
            if settings.redis_url
            else local
        )
        self.activity.set_caps(self.workspace)
        self.accounts = Accounts()  # tokens and sessions are checked here, never in the store per request
        self.pictures = PictureFiles(store, settings.picture_cache_mb * 1024 * 1024)
        self.issued: Callable[[], int] = IssueClock()  # when decisions are signed (microseconds)
        self.event_key = self._event_key()
        self.pseudonyms = self._pseudonyms()
        self.activity.pseudonyms = self.pseudonyms
        self._erasures_read = self._latest_erasure()
        self.erasures = ErasureLog()  # who was erased when: events from before it are not recorded again
        self._accounts_refreshed_for_miss = 0.0
        # Called with the new workspace when what checks copy changed (the guardrail policy, merge fields or channel
        # settings: ``Workspace.checks_basis``): review servers re-check approved variants; render-only ones leave it.
        self.on_policy_change: Callable[[Workspace], None] | None = None
        # Called with the new workspace when guardrails/brand.yml changed (review servers score variants again).
        self.on_brand_change: Callable[[Workspace], None] | None = None
        self._release_loaded = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._polling = threading.Lock()
        self.refresh_release()
        self.refresh_accounts()
        self._load_activity()

    def required_store(self) -> Store:
        """The store, for routes that cannot answer without one (review, runs, events)."""
        if self.store is None:
            raise StoreUnavailable("this process runs without a store")
        return self.store

    def _load_activity(self) -> None:
        if self.store is None:
            return
        try:
            self.activity.load(self.store)
        except Exception as exc:  # the store is down at start: caps count from what arrives from now on
            log.warning("could not read recorded events: %s", exc)

    def _first_workspace(self) -> Workspace:
        """The workspace at start; a broken file falls back to the last good copy (and says so)."""
        try:
            workspace = load_workspace(self.root)
        except VariantlyError as exc:
            fallback = snapshot.last_good_workspace(self.root)
            if fallback is None:
                raise
            log.error("workspace does not lint; starting from the last good copy:\n%s", exc.message)
            self.workspace_error = exc.message
            self._last_attempt = fingerprint(self.root)
            workspace, since = load_last_good(fallback)
            if since:  # rules an upgrade added: served as before, said until the workspace is fixed
                log.error(
                    "the last good copy breaks rules added since it was saved:\n%s", WorkspaceError(since).message
                )
            return workspace
        snapshot.save_workspace(self.root)
        return workspace

    def refresh_workspace(self) -> None:
        stamp = fingerprint(self.root)
        if stamp in (self.workspace.fingerprint, self._last_attempt):
            return  # unchanged, or the same broken edit we already reported
        self._last_attempt = stamp
        try:
            previous_checks, previous_brand = self.workspace.checks_basis, self.workspace.brand_hash
            self.workspace = load_workspace(self.root)
            self.activity.set_caps(self.workspace)
            self.pseudonyms = replace(self.pseudonyms, on=self.workspace.settings.events.pseudonymise)
            self.activity.pseudonyms = self.pseudonyms
            self.workspace_error = None
            snapshot.save_workspace(self.root)
            log.info("workspace reloaded (%s)", stamp)
            if self.on_policy_change and self.workspace.checks_basis != previous_checks:
                self.on_policy_change(self.workspace)
            if self.on_brand_change and self.workspace.brand_hash != previous_brand:
                self.on_brand_change(self.workspace)
        except VariantlyError as exc:
            if self.workspace_error != exc.message:
                log.error("workspace edit does not lint; still serving the last good workspace:\n%s", exc.message)
            self.workspace_error = exc.message
        except Exception as exc:  # a half-written file mid-save, a permissions glitch
            log.exception("workspace reload failed; still serving the last good workspace")
            self.workspace_error = str(exc)

    def refresh_release(self) -> None:
        if self.store is None:
            return
        try:
            number = self.store.release_number()
            if number != self.release.number or not self._release_loaded:
                self.release = load_release(self.store)
                log.info("release %d loaded: %d approved variants", self.release.number, len(self.release))
                self._release_loaded = True
                metrics.release_loaded(self.release.number)
                snapshot.save_release(self.root, self.release)
            self.store_error = None
        except Exception as exc:  # store down: keep serving the release we have
            reason = exc.detail if isinstance(exc, StoreUnavailable) else str(exc)
            if not self._release_loaded and (kept := snapshot.last_release(self.root)) is not None:
                self.release, self._release_loaded = kept, True  # a start while the store is down
                log.error("store unreachable at start; serving the last release on disk (%d)", kept.number)
            if self.store_error is None:
                log.error("store unreachable; still serving release %d: %s", self.release.number, reason)
            self.store_error = reason

    def _event_key(self) -> bytes:
        """The key that signs decisions, shared by every process on the store (read once, at start)."""
        if self.store is None:
            return b""
        try:
            return shared_secret(self.store, "event_signing").encode()
        except Exception as exc:  # the store is down at start: decisions go unsigned, anonymous events are refused
            log.warning("no event signing key (store unreachable): %s", exc)
            return b""

    def _pseudonyms(self) -> Pseudonyms:
        """The deployment's pseudonym keys (read once, at start; a rotation takes effect at the next start)."""
        on = self.workspace.settings.events.pseudonymise
        if self.store is None:
            return Pseudonyms(on=on)
        try:
            return load_pseudonyms(self.store, on=on)
        except Exception as exc:  # the store is down at start: nothing can be recorded until it is back anyway
            log.warning("no pseudonym keys (store unreachable): %s", exc)
            return Pseudonyms(on=on)

    def _latest_erasure(self) -> int:
        if self.store is None:
            return 0
        try:
            return latest_erasure(self.store)
        except Exception:
            return 0

    def refresh_erasures(self) -> None:
        """People erased through any process leave this one's caches within a poll."""
        if self.store is None:
            return
        try:
            last, subjects = erased_since(self.store, self._erasures_read)
            if subjects:
                self.activity.forget(subjects)
            self._erasures_read = last
        except Exception as exc:  # the store or Redis is down: asked again next poll
            log.warning("could not read erasures: %s", exc)

    def sign(self, profile_id: str, decisions: Sequence[Decision]) -> list[str | None]:
        """A signature for each decision served to ``profile_id``, with when it was issued, so events about it can be
        credited without a token, once each (``serving.signatures``); None each when there is no key."""
        if not self.event_key:
            return [None] * len(decisions)
        return [*sign_decisions(self.event_key, profile_id, decisions, self.issued())]

    def principal_for_token(self, token: str | None) -> Principal:
        """The caller a bearer token names, from memory. An unknown token may refresh the copy (a token
        made a moment ago works at once), at most twice a second, so guessing cannot load the store."""
        try:
            return self.accounts.by_token(token)
        except Unauthenticated:
            if not token or time.monotonic() - self._accounts_refreshed_for_miss < 0.5:
                raise
            self._accounts_refreshed_for_miss = time.monotonic()
            if self.store is not None:
                self.accounts.refresh(self.store)  # a store that is down says so (503), not "bad token"
            return self.accounts.by_token(token)

    def refresh_accounts(self) -> None:
        if self.store is None:
            return
        try:
            self.accounts.refresh(self.store)
        except Exception as exc:  # the store is down: tokens and sessions go on from the last copy
            log.warning("could not read accounts: %s", exc)

    def refresh_activity(self) -> None:
        if self.store is None:
            return
        try:
            self.activity.refresh(self.store)
        except Exception as exc:  # the store is down: caps and statistics go on from what we have
            log.warning("could not read new events: %s", exc)

    def poll_once(self) -> None:
        """One poll at a time: a caller that comes while the poller is mid-poll waits for it, so it
        returns with the workspace and release as they are now (it would otherwise see the edit
        being loaded as already handled), and no event is read twice."""
        with self._polling:
            self.refresh_workspace()
            self.refresh_release()
            self.refresh_accounts()
            self.refresh_activity()
            self.refresh_erasures()

    def start(self) -> None:
        if self._thread is not None:
            return
        self.refresh_accounts()
        self._thread = threading.Thread(target=self._run, name="variantly-poller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.poll_once()
            metrics.flush()  # renders held since the last flush reach a multi-process scrape within a poll

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        metrics.flush(wait=True)  # a process leaving counts what it served

    def health(self) -> Health:
        return Health(
            self.workspace.fingerprint,
            self.workspace_error,
            self.release.number,
            len(self.release),
            self.store_error,
            self.activity.problem,
        )
