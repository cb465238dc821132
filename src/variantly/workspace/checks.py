"""Lint checks that need more than one file's schema: cross-references and constraints."""

from __future__ import annotations

from collections.abc import Callable

from variantly.errors import Problem
from variantly.workspace.channels import CHANNELS, KNOWN_BLOCKS
from variantly.workspace.files import ModuleFile
from variantly.workspace.models import Audiences, Layout, Module, Settings
from variantly.workspace.rules import references
from variantly.workspace.templates import CompiledTemplate
from variantly.workspace.yamlpos import PositionedYAML


def slot_text_problems(slot_name: str, slot, text: str) -> list[str]:
    """Why ``text`` breaks the slot's own constraints; shared by lint and guardrails."""
    found = []
    if slot.max_chars is not None and len(text) > slot.max_chars:
        found.append(f"slot '{slot_name}' is {len(text)} characters, over its max_chars {slot.max_chars}")
    if slot.min_chars is not None and len(text) < slot.min_chars:
        found.append(f"slot '{slot_name}' is {len(text)} characters, under its min_chars {slot.min_chars}")
    return found


def check_settings(path: str, settings: Settings, doc: PositionedYAML) -> list[Problem]:
    problems = []
    for name, channel in settings.channels.items():
        problems += limit_problems(path, name, channel.max_chars, lambda *loc: doc.locate(("channels", *loc)))
    return problems


def check_merge_field_locales(path: str, settings: Settings, doc: PositionedYAML, locales: list[str]) -> list[Problem]:
    """A merge field's default written per locale, in every locale the audiences have, as a slot's default is: a
    Swedish email to a reader without a first name opened "Hej there," with the English default standing in."""
    return [
        Problem(
            path,
            *doc.locate(("merge_fields", name, "default")),
            f"merge field '{name}' has no default for locale '{locale}'",
        )
        for name, merge in settings.merge_fields.items()
        if isinstance(merge.default, dict)
        for locale in locales
        if locale not in merge.default
    ]


def check_audiences(path: str, audiences: Audiences, doc: PositionedYAML) -> list[Problem]:
    problems = []
    for dim_key, dimension in (
        ("segments", "segment"),
        ("industries", "industry"),
        ("behaviours", "behaviour"),
        ("locales", "locale"),
    ):
        seen: set[str] = set()
        for i, audience in enumerate(audiences.of(dimension)):
            if audience.id in seen:
                line, col = doc.locate((dim_key, i, "id"))
                problems.append(Problem(path, line, col, f"duplicate {dimension} '{audience.id}'"))
            seen.add(audience.id)
            for ref in references(audience.when):
                if not _known(audiences, *ref):
                    line, col = doc.locate((dim_key, i, "when"))
                    problems.append(Problem(path, line, col, f"unknown audience '{ref[0]}.{ref[1]}'"))
    return problems


def _known(audiences: Audiences, dimension: str, ident: str) -> bool:
    return any(a.id == ident for a in audiences.of(dimension))


def check_module(
    path: str,
    module: Module,
    template: CompiledTemplate,
    doc: PositionedYAML,
    audiences: Audiences | None,
    settings: Settings,
) -> list[Problem]:
    problems: list[Problem] = []

    def at(*loc: object) -> tuple[int, int]:
        return doc.locate(loc)

    locales = [a.id for a in audiences.locales] if audiences else [settings.default_locale]
    asset_ids = {a.id for a in module.assets}

    for name, slot in module.slots.items():
        per_locale = isinstance(slot.default, dict)
        for loc in locales:
            text = slot.default.get(loc) if isinstance(slot.default, dict) else slot.default
            where = at("slots", name, "default", loc) if per_locale else at("slots", name, "default")
            if text is None:
                problems.append(Problem(path, *where, f"slot '{name}' has no default for locale '{loc}'"))
                continue
            if slot.type in ("asset", "image"):
                if text not in asset_ids:
                    problems.append(
                        Problem(
                            path,
                            *where,
                            f"slot '{name}' default '{text}' is not one of the module's assets"
                            f" ({', '.join(sorted(asset_ids)) or 'none'})",
                        )
                    )
                continue
            for message in slot_text_problems(name, slot, text):
                problems.append(Problem(path, *where, f"default ({loc}) breaks its own constraint: {message}"))
        if slot.min_chars is not None and slot.max_chars is not None and slot.min_chars > slot.max_chars:
            problems.append(
                Problem(path, *at("slots", name, "min_chars"), f"slot '{name}' min_chars is greater than max_chars")
            )
    if module.kind == "image" and not any(s.type in ("asset", "image") for s in module.slots.values()):
        problems.append(Problem(path, *at("slots"), "an image module needs a slot with 'type: asset' or 'type: image'"))
    if any(s.type in ("asset", "image") for s in module.slots.values()) and not module.assets:
        problems.append(
            Problem(path, *at("slots"), "an asset or image slot needs an 'assets' list (its default is one of them)")
        )
    problems += _picture_problems(path, module, at, settings)

    for i, rule in enumerate(module.suppress):
        for ref in references(rule.when):
            if audiences is not None and not _known(audiences, *ref):
                problems.append(Problem(path, *at("suppress", i, "when"), f"unknown audience '{ref[0]}.{ref[1]}'"))
        for slot_name in rule.alternative:
            if slot_name not in module.slots:
                problems.append(
                    Problem(
                        path,
                        *at("suppress", i, "alternative", slot_name),
                        f"alternative names slot '{slot_name}', which the module does not have",
                    )
                )
    for name, limits in module.limits.items():
        if name not in module.channels:
            problems.append(
                Problem(path, *at("limits", name), f"limits for {name}, which is not one of the module's channels")
            )
        problems += limit_problems(path, name, limits.max_chars, lambda *loc: at("limits", *loc))
    problems += _block_problems(path, module.channels, template, at("channels"))
    return problems


