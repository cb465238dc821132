"""Render modules and layouts for a viewer: HTML, plain text for email, and decisions.

Generated copy is data (DESIGN invariant 2): slot texts reach templates as plain
strings, so Jinja escapes them and never compiles them. The only substitution inside
copy is the workspace's whitelist of merge fields (``{first_name}``), by plain
replacement, with per-locale defaults.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from variantly.errors import ChannelNotSupported, ConsentRequired, NotFound
from variantly.serving.cohorts import Cohort, Resolution, resolve
from variantly.serving.compiled import RENDERED, Pieces, fill, html_values
from variantly.serving.decide import Decision, Viewer, decide
from variantly.serving.holdout import arm_for
from variantly.serving.profiles import Profile
from variantly.serving.release import EMPTY_RELEASE, Release, ServedVariant
from variantly.workspace.loader import LayoutFile, ModuleFile, Workspace
from variantly.workspace.models import DIMENSIONS, Module, localized

if TYPE_CHECKING:
    from variantly.serving.activity import Activity
    from variantly.serving.shared_activity import SharedActivity

MERGE_FIELD = re.compile(r"\{([a-z_]+)\}")


@dataclass
class RenderedModule:
    module: str
    html: str
    text: str | None
    decision: Decision


@dataclass
class RenderedPage:
    """A layout (or a list of modules) rendered for one viewer."""

    html: str
    text: str | None = None
    subject: str | None = None
    decisions: list[Decision] = field(default_factory=list)
    arm: str = "none"

    def as_dict(self) -> dict[str, Any]:
        return {
            "html": self.html,
            "text": self.text,
            "subject": self.subject,
            "arm": self.arm,
            "decisions": [d.as_dict() for d in self.decisions],
        }


def viewer_for_profile(
    workspace: Workspace,
    profile: Profile,
    now: datetime | None = None,
    activity: Activity | SharedActivity | None = None,
) -> Viewer:
    now = now or datetime.now(UTC)
    resolution = resolve(profile, workspace.audiences, workspace.settings.default_locale, now)
    arm = arm_for(profile.id, workspace.settings.holdout_salt, workspace.settings.holdout_percent)
    return Viewer(resolution, arm, profile, now, activity)


def viewer_for_cohort(workspace: Workspace, values: dict[str, str | None]) -> Viewer:
    """An anonymous viewer described only by cohort values (a cacheable fragment)."""
    resolved: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for dim in DIMENSIONS:
        given = values.get(dim)
        if given is not None and workspace.audiences.find(dim, given) is None:
            known = sorted(a.id for a in workspace.audiences.of(dim))
            raise NotFound(f"unknown {dim} '{given}' (known: {', '.join(known)})")
        if dim == "locale":
            resolved[dim] = given or workspace.settings.default_locale
        else:
            resolved[dim] = given or "*"
        reasons[dim] = f"{resolved[dim]}: given in the request" if given else f"{resolved[dim]}: not given"
    return Viewer(Resolution(resolved, reasons, {d: (v,) for d, v in resolved.items()}), "none")


def person_values(workspace: Workspace, profile: Profile | None, locale: str) -> list[str]:
    """The merge-field values for this viewer, in the workspace's order; a locale default where missing."""
    out = []
    for merge in workspace.settings.merge_fields.values():
        value = profile.trait(merge.trait) if profile is not None else None
        if value is None or str(value).strip() == "":
            value = localized(merge.default, locale, workspace.settings.default_locale) or ""
        out.append(str(value))
    return out


def header_safe(text: str) -> str:
    """An email subject is a header: a line break from a profile's first name must not start another one."""
    return " ".join(text.split())


def fill_merge_fields(text: str, person: dict[str, str]) -> str:
    """Replace whitelisted ``{name}`` fields; anything else stays literal."""
    return MERGE_FIELD.sub(lambda m: person.get(m.group(1), m.group(0)), text)


def _slot_texts(
    workspace: Workspace, module: Module, locale: str, decision: Decision, variant_slots: dict[str, str] | None
) -> dict[str, str]:
    default_locale = workspace.settings.default_locale
    texts = {name: localized(slot.default, locale, default_locale) or "" for name, slot in module.slots.items()}
    if decision.outcome == "alternative" and decision.rule:
        rule = next(r for r in module.suppress if r.id == decision.rule)
        texts |= {name: localized(text, locale, default_locale) or "" for name, text in rule.alternative.items()}
    if variant_slots:
        texts |= {k: v for k, v in variant_slots.items() if k in module.slots}
    return texts


def module_context(
    workspace: Workspace,
    module: Module,
    texts: dict[str, str],
    person: dict[str, str],
    locale: str,
    cohort: dict[str, str],
    suppression: str | None = None,
) -> dict[str, Any]:
    slots = {name: fill_merge_fields(text, person) for name, text in texts.items()}
    asset = None
    for name, slot in module.slots.items():
        if slot.type == "asset":
            chosen = next((a for a in module.assets if a.id == slots[name]), module.assets[0])
            asset = {"id": chosen.id, "url": chosen.url, "description": chosen.description}
    return {
        "slots": slots,
        "person": person,
        "asset": asset,
        "locale": locale,
        "cohort": cohort,
        "module": {"id": module.id, "kind": module.kind},
        "suppression": suppression,
    }


