"""A workspace is good only if it renders: the trial render that completes lint.

Static checks (``variantly.workspace``) find what the files say wrong; only rendering
every module and layout, in every channel and locale, finds a filter applied to a
missing value or a type error in an expression. The render path owns that check, so
the workspace package never imports the render code. Lint, every command that loads
a workspace and every render process go through ``load_checked_workspace``.
"""

from __future__ import annotations

import os

from variantly.errors import Problem, WorkspaceError
from variantly.serving.render import render_layout_defaults, render_module_defaults
from variantly.workspace import Workspace, workspace_problems


def lint_workspace(root: str | os.PathLike[str]) -> tuple[Workspace | None, list[Problem]]:
    """Every problem in the workspace at ``root``; the workspace only when there are none."""
    workspace, problems = workspace_problems(root)
    if workspace is None:
        return None, problems
    problems = trial_render(workspace)
    return (None, problems) if problems else (workspace, [])


def load_checked_workspace(root: str | os.PathLike[str]) -> Workspace:
    """The workspace at ``root``, or ``WorkspaceError`` listing every problem."""
    workspace, problems = lint_workspace(root)
    if workspace is None:
        raise WorkspaceError(problems)
    return workspace


def trial_render(workspace: Workspace) -> list[Problem]:
    """Render every module and layout with its defaults in every channel and locale.

    Catches what static checks cannot (a filter on a missing value, a type error in
    an expression) before a customer's request does.
    """
    problems = []
    for locale in workspace.locales:
        for module_file in workspace.modules.values():
            for channel in module_file.module.channels:
                try:
                    render_module_defaults(workspace, module_file.module.id, channel, locale)
                except Exception as exc:  # any failure here is a marketer-fixable template bug
                    problems.append(
                        Problem(
                            module_file.path, _line_of(exc), 1, f"renders with an error ({channel}, {locale}): {exc}"
                        )
                    )
        for layout_file in workspace.layouts.values():
            for channel in layout_file.layout.channels:
                try:
                    render_layout_defaults(workspace, layout_file.layout.id, channel, locale)
                except Exception as exc:
                    problems.append(
                        Problem(
                            layout_file.path, _line_of(exc), 1, f"renders with an error ({channel}, {locale}): {exc}"
                        )
                    )
    return problems


def _line_of(exc: BaseException) -> int:
    tb = exc.__traceback__
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
