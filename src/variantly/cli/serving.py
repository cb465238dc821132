"""Commands on the serving side: render, preview, serve, demo."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from variantly.cli.common import (
    DatabaseOpt,
    WorkspaceOpt,
    app,
    console,
    err_console,
    open_store,
    reports_errors,
    settings_for,
    show_table,
)
from variantly.workspace.channels import CHANNELS

# A port past 65535 was taken modulo 65536 by the server (99999 listened on 34463 and said 99999): refused here.
PortOpt = Annotated[int, typer.Option(min=1, max=65535, help="The TCP port to listen on.")]
ChannelOpt = Annotated[str, typer.Option(click_type=click.Choice(list(CHANNELS)), help="The channel to render for.")]


def _profile_for(path: Path, *, one_target: bool):
    """The profile in ``path`` for a render or preview of exactly one target; a bad field is named, exit 1."""
    from variantly.serving.profiles import parse_profile
    from variantly.workspace.reading import read_text

    if not one_target:
        err_console.print("[red]error:[/red] give either --layout or --module")
        raise typer.Exit(2)
    return parse_profile(read_text(path), str(path))


@app.command()
@reports_errors
def render(
    profile: Annotated[Path, typer.Option(help="A profile JSON file (see examples/profiles/).")],
    layout: Annotated[str | None, typer.Option(help="A layout id.")] = None,
    module: Annotated[list[str] | None, typer.Option(help="A module id; repeat for several.")] = None,
    channel: ChannelOpt = "web",
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Print what POST /v1/render would return for this profile."""

    from variantly.serving.release import load_release
    from variantly.serving.render import render_target, viewer_for_profile
    from variantly.workspace import load_workspace

    person = _profile_for(profile, one_target=bool(layout) != bool(module))
    settings = settings_for(workspace, database_url)
    ws = load_workspace(settings.workspace)
    release = load_release(open_store(settings))
    page = render_target(
        ws, release, viewer_for_profile(ws, person), channel=channel, module=None, modules=module, layout=layout
    )
    print(json.dumps(page.as_dict() | {"release": release.number}, ensure_ascii=False, indent=2))