def limit_problems(
    path: str, channel: str, max_chars: dict[str, int], at: Callable[..., tuple[int, int]]
) -> list[Problem]:
    """``max_chars`` may only name parts the channel has."""
    parts = [p.name for p in CHANNELS[channel].parts]
    return [
        Problem(path, *at(channel, "max_chars", part), f"{channel} has no part '{part}' (parts: {', '.join(parts)})")
        for part in max_chars
        if part not in parts
    ]


def check_layout(
    path: str,
    layout: Layout,
    template: CompiledTemplate,
    doc: PositionedYAML,
    modules: dict[str, ModuleFile],
    broken: set[str],
) -> list[Problem]:
    """``broken`` names modules whose own file has problems: already reported there."""
    problems: list[Problem] = []
    for i, module_id in enumerate(layout.modules):
        line, col = doc.locate(("modules", i))
        if module_id in broken:
            continue
        if module_id not in modules:
            problems.append(
                Problem(path, line, col, f"unknown module '{module_id}' (modules: {', '.join(sorted(modules))})")
            )
            continue
        for channel in layout.channels:
            if channel not in modules[module_id].module.channels:
                problems.append(
                    Problem(path, line, col, f"module '{module_id}' has no {channel} channel, which this layout needs")
                )
    for channel in layout.channels:
        if CHANNELS[channel].subject and not layout.subject:
            problems.append(
                Problem(path, *doc.locate(("channels",)), f"a layout with the {channel} channel needs a 'subject'")
            )
    problems += _block_problems(path, layout.channels, template, doc.locate(("channels",)))
    return problems


def _block_problems(
    path: str, channels: list[str], template: CompiledTemplate, where: tuple[int, int]
) -> list[Problem]:
    problems = []
    for channel in channels:
        for block in CHANNELS[channel].blocks:
            if block not in template.blocks:
                problems.append(
                    Problem(path, *where, f"channel '{channel}' needs a '{{% block {block} %}}' in the body")
                )
    for block in sorted(template.blocks - KNOWN_BLOCKS):
        line = template.block_line(block)
        problems.append(Problem(path, line, 1, f"unknown block '{block}' (blocks: {', '.join(sorted(KNOWN_BLOCKS))})"))
    return problems


def _picture_problems(
    path: str, module: Module, at: Callable[..., tuple[int, int]], settings: Settings
) -> list[Problem]:
    """A generated image slot: at most one, its alt text a text slot of the module, its references its assets, and
    in a channel read away from the site (email) a public base URL to fetch it from."""
    pictures = [(name, slot.image) for name, slot in module.slots.items() if slot.image is not None]
    problems = []
    away = [c for c in module.channels if CHANNELS[c].absolute_urls]
    if pictures and away and not settings.images.public_base_url:
        problems.append(
            Problem(
                path,
                *at("channels"),
                f"a picture sent by {', '.join(away)} needs an absolute URL: set images.public_base_url in "
                "variantly.yml (where mail clients fetch /assets/...)",
            )
        )
    if len(pictures) > 1:
        problems.append(Problem(path, *at("slots"), "a module generates one picture: one slot with 'type: image'"))
    for name, picture in pictures:
        alt = module.slots.get(picture.alt_slot)
        if alt is None or not alt.is_text:
            problems.append(
                Problem(
                    path,
                    *at("slots", name, "image"),
                    f"slot '{name}' names '{picture.alt_slot}' as its alt text: add a text slot of that name",
                )
            )
        urls = {a.url.rsplit("/", 1)[-1] for a in module.assets}
        for i, reference in enumerate(picture.references):
            if not reference.lower().endswith((".png", ".jpg", ".jpeg", ".webp")):
                problems.append(
                    Problem(
                        path,
                        *at("slots", name, "image", "references", i),
                        f"reference '{reference}' must be a PNG, JPEG or WebP file (what the image models take)",
                    )
                )
            elif reference not in urls:
                problems.append(
                    Problem(
                        path,
                        *at("slots", name, "image", "references", i),
                        f"reference '{reference}' is not one of the module's asset files ({', '.join(sorted(urls))})",
                    )
                )
    return problems
