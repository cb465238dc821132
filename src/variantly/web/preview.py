"""Preview as a profile, for marketers: a layout or module rendered for an example or pasted
profile, in a sandboxed frame beside its decision table; it refreshes itself when a
module file is saved or a new release is served (``app.js`` polls ``/ui/preview/version``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from variantly.authoring.preview import decision_rows, preview_for_profile
from variantly.errors import NotFound, Unauthenticated, VariantlyError
from variantly.serving.profiles import Profile, parse_profile
from variantly.web.pages import render_page, signed_in, to_login
from variantly.web.security import SecureRoute
from variantly.workspace import Workspace
from variantly.workspace.channels import CHANNELS
from variantly.workspace.reading import file_named, read_text

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=SecureRoute)


@router.get("/preview")
def preview_page(request: Request) -> Response:
    """A layout or module as a profile sees it, beside the decisions that shaped it (for marketers)."""
    session, who = signed_in(request)
    if who is None:
        return to_login()
    svc = request.app.state.service
    workspace = svc.workspace
    params = request.query_params
    examples = sorted(p.stem for p in (svc.root / "examples" / "profiles").glob("*.json"))
    target = params.get("target") or _first_target(workspace)
    context: dict[str, Any] = {
        "layouts": sorted(workspace.layouts),
        "modules": sorted(workspace.modules),
        "examples": examples,
        "target": target,
        "channels": list(CHANNELS),
        "channel": params.get("channel") or _channels_of(workspace, target)[0],
        "example": params.get("example") if "example" in params else (examples[0] if examples else ""),
        "pasted": params.get("profile", ""),
        "version": _preview_version(svc),
    }
    try:
        profile = _preview_profile(svc, context["example"], context["pasted"])
        if profile is not None:
            preview = preview_for_profile(workspace, svc.release, profile, target=target, channel=context["channel"])
            query = urlencode(
                {k: context[k] for k in ("target", "channel", "example")} | {"profile": context["pasted"]}
            )
            context |= {"preview": preview, "rows": decision_rows(preview), "query": query, "profile_id": profile.id}
    except VariantlyError as exc:
        context |= {"message": exc.message, "message_kind": "error"}
    return render_page(request, session, "preview.html", **context)


@router.get("/preview/frame")
def preview_frame(request: Request) -> Response:
    """The rendered page alone, for the preview's sandboxed frame (served with the preview CSP)."""
    _, who = signed_in(request)
    if who is None:
        raise Unauthenticated("sign in to preview")
    svc = request.app.state.service
    params = request.query_params
    profile = _preview_profile(svc, params.get("example", ""), params.get("profile", ""))
    if profile is None:
        return HTMLResponse("", status_code=204)
    target = params.get("target", "")
    channel = params.get("channel") or _channels_of(svc.workspace, target)[0]
    preview = preview_for_profile(svc.workspace, svc.release, profile, target=target, channel=channel)
    return HTMLResponse(preview.document)


@router.get("/preview/version")
def preview_version(request: Request) -> Response:
    """Changes when the workspace on disk or the release does: the preview page polls it to refresh."""
    _, who = signed_in(request)
    if who is None:
        raise Unauthenticated("sign in to preview")
    return Response(_preview_version(request.app.state.service), media_type="text/plain")


def _first_target(workspace: Workspace) -> str:
    """The page a marketer most likely wants first: a web layout (the landing page), else any layout or module."""
    layouts = sorted(workspace.layouts, key=lambda i: (_channels_of(workspace, i)[0] != "web", i))
    return next(iter(layouts), next(iter(sorted(workspace.modules)), ""))


def _channels_of(workspace: Workspace, target: str) -> list[str]:
    """The target's channels, in its file's order ("web" for a target that does not exist: render names it)."""
    if target in workspace.layouts:
        return list(workspace.layouts[target].layout.channels)
    if target in workspace.modules:
        return list(workspace.modules[target].module.channels)
    return ["web"]


def _preview_version(svc: Any) -> str:
    return f"{svc.workspace.fingerprint}:{svc.release.number}"


def _preview_profile(svc: Any, example: str, pasted: str) -> Profile | None:
    """The pasted profile, else the named example; a bad one is a clear error naming the field."""
    if pasted.strip():
        return parse_profile(pasted, "the pasted profile")
    if not example:
        return None
    path = file_named(svc.root / "examples" / "profiles", f"{example}.json")
    if path is None:
        raise NotFound(f"no example profile '{example}'")
    return parse_profile(read_text(path, path.name), path.name)
