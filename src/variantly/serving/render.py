"""Render modules and layouts for a viewer, in any registered channel, with the decisions.

Which copy each module shows is ``decide``'s; how a file's blocks turn copy into a
message is the workspace's (``variantly.workspace.blocks``); what a channel's message is
made of (its parts, HTML or text, its consent flag) is the channel registry's. This module
puts them together for one viewer, and reuses what was rendered before (``compiled``) so a
request only fills in its person's merge fields.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from variantly.errors import NotFound
from variantly.serving.cohorts import Resolution, resolve
from variantly.serving.compiled import RENDERED, Pieces, fill, html_values
from variantly.serving.decide import Decided, Decision, Viewer, decide, decide_page, module_for
from variantly.serving.holdout import arm_for
from variantly.serving.merge_fields import person_values
from variantly.serving.profiles import Profile
from variantly.serving.release import Release, ServedVariant
from variantly.workspace.blocks import (
    channel_problems,
    default_person,
    layout_text,
    module_context,
    render_layout_parts,
    render_module_parts,
    slot_texts,
)
from variantly.workspace.channels import Channel, Part, channel_named
from variantly.workspace.cohorts import Cohort
from variantly.workspace.files import ModuleFile, Workspace
from variantly.workspace.models import DIMENSIONS

if TYPE_CHECKING:
    from variantly.serving.activity import Activity
    from variantly.serving.shared_activity import SharedActivity

log = logging.getLogger("variantly.serving")
# Named in every answer, even when a channel has no such part (null), so web and email answers keep their shape.
ANSWER_PARTS = ("html", "text")


@dataclass
class RenderedModule:
    module: str
    parts: dict[str, str]  # part name -> output, as the channel registry names them
    decision: Decision

    @property
    def html(self) -> str | None:
        return self.parts.get("html")

    @property
    def text(self) -> str | None:
        return self.parts.get("text")


@dataclass
class RenderedPage:
    """A layout (or a list of modules) rendered for one viewer in one channel."""

    channel: Channel
    parts: dict[str, str]
    subject: str | None = None
    decisions: list[Decision] = field(default_factory=list)
    arm: str = "none"
    signatures: list[str | None] = field(default_factory=list)  # one per decision once signed (a profile's render)

    @property
    def html(self) -> str | None:
        return self.parts.get("html")

    @property
    def text(self) -> str | None:
        return self.parts.get("text")

    def as_dict(self) -> dict[str, Any]:
        """The answer's fields, in the order the render routes write them (``serving.answer`` prepares the same)."""
        answer: dict[str, Any] = {name: self.parts.get(name) for name in ANSWER_PARTS}
        answer["subject"] = self.subject
        answer |= {name: text for name, text in self.parts.items() if name not in ANSWER_PARTS}
        signatures = self.signatures or [None] * len(self.decisions)
        decisions = [d.as_dict(s) for d, s in zip(self.decisions, signatures, strict=True)]
        return answer | {"arm": self.arm, "decisions": decisions}


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


@dataclass
class _Choice:
    """One module's decision and how to render it: ``pieces`` (one per part) when it can be reused, else None."""

    module_file: ModuleFile
    decision: Decision
    variant: ServedVariant | None
    key: tuple
    pieces: tuple[Pieces, ...] | None


def _choose(
    workspace: Workspace,
    channel: Channel,
    locale: str,
    module_file: ModuleFile,
    decision: Decision,
    variant: ServedVariant | None,
) -> _Choice:
    if decision.outcome == "hidden":
        return _Choice(module_file, decision, None, ("hidden",), tuple(() for _ in channel.parts))
    key = (
        "module",
        module_file.source_hash,
        workspace.settings.default_locale,
        tuple(workspace.settings.merge_fields),
        channel.name,
        locale,
        decision.cohort,
        decision.outcome,
        decision.rule,
        variant.copy_key if variant else None,
    )
    names = list(workspace.settings.merge_fields)

    def render(values: Sequence[str]) -> tuple[str, ...]:
        person = dict(zip(names, values, strict=True))
        return _module_parts(workspace, module_file, channel, decision, variant, locale, person)

    return _Choice(module_file, decision, variant, key, RENDERED.get(key, len(names), render))


