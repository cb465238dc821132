"""How a module or layout file's blocks are rendered for a channel, given the copy.

The contract between the files marketers write and everything that renders them: the
names a block may use (``MODULE_NAMES``, ``LAYOUT_NAMES``), the context each is given,
and one output per part of the channel. The render path (``variantly.serving.render``)
decides which copy a viewer gets and then renders through here; lint's trial render and
the channel checks on a candidate do the same with defaults or the candidate's copy, so
what lint and the guardrails judge is what a customer is sent.

Generated copy is data (DESIGN invariant 2): slot texts reach templates as plain
strings, so Jinja escapes them in HTML parts and never compiles them. The only
substitution inside copy is the workspace's whitelist of merge fields (``{first_name}``),
by plain replacement.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from variantly.workspace.channels import Channel, RuleInput, merged_limits
from variantly.workspace.files import LayoutFile, ModuleFile, Workspace
from variantly.workspace.images import Picture, PictureRef
from variantly.workspace.models import Layout, Module, localized

MERGE_FIELD = re.compile(r"\{([a-z_]+)\}")
# What a module body may refer to, and a layout's; anything else is a lint error.
MODULE_NAMES = frozenset(
    {"slots", "person", "asset", "picture", "locale", "cohort", "module", "suppression", "channel"}
)
LAYOUT_NAMES = frozenset({"modules", "person", "locale", "title", "subject", "channel"})


def fill_merge_fields(text: str, person: Mapping[str, str]) -> str:
    """Replace whitelisted ``{name}`` fields; anything else stays literal."""
    return MERGE_FIELD.sub(lambda m: person.get(m.group(1), m.group(0)), text)


def header_safe(text: str) -> str:
    """A subject is a header: a line break (or a NUL) from a profile's first name must not start another one."""
    return " ".join(text.replace("\x00", " ").split())


def default_person(workspace: Workspace, locale: str) -> dict[str, str]:
    """Every merge field at its default for ``locale``: who lint and the guardrails render for."""
    return workspace.settings.merge_defaults(locale)