@app.command()
@reports_errors
def preview(
    profile: Annotated[Path, typer.Option(help="A profile JSON file (see examples/profiles/).")],
    layout: Annotated[str | None, typer.Option(help="A layout id.")] = None,
    module: Annotated[str | None, typer.Option(help="A module id.")] = None,
    channel: ChannelOpt = "web",
    out: Annotated[
        Path | None, typer.Option(help="The HTML file to write (default: preview-TARGET-PROFILE.html).")
    ] = None,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Write the page a profile would get, beside the decisions that shaped it, to an HTML file."""

    from variantly.authoring.preview import preview_for_profile, standalone_html
    from variantly.serving.release import load_release
    from variantly.workspace import load_workspace

    person = _profile_for(profile, one_target=bool(layout) != bool(module))
    settings = settings_for(workspace, database_url)
    ws = load_workspace(settings.workspace)
    target = layout or module or ""
    shown = preview_for_profile(ws, load_release(open_store(settings)), person, target=target, channel=channel)
    out = out or Path(f"preview-{target}-{profile.stem}.html")
    out.write_text(standalone_html(shown, person), encoding="utf-8")
    console.print(
        f"wrote {out}: {target} ({channel}) for {person.id}, {len(shown.page.decisions)} decision(s)", markup=False
    )


@app.command()
@reports_errors
def serve(
    host: str = "127.0.0.1",
    port: PortOpt = 8000,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
    poll_seconds: Annotated[
        float | None,
        typer.Option(help="How often to look for a new release or workspace edit (default 1 s).", show_default=False),
    ] = None,
    render_only: Annotated[
        bool, typer.Option("--render-only", help="A render node: no review UI or runs, never loads guardrails.")
    ] = False,
    access_log: Annotated[bool, typer.Option(help="A log line per request (a busy site logs at its proxy).")] = True,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes serving the port; each polls the store for new releases.")
    ] = 1,
    redis_url: Annotated[
        str | None,
        typer.Option(help="Share frequency caps through Redis (default: VARIANTLY_REDIS_URL)."),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Proxies whose X-Forwarded-For and -Proto are believed, e.g. 10.0.0.5,10.0.0.6 (default: none)."
        ),
    ] = None,
    server_stack: Annotated[
        str | None,
        typer.Option(
            click_type=click.Choice(["fast", "asyncio"]),
            help="fast: uvloop and httptools (the default); asyncio: the standard library's loop and h11.",
            show_default=False,
        ),
    ] = None,
    page_origins: Annotated[
        str | None,
        typer.Option(
            help="Sites whose pages may call render and events from the browser (CORS), e.g. "
            "https://www.lumen.example (default: VARIANTLY_PAGE_ORIGINS, else none).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the API: render, review UI at /ui/, runs, OpenAPI docs at /docs."""
    import uvicorn

    from variantly.api.app import AppFactory
    from variantly.api.server import server_config
    from variantly.logs import configure_logging

    settings = settings_for(
        workspace,
        database_url,
        poll_seconds=poll_seconds,
        redis_url=redis_url,
        render_only=True if render_only else None,
        forwarded_allow_ips=forwarded_allow_ips,
        server_stack=server_stack,
        page_origins=page_origins,
    )
    settings = settings.but(workspace=settings.workspace.resolve())
    configure_logging(settings.log_format)  # our log handlers (plain or JSON), not uvicorn's
    config = server_config(
        AppFactory(settings), settings, host=host, port=port, workers=workers, access_log=access_log, factory=True
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return
    if not settings.redis_url:
        err_console.print(
            "[yellow]note:[/yellow] without --redis-url each worker counts frequency caps from what it sees itself "
            "and what it reads from the store each poll"
        )
    # Several processes: each is handed the settings with uvicorn's config (pickled), and builds its own app.
    from uvicorn.supervisors import Multiprocess

    socket = config.bind_socket()
    Multiprocess(config, sockets=[socket]).run()


@app.command()
@reports_errors
def demo(
    port: PortOpt = 8000,
    host: str = "127.0.0.1",
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Set up and print, but do not serve.")] = False,
) -> None:
    """Lint, set up the store, import the example variants and serve: no API key needed."""
    from variantly.checkers import import_file
    from variantly.cli.authoring import print_import
    from variantly.workspace import load_workspace

    settings = settings_for(workspace, database_url)
    workspace = settings.workspace
    ws = load_workspace(workspace)
    console.print(f"[green]lint ok[/green]: {len(ws.modules)} modules, {len(ws.layouts)} layouts")
    store = open_store(settings)
    console.print(f"store: {store.engine.url.render_as_string(hide_password=True)}")
    print_import(import_file(store, ws, workspace / "examples" / "variants.jsonl", actor="demo", approve=True))
    reviewer_password = _demo_reviewer(store)
    _print_demo_commands(workspace, host, port)
    base = f"http://{host}:{port}"
    if reviewer_password:
        console.print(
            f"Review UI: {base}/ui/  (sign in as [bold]demo[/bold] / [bold]{reviewer_password}[/bold]; "
            "this password is shown only now)\n",
            highlight=False,
        )
    else:
        console.print(
            f"Review UI: {base}/ui/  (reviewer 'demo' exists already; make another with "
            "`variantly token create NAME --role reviewer --password`)\n",
            highlight=False,
        )
    if no_serve:
        return
    # Serve from a fresh interpreter: the import above loaded guardrails-ai, and the
    # render server must not carry the generation stack.
    sys.stdout.flush()
    args = [
        sys.executable,
        "-m",
        "variantly",
        "serve",
        "--workspace",
        str(workspace),
        "--host",
        host,
        "--port",
        str(port),
        "--database-url",
        store.url,
    ]
    os.execv(sys.executable, args)


def _demo_reviewer(store) -> str | None:
    """A local reviewer account so the demo's review UI can be tried at once; None if it exists."""
    import secrets

    from variantly.auth import create_account
    from variantly.errors import Conflict

    password = secrets.token_urlsafe(9)
    try:
        create_account(store, "demo", "reviewer", password=password, token=False)
    except Conflict:
        return None
    return password


def _print_demo_commands(workspace: Path, host: str, port: int) -> None:
    from rich.table import Table
    from rich.text import Text

    base = f"http://{host}:{port}"
    folder = workspace / "examples" / "profiles"
    table = Table(title="Example profiles (examples/profiles/)", title_justify="left")
    table.add_column("profile")
    table.add_column("who")
    for path in sorted(folder.glob("*.json")):
        about = json.loads(path.read_text(encoding="utf-8")).get("traits", {}).get("about", "")
        table.add_row(Text(path.stem), Text(str(about)))
    console.print()
    show_table(table)
    show = (
        'python3 -c \'import json,sys; [print(" ", d["module"], d["outcome"], "|", d["reasons"][-1]) '
        'for d in json.load(sys.stdin)["decisions"]]\''
    )
    body = '"{\\"layout\\": \\"landing\\", \\"profile\\": $(cat $p)}"'
    lines = [
        "# every profile: what it got for each module of the landing page, and why",
        f"for p in {folder.relative_to(workspace) if folder.is_relative_to(workspace) else folder}/*.json; "
        f"do echo \"== $p\"; curl -s {base}/v1/render -H 'content-type: application/json' -d {body} | {show}; done",
        "# an email to a profile without marketing-email consent is refused (403 consent_required)",
        "p=examples/profiles/greta_no_email_consent_sv.json; "
        f"curl -s {base}/v1/render -H 'content-type: application/json' "
        '-d "{\\"layout\\": \\"email\\", \\"channel\\": \\"email\\", \\"profile\\": $(cat $p)}"',
        "# an anonymous cohort fragment, cacheable by a CDN (see the ETag and Cache-Control headers)",
        f"curl -si '{base}/v1/render/hero?segment=enterprise&industry=retail&locale=sv'",
        "# a whole landing page in your browser",
        "variantly render --layout landing --profile examples/profiles/anna_retail_enterprise_sv.json "
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"html\"])' > anna.html",
    ]
    console.print("\n[bold]Try these[/bold] in another shell, from this folder:\n")
    for line in lines:
        console.print(f"[dim]{line}[/dim]" if line.startswith("#") else line, highlight=False, soft_wrap=True)
    console.print(f"\nAPI docs: {base}/docs")