def _module_parts(
    workspace: Workspace,
    module_file: ModuleFile,
    channel: Channel,
    decision: Decision,
    variant: ServedVariant | None,
    locale: str,
    person: dict[str, str],
) -> tuple[str, ...]:
    """The module's outputs for this decision, one per part of the channel, rendered by Jinja."""
    if decision.outcome == "hidden":
        return tuple("" for _ in channel.parts)
    module = module_file.module
    rule = decision.rule if decision.outcome == "alternative" else None
    texts = slot_texts(workspace, module, locale, rule=rule, copy=variant.slots if variant else None)
    cohort = Cohort.from_key(decision.cohort).as_dict()
    context = module_context(workspace, module, channel, texts, person, locale, cohort, decision.rule)
    return render_module_parts(module_file, channel, context)


def _outputs(channel: Channel, pieces: tuple[Pieces, ...], values: list[str]) -> tuple[str, ...]:
    escaped: list[str] | None = None
    outputs = []
    for part, piece in zip(channel.parts, pieces, strict=True):
        if part.escaped:
            escaped = escaped if escaped is not None else html_values(values)
            outputs.append(fill(piece, escaped))
        else:
            outputs.append(fill(piece, values))
    return tuple(outputs)


def _choice_outputs(workspace: Workspace, choice: _Choice, channel: Channel, viewer: Viewer) -> tuple[str, ...]:
    locale = viewer.resolution.values["locale"]
    values = person_values(workspace, viewer.profile, locale)
    if choice.pieces is not None:
        return _outputs(channel, choice.pieces, values)
    person = dict(zip(workspace.settings.merge_fields, values, strict=True))

    def parts(who: dict[str, str]) -> tuple[str, ...]:
        return _module_parts(workspace, choice.module_file, channel, choice.decision, choice.variant, locale, who)

    return _for_person(workspace, locale, choice.module_file.path, parts, person)


def _for_person(
    workspace: Workspace,
    locale: str,
    path: str,
    render: Callable[[dict[str, str]], tuple[str, ...]],
    person: dict[str, str],
) -> tuple[str, ...]:
    """A template that does more with a merge field than print it, rendered for this person (Jinja, per request).
    Should it fail on their values (``100 // (first_name | length - 3)`` for a Bob), the page is rendered with the
    merge fields' defaults, which lint rendered, rather than answered with a 500; the file is logged once a
    process."""
    try:
        return render(person)
    except Exception as exc:
        if (path, type(exc)) not in _FAILED_FOR_SOMEONE:
            _FAILED_FOR_SOMEONE.add((path, type(exc)))
            log.warning(
                "%s fails for some profiles' merge fields (%s: %s): served with the defaults",
                path,
                type(exc).__name__,
                exc,
            )
        return render(default_person(workspace, locale))


_FAILED_FOR_SOMEONE: set[tuple[str, type]] = set()  # (file, error) already logged by this process


def _named(channel: Channel, outputs: Sequence[str]) -> dict[str, str]:
    return {part.name: output for part, output in zip(channel.parts, outputs, strict=True)}


def render_module(
    workspace: Workspace, release: Release, module_id: str, channel: str, viewer: Viewer
) -> RenderedModule:
    """One module on its own (a cohort fragment, a preview): no consent is asked, as no message is sent."""
    chosen = channel_named(channel)
    module_file = module_for(workspace, module_id, chosen)
    decision, variant = decide(workspace, release, module_file, viewer)
    choice = _choose(workspace, chosen, viewer.resolution.values["locale"], module_file, decision, variant)
    return RenderedModule(module_id, _named(chosen, _choice_outputs(workspace, choice, chosen, viewer)), decision)