def slot_texts(
    workspace: Workspace,
    module: Module,
    locale: str,
    *,
    rule: str | None = None,
    copy: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The text of every slot: the default, a suppression rule's alternative over it, or the copy given."""
    default_locale = workspace.settings.default_locale
    texts = {name: localized(slot.default, locale, default_locale) or "" for name, slot in module.slots.items()}
    if rule:
        chosen = next(r for r in module.suppress if r.id == rule)
        texts |= {name: localized(text, locale, default_locale) or "" for name, text in chosen.alternative.items()}
    if copy:
        texts |= {k: v for k, v in copy.items() if k in module.slots}
    return texts


def channel_context(workspace: Workspace, channel: Channel, locale: str) -> dict[str, str]:
    """``{{ channel.name }}`` and the texts a channel's messages carry (``{{ channel.opt_out }}``).

    An opt-out text is the locale's own or none: a Swedish SMS that tells the reader to
    "Reply STOP" in English is not an opt-out a Swedish reader can be expected to follow."""
    settings = workspace.settings.channels.get(channel.name)
    opt_out = settings.opt_out if settings else None
    text = opt_out.get(locale) if isinstance(opt_out, dict) else opt_out
    return {"name": channel.name, "opt_out": text or ""}


def module_context(
    workspace: Workspace,
    module: Module,
    channel: Channel,
    texts: Mapping[str, str],
    person: Mapping[str, str],
    locale: str,
    cohort: Mapping[str, str],
    suppression: str | None = None,
) -> dict[str, Any]:
    slots = {name: fill_merge_fields(text, person) for name, text in texts.items()}
    asset = picture = None
    for name, slot in module.slots.items():
        if slot.type == "asset":
            chosen = next((a for a in module.assets if a.id == slots[name]), module.assets[0])
            asset = {"id": chosen.id, "url": chosen.url, "description": chosen.description}
        elif slot.image is not None:
            picture = picture_context(workspace, module, slot.image, texts[name], channel)
    return {
        "slots": slots,
        "person": dict(person),
        "asset": asset,
        "picture": picture,
        "locale": locale,
        "cohort": dict(cohort),
        "module": {"id": module.id, "kind": module.kind},
        "suppression": suppression,
        "channel": channel_context(workspace, channel, locale),
    }


def picture_context(workspace: Workspace, module: Module, spec: Picture, value: str, channel: Channel) -> dict:
    """What a block needs to show a picture: ``src``, ``srcset`` (the fallback format) and ``webp_srcset`` for a
    ``<picture>``, ``sizes``, ``width`` and ``height``. A generated picture is served by content hash at several
    widths; the module's default is one of its assets. A channel read away from the site (email) gets one
    absolute URL in a format every client shows, at ``images.email_width``, and no srcset."""
    images = workspace.settings.images
    base = images.public_base_url.rstrip("/") if channel.absolute_urls else ""
    ref = PictureRef.parse(value)
    if ref is None:
        chosen = next((a for a in module.assets if a.id == value), module.assets[0])
        width, height = spec.width, spec.height
        if channel.absolute_urls:
            width, height = images.email_width, round(spec.height * images.email_width / spec.width)
        return {"generated": False, "src": base + chosen.url, "srcset": "", "webp_srcset": "", "sizes": "",
                "width": width, "height": height, "description": chosen.description}  # fmt: skip
    widths = ref.widths(spec.widths)
    if channel.absolute_urls:
        shown = next((w for w in widths if w >= images.email_width), widths[-1])
        width = min(images.email_width, ref.width)
        return {"generated": True, "src": base + ref.path(shown), "srcset": "", "webp_srcset": "", "sizes": "",
                "width": width, "height": ref.height_at(width), "description": ""}  # fmt: skip
    return {
        "generated": True,
        "src": ref.path(widths[-1]),
        "srcset": ", ".join(f"{ref.path(w)} {w}w" for w in widths),
        "webp_srcset": ", ".join(f"{ref.path(w, 'webp')} {w}w" for w in widths),
        "sizes": spec.sizes,
        "width": ref.width,
        "height": ref.height,
        "description": "",
    }


def render_module_parts(module_file: ModuleFile, channel: Channel, context: Mapping[str, Any]) -> tuple[str, ...]:
    """One output per part of ``channel``, in the registry's order."""
    return tuple(module_file.template.render_block(part.block, context) for part in channel.parts)


def layout_text(workspace: Workspace, text: str | dict[str, str], locale: str, person: Mapping[str, str]) -> str:
    return header_safe(fill_merge_fields(localized(text, locale, workspace.settings.default_locale) or "", person))


def render_layout_parts(
    workspace: Workspace,
    layout_file: LayoutFile,
    channel: Channel,
    locale: str,
    person: Mapping[str, str],
    modules: Sequence[tuple[str, Sequence[str]]],
) -> tuple[str, ...]:
    """The layout around its modules' outputs (module id, one output per part), one output per part.

    Each part of the layout sees the same part of every module: the email's HTML gets the
    modules' HTML (as markup), its text part their text.
    """
    layout: Layout = layout_file.layout
    context = {
        "person": dict(person),
        "locale": locale,
        "title": fill_merge_fields(localized(layout.title, locale, workspace.settings.default_locale) or "", person),
        "subject": layout_text(workspace, layout.subject, locale, person),
        "channel": channel_context(workspace, channel, locale),
    }
    outputs = []
    for index, part in enumerate(channel.parts):
        shown = {module: Markup(out[index]) if part.escaped else out[index] for module, out in modules}
        output = layout_file.template.render_block(part.block, context | {"modules": shown})
        outputs.append(inline_css(output) if part.inline_css else output)
    return tuple(outputs)


def inline_css(html: str) -> str:
    """Email clients drop <style>: each rule is copied onto its tags (the tag stays for clients that keep it)."""
    import css_inline

    return css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False).inline(html)


def render_copy(
    workspace: Workspace,
    module_file: ModuleFile,
    channel: Channel,
    cohort: Mapping[str, str],
    copy: Mapping[str, str] | None = None,
    *,
    rule: str | None = None,
) -> dict[str, str]:
    """The module's message in ``channel`` for a cohort, with ``copy`` over the defaults, for a person
    whose merge fields are all at their defaults: what lint and the channel guardrails judge."""
    locale = cohort.get("locale", workspace.settings.default_locale)
    texts = slot_texts(workspace, module_file.module, locale, rule=rule, copy=copy)
    person = default_person(workspace, locale)
    context = module_context(workspace, module_file.module, channel, texts, person, locale, cohort, rule)
    return dict(zip((p.name for p in channel.parts), render_module_parts(module_file, channel, context), strict=True))


def channel_problems(
    workspace: Workspace, channel: Channel, outputs: Mapping[str, str], locale: str, module: Module | None = None
) -> list[str]:
    """What breaks the channel's own rules in one rendered message (segments, lengths, opt-out, links)."""
    if not channel.rules:
        return []
    given = RuleInput(
        outputs=outputs,
        limits=merged_limits(
            workspace.settings.channels.get(channel.name), module.limits.get(channel.name) if module else None
        ),
        opt_out=channel_context(workspace, channel, locale)["opt_out"] or None,
        allowed_link_domains=tuple(workspace.policy.allowed_link_domains),
        channel=channel.name,
        locale=locale,
        whole=module is None,
    )
    found = [problem for rule in channel.rules for problem in rule.problems(given)]
    return list(dict.fromkeys(found))  # a setting missing for two parts is said once
