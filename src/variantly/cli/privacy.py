"""``variantly privacy``: access and erasure requests, retention, pseudonyms at rest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from variantly.cli.common import (
    ActorOpt,
    DatabaseOpt,
    WorkspaceOpt,
    app,
    console,
    open_store,
    reports_errors,
    settings_for,
)
from variantly.errors import InvalidRequest

privacy_app = typer.Typer(
    help="Data protection: export or erase what is stored about a person, purge expired events, pseudonyms.",
    no_args_is_help=True,
)
app.add_typer(privacy_app, name="privacy")


def _context(workspace: Path | None, database_url: str | None, actor: str | None = None):
    """The store, the workspace's settings, the deployment's pseudonyms and its shared caps (when there is Redis)."""
    from variantly.serving.activity import Activity
    from variantly.serving.pseudonyms import load_pseudonyms
    from variantly.serving.shared_activity import SharedActivity
    from variantly.workspace import load_workspace

    settings = settings_for(workspace, database_url, actor=actor)
    store = open_store(settings)
    ws = load_workspace(settings.workspace)
    pseudonyms = load_pseudonyms(store, on=ws.settings.events.pseudonymise)
    activity = None
    if settings.redis_url:
        activity = SharedActivity(settings.redis_url, prefix=settings.redis_prefix, local=Activity())
        activity.set_caps(ws)
        activity.pseudonyms = pseudonyms
    return settings, store, ws, pseudonyms, activity


@privacy_app.command("export")
@reports_errors
def export(
    profile_id: Annotated[str, typer.Argument(help="The id your CRM or CDP knows the person by.")],
    out: Annotated[Path | None, typer.Option(help="Write the JSON here instead of printing it.")] = None,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Everything stored about one person, as JSON with what each field means (an access request)."""
    from variantly.privacy.access import export_person

    _, store, ws, pseudonyms, activity = _context(workspace, database_url)
    answer = export_person(
        store,
        pseudonyms,
        profile_id,
        retention_days=ws.settings.events.retention_days,
        windows=activity.windows(profile_id) if activity is not None else None,
    )
    text = answer.model_dump_json(indent=2)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"{len(answer.events)} event(s), {len(answer.exposures)} exposure(s) written to {out}")


@privacy_app.command("erase")
@reports_errors
def erase(
    profile_ids: Annotated[list[str] | None, typer.Argument(help="Ids to erase.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A file of ids, one a line.")] = None,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Delete a person's events and exposures, and their frequency-cap windows in Redis; every running server forgets
    them within a poll. The erasure is logged under a keyed hash, never the id."""
    from rich.progress import track

    from variantly.privacy.erasure import erase_people
    from variantly.serving.profiles import known_id
    from variantly.workspace.reading import read_text

    ids = list(profile_ids or [])
    if file is not None:
        ids += [line.strip() for line in read_text(file).splitlines() if line.strip()]
    if not ids:
        raise InvalidRequest("profile_ids", "name ids to erase, or --file with one a line")
    for i, profile_id in enumerate(ids):  # all before any is erased: erased one at a time below, for the progress bar
        known_id(profile_id, f"profile_ids.{i}")
    settings, store, _, pseudonyms, activity = _context(workspace, database_url, actor)
    forget = activity.forget if activity is not None else None
    done = []
    for profile_id in track(ids, description="erasing", disable=len(ids) < 50, console=console):
        done += erase_people(store, pseudonyms, [profile_id], actor=settings.actor, forget=forget)
    for erasure in done:  # under the hash it is logged by: a terminal's scrollback is a record too
        console.print(f"{erasure.logged_as}: {erasure.summary}", markup=False)
    console.print(
        f"{len(done)} erased. Running servers forget them within a poll; reports made before are not revised."
    )


@privacy_app.command("purge")
@reports_errors
def purge(workspace: WorkspaceOpt = None, database_url: DatabaseOpt = None, actor: ActorOpt = None) -> None:
    """Delete events and exposures older than events.retention_days, in batches that never block (for a cron)."""
    from rich.progress import Progress

    from variantly.privacy.retention import purge_expired

    settings, store, ws, _, _ = _context(workspace, database_url, actor)
    days = ws.settings.events.retention_days
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"purging what is older than {days} days", total=None)
        done = purge_expired(store, days, actor=settings.actor, progress=lambda n: progress.advance(task, n))
    console.print(
        f"{done.events:,} event(s) and {done.exposures:,} exposure(s) from before {done.cutoff:%Y-%m-%d} deleted "
        f"in {done.seconds:.1f} s"
    )


@privacy_app.command("pseudonymise")
@reports_errors
def pseudonymise(workspace: WorkspaceOpt = None, database_url: DatabaseOpt = None, actor: ActorOpt = None) -> None:
    """Turn clear profile ids already in the store into pseudonyms (after switching events.pseudonymise on)."""
    from variantly.privacy.at_rest import pseudonymise_store

    settings, store, _, pseudonyms, _ = _context(workspace, database_url, actor)
    done = pseudonymise_store(store, pseudonyms, actor=settings.actor)
    console.print(f"{done.events:,} event(s) and {done.exposures:,} exposed profile(s) now under pseudonyms")


@privacy_app.command("rotate-key")
@reports_errors
def rotate_key(workspace: WorkspaceOpt = None, database_url: DatabaseOpt = None, actor: ActorOpt = None) -> None:
    """Make a new pseudonym key: restart every server to use it. Older keys stay for export and erasure until the
    rows they name have expired."""
    from variantly.serving.pseudonyms import rotate
    from variantly.store.schema import PrivacyLogRow

    settings, store, _, _, _ = _context(workspace, database_url, actor)
    version = rotate(store)
    with store.session() as session:
        session.add(PrivacyLogRow(action="rotate", detail={"version": version}, actor=settings.actor))
    console.print(
        f"pseudonym key version {version} made. Restart every server (rolling) to write under it; until then they "
        "write under the previous one, which export and erase still find."
    )
