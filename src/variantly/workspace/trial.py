"""A workspace is good only if it renders: the trial render that completes lint.

Static checks (``loader.py``, ``checks.py``) find what the files say wrong; only rendering
every module and layout, in every channel and locale, finds a filter applied to a missing
value or a type error in an expression, and only the rendered message can break a
channel's own rules (an SMS over its segments or without its opt-out text, a push title
too long). Modules are rendered with their defaults and with each suppression rule's
alternative; layouts with their modules' defaults; merge fields at their defaults.
"""

from __future__ import annotations

from variantly.errors import Problem
from variantly.workspace.blocks import (
    channel_problems,
    default_person,
    render_copy,
    render_layout_parts,
)
from variantly.workspace.channels import CHANNELS
from variantly.workspace.files import Workspace


def trial_render(workspace: Workspace) -> list[Problem]:
    problems: list[Problem] = []
    for locale in workspace.locales:
        defaults: dict[tuple[str, str], tuple[str, ...]] = {}  # (module, channel) -> outputs, for the layouts
        for module_file in workspace.modules.values():
            module = module_file.module
            for name in module.channels:
                channel = CHANNELS[name]
                for rule in (None, *(r.id for r in module.suppress if r.then == "alternative")):
                    where = locale + (f", suppression '{rule}'" if rule else "")
                    try:
                        outputs = render_copy(workspace, module_file, channel, {"locale": locale}, rule=rule)
                    except Exception as exc:  # any failure here is a marketer-fixable template bug
                        problems.append(
                            Problem(
                                module_file.path, _line_of(exc), 1, f"renders with an error ({name}, {where}): {exc}"
                            )
                        )
                        break
                    if rule is None:
                        defaults[(module.id, name)] = tuple(outputs.values())
                    line = module_file.template.block_line(channel.parts[0].block)
                    for problem in channel_problems(workspace, channel, outputs, locale, module):
                        problems.append(Problem(module_file.path, line, 1, f"{name} message ({where}): {problem}"))
        for layout_file in workspace.layouts.values():
            layout = layout_file.layout
            for name in layout.channels:
                channel = CHANNELS[name]
                if not all((m, name) in defaults for m in layout.modules):
                    continue  # a module of it failed: reported there
                modules = [(m, defaults[(m, name)]) for m in layout.modules]
                try:
                    rendered = render_layout_parts(
                        workspace, layout_file, channel, locale, default_person(workspace, locale), modules
                    )
                except Exception as exc:
                    problems.append(
                        Problem(layout_file.path, _line_of(exc), 1, f"renders with an error ({name}, {locale}): {exc}")
                    )
                    continue
                message = dict(zip((p.name for p in channel.parts), rendered, strict=True))
                line = layout_file.template.block_line(channel.parts[0].block)
                for problem in channel_problems(workspace, channel, message, locale):
                    problems.append(Problem(layout_file.path, line, 1, f"{name} message ({locale}): {problem}"))
    return problems


def _line_of(exc: BaseException) -> int:
    tb = exc.__traceback__
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