@dataclass
class _Choice:
    """One module's decision and how to render it: ``pieces`` (html, text) when it can be reused, else None."""

    module_file: ModuleFile
    decision: Decision
    variant: ServedVariant | None
    key: tuple
    pieces: tuple[Pieces, ...] | None


_HIDDEN: tuple[Pieces, ...] = ((), ())


def _choose(workspace: Workspace, release: Release, module_id: str, channel: str, viewer: Viewer) -> _Choice:
    module_file = _find("module", workspace.modules, module_id)
    _require_channel("module", module_id, module_file.module.channels, channel)
    decision, variant = decide(workspace, release, module_file, viewer)
    if decision.outcome == "hidden":
        return _Choice(module_file, decision, None, ("hidden",), _HIDDEN)
    locale = viewer.resolution.values["locale"]
    key = (
        "module",
        module_file.source_hash,
        workspace.settings.default_locale,
        tuple(workspace.settings.merge_fields),
        channel,
        locale,
        decision.cohort,
        decision.outcome,
        decision.rule,
        tuple(variant.slots.items()) if variant else None,  # the copy itself: ids and versions are not unique
    )
    names = list(workspace.settings.merge_fields)

    def render(values: Sequence[str]) -> tuple[str, ...]:
        return _module_blocks(
            workspace, module_file, channel, decision, variant, locale, dict(zip(names, values, strict=True))
        )

    return _Choice(module_file, decision, variant, key, RENDERED.get(key, len(names), render))


def _module_blocks(
    workspace: Workspace,
    module_file: ModuleFile,
    channel: str,
    decision: Decision,
    variant: ServedVariant | None,
    locale: str,
    person: dict[str, str],
) -> tuple[str, str]:
    """The module's HTML and (for email) text for this decision, rendered by Jinja."""
    if decision.outcome == "hidden":
        return "", ""
    module = module_file.module
    texts = _slot_texts(workspace, module, locale, decision, variant.slots if variant else None)
    context = module_context(
        workspace, module, texts, person, locale, Cohort.from_key(decision.cohort).as_dict(), decision.rule
    )
    if channel == "web":
        return module_file.template.render_block("web", context), ""
    return module_file.template.render_block("email_html", context), module_file.template.render_block(
        "email_text", context
    )


def _outputs(pieces: tuple[Pieces, ...], values: list[str]) -> tuple[str, str]:
    return fill(pieces[0], html_values(values)), fill(pieces[1], values) if len(pieces) > 1 else ""


def _choice_outputs(workspace: Workspace, choice: _Choice, channel: str, viewer: Viewer) -> tuple[str, str]:
    locale = viewer.resolution.values["locale"]
    values = person_values(workspace, viewer.profile, locale)
    if choice.pieces is not None:
        return _outputs(choice.pieces, values)
    person = dict(zip(workspace.settings.merge_fields, values, strict=True))
    return _module_blocks(workspace, choice.module_file, channel, choice.decision, choice.variant, locale, person)


def render_module(
    workspace: Workspace, release: Release, module_id: str, channel: str, viewer: Viewer
) -> RenderedModule:
    choice = _choose(workspace, release, module_id, channel, viewer)
    html, text = _choice_outputs(workspace, choice, channel, viewer)
    return RenderedModule(module_id, html, text if channel == "email" else None, choice.decision)


def _find(kind: str, items: dict[str, Any], ident: str) -> Any:
    if ident not in items:
        raise NotFound(f"unknown {kind} '{ident}' ({kind}s: {', '.join(sorted(items))})")
    return items[ident]


def _require_channel(kind: str, ident: str, channels: list[str], channel: str) -> None:
    if channel not in channels:
        raise ChannelNotSupported(f"{kind} '{ident}' has no {channel} channel (it has: {', '.join(channels)})")


def _check_email_consent(channel: str, viewer: Viewer) -> None:
    if channel == "email" and viewer.profile is not None and not viewer.profile.consent.marketing_email:
        raise ConsentRequired(
            f"profile '{viewer.profile.id}' has not consented to marketing email"
            " (consent.marketing_email is false or missing): do not send"
        )


def render_modules(
    workspace: Workspace, release: Release, module_ids: list[str], channel: str, viewer: Viewer
) -> RenderedPage:
    _check_email_consent(channel, viewer)
    parts = [render_module(workspace, release, m, channel, viewer) for m in module_ids]
    text = "\n\n".join(p.text for p in parts if p.text) if channel == "email" else None
    return RenderedPage("\n".join(p.html for p in parts if p.html), text, None, [p.decision for p in parts], viewer.arm)