def page_pieces(workspace: Workspace, decided: Decided) -> tuple[tuple[_Choice, ...], tuple[Pieces, ...] | None]:
    """Each module's choice, and the page's outputs cut at the merge fields (one per part) when every piece of it
    can be reused: the layout kept whole (``RENDERED``), or the modules joined as a list."""
    channel, locale = decided.channel, decided.locale
    choices = tuple(_choose(workspace, channel, locale, *module) for module in decided.modules)
    if any(c.pieces is None for c in choices):
        return choices, None
    if decided.layout_file is None:
        return choices, _listed(channel, [c.pieces for c in choices if c.pieces is not None])
    layout_file = decided.layout_file
    names = list(workspace.settings.merge_fields)

    def render(marks: Sequence[str]) -> tuple[str, ...]:
        modules = [(c.module_file.module.id, [fill(p, marks) for p in c.pieces or ()]) for c in choices]
        person = dict(zip(names, marks, strict=True))
        return render_layout_parts(workspace, layout_file, channel, locale, person, modules)

    key = ("layout", layout_file.source_hash, channel.name, locale, tuple(c.key for c in choices))
    return choices, RENDERED.get(key, len(names), render)


def _listed(channel: Channel, modules: list[tuple[Pieces, ...]]) -> tuple[Pieces, ...] | None:
    """Modules in a list, each part joined as ``fill_page`` joins them (empty outputs left out); None when whether an
    output is empty depends on the person (its pieces are merge fields only)."""
    joined = []
    for index, part in enumerate(channel.parts):
        shown: list[Pieces] = []
        for pieces in modules:
            piece = pieces[index]
            if any(type(p) is str and p for p in piece):
                shown.append(piece)
            elif piece:  # only merge fields: empty or not by the person's values
                return None
        separator: Pieces = (_separator(part),)
        joined.append(tuple(p for i, piece in enumerate(shown) for p in (separator if i else ()) + piece))
    return tuple(joined)


def _separator(part: Part) -> str:
    return "\n" if part.escaped else "\n\n"


def fill_page(workspace: Workspace, decided: Decided, viewer: Viewer) -> RenderedPage:
    """The page for this viewer: its reusable pieces filled with the person's merge fields, or Jinja where they
    cannot be reused. A message whose size a person's values can push past its channel's limits (``Channel.sized``)
    is judged by those rules and filled with the merge fields' defaults when it breaks them. The example's one-segment
    onboarding SMS went out in 4 segments with a company name of 390 characters, and in 3 with "Łódź Retail Group"
    (one letter outside GSM-7 makes the whole SMS UCS-2, 70 characters a segment), where the workspace allowed 2:
    the sender paid for each. The defaults are what lint and the guardrails measured."""
    page = _filled(workspace, decided, viewer)
    if decided.channel.sized and viewer.profile is not None:
        only = decided.modules[0][0].module if decided.layout_file is None and len(decided.modules) == 1 else None
        if channel_problems(workspace, decided.channel, page.parts, decided.locale, only):
            return _filled(workspace, decided, replace(viewer, profile=None))
    return page


def _filled(workspace: Workspace, decided: Decided, viewer: Viewer) -> RenderedPage:
    channel, locale = decided.channel, decided.locale
    choices, pieces = page_pieces(workspace, decided)
    values = person_values(workspace, viewer.profile, locale)
    person = dict(zip(workspace.settings.merge_fields, values, strict=True))
    if pieces is not None:
        outputs = _outputs(channel, pieces, values)
    else:  # a module or the layout does more with a merge field than print it: Jinja, per request
        modules = [(c.module_file.module.id, _choice_outputs(workspace, c, channel, viewer)) for c in choices]
        layout_file = decided.layout_file
        if layout_file is None:
            outputs = tuple(
                _separator(part).join(out[index] for _, out in modules if out[index])
                for index, part in enumerate(channel.parts)
            )
        else:

            def layout(who: dict[str, str]) -> tuple[str, ...]:
                return render_layout_parts(workspace, layout_file, channel, locale, who, modules)

            outputs = _for_person(workspace, locale, layout_file.path, layout, person)
    subject = None
    if decided.layout_file is not None and channel.subject:
        subject = layout_text(workspace, decided.layout_file.layout.subject, locale, person)
    return RenderedPage(channel, _named(channel, outputs), subject, decided.decisions, decided.arm)


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
            windows[module_id] = viewer.now - cap.window
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
    """One entry point for the CLI and previews: a layout, a module, or several (the render routes answer the same
    page as JSON, prepared once per combination of decisions: ``serving.answer``)."""
    decided = decide_page(workspace, release, viewer, channel=channel, module=module, modules=modules, layout=layout)
    return fill_page(workspace, decided, viewer)
