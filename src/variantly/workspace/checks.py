"""Lint checks that need more than one file's schema: cross-references and constraints."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from variantly.errors import Problem
from variantly.workspace.models import CHANNEL_BLOCKS, Audiences, Layout, Module, Settings
from variantly.workspace.rules import references
from variantly.workspace.templates import KNOWN_BLOCKS, CompiledTemplate
from variantly.workspace.yamlpos import PositionedYAML

if TYPE_CHECKING:
    from variantly.workspace.loader import ModuleFile


def slot_text_problems(slot_name: str, slot, text: str) -> list[str]:
    """Why ``text`` breaks the slot's own constraints; shared by lint and guardrails."""
    found = []
    if slot.max_chars is not None and len(text) > slot.max_chars:
        found.append(f"slot '{slot_name}' is {len(text)} characters, over its max_chars {slot.max_chars}")
    if slot.min_chars is not None and len(text) < slot.min_chars:
        found.append(f"slot '{slot_name}' is {len(text)} characters, under its min_chars {slot.min_chars}")
    return found


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
            if slot.type == "asset":
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
    if module.kind == "image" and not any(s.type == "asset" for s in module.slots.values()):
        problems.append(Problem(path, *at("slots"), "an image module needs a slot with 'type: asset'"))
    if any(s.type == "asset" for s in module.slots.values()) and not module.assets:
        problems.append(Problem(path, *at("slots"), "a slot with 'type: asset' needs an 'assets' list to choose from"))

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
    problems += _block_problems(path, module.channels, template, at("channels"))
    return problems


def check_layout(
    path: str,
    layout: Layout,
    template: CompiledTemplate,
    doc: PositionedYAML,
    modules: dict[str, ModuleFile],
    broken: set[str],
) -> list[Problem]:
    """``broken`` names modules whose own file has problems: already reported there."""
    problems = []
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
    if "email" in layout.channels and not layout.subject:
        problems.append(Problem(path, *doc.locate(("channels",)), "an email layout needs a 'subject'"))
    problems += _block_problems(path, layout.channels, template, doc.locate(("channels",)))
    return problems


def _block_problems(
    path: str, channels: list[str], template: CompiledTemplate, where: tuple[int, int]
) -> list[Problem]:
    problems = []
    for channel in channels:
        for block in CHANNEL_BLOCKS[channel]:
            if block not in template.blocks:
                problems.append(
                    Problem(path, *where, f"channel '{channel}' needs a '{{% block {block} %}}' in the body")
                )
    for block in sorted(template.blocks - KNOWN_BLOCKS):
        line = _block_line(template, block)
        problems.append(Problem(path, line, 1, f"unknown block '{block}' (blocks: {', '.join(sorted(KNOWN_BLOCKS))})"))
    return problems


def _block_line(template: CompiledTemplate, block: str) -> int:
    match = re.search(r"{%-?\s*block\s+" + re.escape(block) + r"\b", template.source)
    return template.source.count("\n", 0, match.start()) + 1 if match else 1