def render_layout(workspace: Workspace, release: Release, layout_id: str, channel: str, viewer: Viewer) -> RenderedPage:
    layout_file = _find("layout", workspace.layouts, layout_id)
    layout = layout_file.layout
    _require_channel("layout", layout_id, layout.channels, channel)
    _check_email_consent(channel, viewer)
    choices = [_choose(workspace, release, m, channel, viewer) for m in layout.modules]
    decisions = [c.decision for c in choices]
    locale = viewer.resolution.values["locale"]
    values = person_values(workspace, viewer.profile, locale)
    names = list(workspace.settings.merge_fields)
    subject = _layout_text(workspace, layout.subject, locale, dict(zip(names, values, strict=True)))

    def render(marks: Sequence[str]) -> tuple[str, ...]:
        modules = [(c.module_file.module.id, *(fill(p, marks) for p in c.pieces or ())) for c in choices]
        return _layout_blocks(workspace, layout_file, channel, locale, dict(zip(names, marks, strict=True)), modules)

    pieces = None
    if all(c.pieces is not None for c in choices):
        key = ("layout", layout_file.source_hash, channel, locale, tuple(c.key for c in choices))
        pieces = RENDERED.get(key, len(names), render)
    if pieces is not None:
        html, text = _outputs(pieces, values)
    else:  # a module or the layout does more with a merge field than print it: Jinja, per request
        person = dict(zip(names, values, strict=True))
        modules = [(c.module_file.module.id, *_choice_outputs(workspace, c, channel, viewer)) for c in choices]
        html, text = _layout_blocks(workspace, layout_file, channel, locale, person, modules)
    if channel == "web":
        return RenderedPage(html, None, None, decisions, viewer.arm)
    return RenderedPage(html, text, subject, decisions, viewer.arm)


def _layout_text(workspace: Workspace, text: dict[str, str] | None, locale: str, person: dict[str, str]) -> str:
    return header_safe(fill_merge_fields(localized(text, locale, workspace.settings.default_locale) or "", person))


def _layout_blocks(
    workspace: Workspace,
    layout_file: LayoutFile,
    channel: str,
    locale: str,
    person: dict[str, str],
    modules: list[tuple[str, ...]],
) -> tuple[str, str]:
    """The layout's HTML (CSS inlined for email) and email text around its modules' HTML and text."""
    layout = layout_file.layout
    context = {
        "person": person,
        "locale": locale,
        "title": fill_merge_fields(localized(layout.title, locale, workspace.settings.default_locale) or "", person),
        "subject": _layout_text(workspace, layout.subject, locale, person),
        "modules": {module: Markup(html) for module, html, *_ in modules},
    }
    if channel == "web":
        return layout_file.template.render_block("web", context), ""
    html = _inline_css(layout_file.template.render_block("email_html", context))
    text_context = context | {"modules": {module: text for module, _, text in modules}}
    return html, layout_file.template.render_block("email_text", text_context)


def _inline_css(html: str) -> str:
    import css_inline

    return css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False).inline(html)


def _default_viewer(workspace: Workspace, locale: str) -> Viewer:
    return viewer_for_cohort(workspace, {"locale": locale})


def render_module_defaults(workspace: Workspace, module_id: str, channel: str, locale: str) -> RenderedModule:
    """Used by lint: the module as a viewer with no variant sees it."""
    return render_module(workspace, EMPTY_RELEASE, module_id, channel, _default_viewer(workspace, locale))


def render_layout_defaults(workspace: Workspace, layout_id: str, channel: str, locale: str) -> RenderedPage:
    return render_layout(workspace, EMPTY_RELEASE, layout_id, channel, _default_viewer(workspace, locale))


def target_modules(
    workspace: Workspace, *, module: str | None = None, modules: list[str] | None = None, layout: str | None = None
) -> list[str]:
    """The modules a render of this target shows (unknown names are left for render to report)."""
    if layout:
        found = workspace.layouts.get(layout)
        return list(found.layout.modules) if found else []
    return list(modules or [module or ""])


def cap_windows(workspace: Workspace, module_ids: list[str], viewer: Viewer) -> dict[str, datetime]:
    """For each capped module this viewer could get personalised copy of: when its cap window starts.

    Empty for anyone a cap cannot apply to (anonymous, no consent, holdout), so that
    render asks the activity store nothing for them.
    """
    profile = viewer.profile
    if profile is None or not profile.consent.personalisation or viewer.arm == "control":
        return {}
    windows = {}
    for module_id in module_ids:
        found = workspace.modules.get(module_id)
        cap = found.module.frequency_cap if found else None
        if cap is not None:
            windows[module_id] = viewer.now - timedelta(days=cap.per_days)
    return windows


def render_target(
    workspace: Workspace,
    release: Release,
    viewer: Viewer,
    *,
    channel: str,
    module: str | None = None,
    modules: list[str] | None = None,
    layout: str | None = None,
) -> RenderedPage:
    """One entry point for the API and the CLI: a layout, a module, or several."""
    if layout:
        return render_layout(workspace, release, layout, channel, viewer)
    return render_modules(workspace, release, modules or [module or ""], channel, viewer)
