"""Load and check a workspace: every problem found, each with ``path:line:col``.

Loading and checking are the same walk. ``lint_workspace`` collects every problem
rather than stopping at the first, because a marketer fixing a file wants the whole
list: first what the files say wrong (``workspace_problems``: schemas, references,
names, blocks), then what only rendering finds (``trial.trial_render``).
``load_workspace``, which every command and every render process uses, raises
``WorkspaceError`` with that list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from variantly.errors import NotText, Problem, WorkspaceError
from variantly.workspace import checks, written_copy
from variantly.workspace.blocks import LAYOUT_NAMES, MODULE_NAMES
from variantly.workspace.brand import BrandGuidelines, load_brand
from variantly.workspace.files import (
    AUDIENCES_FILE,
    LAYOUT_GLOB,
    MODULE_GLOB,
    PROMPT_GLOB,
    SETTINGS_FILE,
    LayoutFile,
    ModuleFile,
    Workspace,
    fingerprint,
    source_hash,
)
from variantly.workspace.models import Audiences, Layout, Module, Settings
from variantly.workspace.policy import Policy, load_policy
from variantly.workspace.reading import read_text
from variantly.workspace.templates import (
    CompiledTemplate,
    FrontMatterMissing,
    SourceFile,
    check_names,
    compile_body,
    split_front_matter,
)
from variantly.workspace.yamlpos import PositionedYAML, load_positioned, validation_problems, yaml_syntax_problem

M = TypeVar("M", bound=BaseModel)


def load_workspace(root: str | os.PathLike[str]) -> Workspace:
    """The workspace at ``root``, or ``WorkspaceError`` listing every problem."""
    workspace, problems = lint_workspace(root)
    if problems or workspace is None:
        raise WorkspaceError(problems)
    return workspace


def lint_workspace(root: str | os.PathLike[str]) -> tuple[Workspace | None, list[Problem]]:
    """Every problem in the workspace at ``root``; the workspace only when there are none."""
    from variantly.workspace.trial import trial_render

    workspace, problems = workspace_problems(root)
    if workspace is None:
        return None, problems
    problems = trial_render(workspace)
    return (None, problems) if problems else (workspace, [])


def load_last_good(root: str | os.PathLike[str]) -> tuple[Workspace, list[Problem]]:
    """A copy that linted when it was saved (``serving.snapshot``), with what it breaks now. It may break only rules
    added since, by an upgrade (an email layout without an unsubscribe line): a node restarted on it still serves
    it, as it did before, rather than refuse to start. ``WorkspaceError`` only when it cannot be built at all."""
    return load_as_it_is(root)


def load_as_it_is(root: str | os.PathLike[str]) -> tuple[Workspace, list[Problem]]:
    """The workspace whatever lint says of it, with what lint says: for what reads a workspace rather than serves or
    writes copy from it (a lift report needs the modules and the currency, not copy that lints). ``WorkspaceError``
    only when its files cannot be built into one at all."""
    from variantly.workspace.trial import trial_render

    workspace, problems = workspace_problems(root, keep_going=True)
    if workspace is None:
        raise WorkspaceError(problems)
    return workspace, problems + trial_render(workspace)


def workspace_problems(
    root: str | os.PathLike[str], *, keep_going: bool = False
) -> tuple[Workspace | None, list[Problem]]:
    """What the files say wrong, without rendering; returns the workspace only when there is nothing (or, with
    ``keep_going``, whenever every file could be read, with what the checks say)."""
    root = Path(root)
    stamp = fingerprint(root)
    problems: list[Problem] = []
    if not (root / "modules").is_dir():
        return None, [Problem(str(root / "modules"), 1, 1, "no modules/ folder: is this a workspace?")]

    settings, settings_doc = _load_yaml_model(root, SETTINGS_FILE, Settings, problems, required=False)
    read_whole = not problems  # with keep_going, a file that cannot be read still fails: no default stands in
    try:  # first: the copy every file writes is held to it
        policy, policy_hash = load_policy(root)
    except WorkspaceError as exc:
        problems += exc.problems
        policy, policy_hash, read_whole = Policy(), "", False
    if settings is not None and settings_doc is not None:
        rel = _rel(root, root / SETTINGS_FILE)
        problems += checks.check_settings(rel, settings, settings_doc)
        if policy_hash:  # a policy that cannot be read holds nothing to a test (its problems say why)
            problems += written_copy.settings_copy_problems(rel, settings, settings_doc, policy)
    settings = settings or Settings()
    audiences, audiences_doc = _load_yaml_model(root, AUDIENCES_FILE, Audiences, problems, required=True)
    if audiences is not None and audiences_doc is not None:
        problems += checks.check_audiences(_rel(root, root / AUDIENCES_FILE), audiences, audiences_doc)
        if settings_doc is not None:
            locales = [a.id for a in audiences.locales] or [settings.default_locale]
            problems += checks.check_merge_field_locales(
                _rel(root, root / SETTINGS_FILE), settings, settings_doc, locales
            )

    modules: dict[str, ModuleFile] = {}
    broken: set[str] = set()  # files that failed: layouts must not report them again
    for path in sorted(root.glob(MODULE_GLOB)):
        rel = _rel(root, path)
        module, template, ast, doc = _load_template_file(root, path, Module, problems)
        if module is None or template is None or ast is None or doc is None:
            broken.add(path.stem)
            raw_slots = doc.data.get("slots") if doc is not None and isinstance(doc.data, dict) else None
            if ast is not None and isinstance(raw_slots, dict):  # still report the body's mistakes
                problems += check_names(rel, ast, set(MODULE_NAMES), {"slots": set(raw_slots)})
            continue
        if module.id in modules:
            line, col = doc.locate(("id",))
            problems.append(
                Problem(rel, line, col, f"duplicate module id '{module.id}' (also in {modules[module.id].path})")
            )
            continue
        if module.id != path.stem:
            line, col = doc.locate(("id",))
            problems.append(Problem(rel, line, col, f"module id '{module.id}' must match the file name '{path.stem}'"))
        problems += check_names(rel, ast, set(MODULE_NAMES), {"slots": set(module.slots)})
        problems += checks.check_module(rel, module, template, doc, audiences, settings)
        if policy_hash:
            problems += written_copy.module_copy_problems(rel, module, doc, ast, policy, settings, audiences)
        modules[module.id] = ModuleFile(module, template, rel, module.content_hash(), source_hash(module, template))

    layouts: dict[str, LayoutFile] = {}
    for path in sorted(root.glob(LAYOUT_GLOB)):
        rel = _rel(root, path)
        layout, template, ast, doc = _load_template_file(root, path, Layout, problems)
        if layout is None or template is None or ast is None or doc is None:
            read_whole = False
            continue
        problems += check_names(rel, ast, set(LAYOUT_NAMES), {"modules": set(layout.modules)})
        problems += checks.check_layout(rel, layout, template, doc, modules, broken)
        if policy_hash:
            problems += written_copy.layout_copy_problems(rel, layout, doc, ast, policy, settings)
        layouts[layout.id] = LayoutFile(layout, template, rel, source_hash(layout, template))

    if policy_hash:
        for file in sorted((root / "modules" / "assets").glob("*.svg")):
            problems += written_copy.picture_copy_problems(_rel(root, file), file, policy)
    try:
        brand, brand_hash = load_brand(root)
    except WorkspaceError as exc:
        problems += exc.problems
        brand, brand_hash, read_whole = BrandGuidelines(), "", False
    problems += _prompt_problems(root)

    if audiences is None or (problems and not (keep_going and read_whole and not broken)):
        return None, problems
    workspace = Workspace(root, settings, audiences, modules, layouts, stamp, policy, policy_hash, brand, brand_hash)
    return workspace, problems


def _prompt_problems(root: Path) -> list[Problem]:
    """Prompt templates are workspace files too: a syntax error fails lint, not a paid run."""
    from jinja2 import TemplateSyntaxError

    from variantly.workspace.templates import TEXT_ENV

    problems = []
    for path in sorted(root.glob(PROMPT_GLOB)):
        try:
            TEXT_ENV.parse(read_text(path, _rel(root, path)))
        except TemplateSyntaxError as exc:
            problems.append(Problem(_rel(root, path), exc.lineno or 1, 1, f"Jinja syntax error: {exc.message}"))
        except NotText as exc:
            problems.append(exc.problem)
    return problems


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _parse_model(rel: str, doc: PositionedYAML, model: type[M], problems: list[Problem]) -> M | None:
    try:
        return model.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        problems.extend(validation_problems(rel, doc, exc))
        return None


def _load_yaml_model(
    root: Path, name: str, model: type[M], problems: list[Problem], *, required: bool
) -> tuple[M | None, PositionedYAML | None]:
    path = root / name
    rel = _rel(root, path)
    if not path.exists():
        if required:
            problems.append(Problem(rel, 1, 1, f"missing {name}: the workspace needs one"))
        return None, None
    try:
        doc = load_positioned(read_text(path, rel))
    except yaml.YAMLError as exc:
        problems.append(yaml_syntax_problem(rel, exc))
        return None, None
    except NotText as exc:
        problems.append(exc.problem)
        return None, None
    return _parse_model(rel, doc, model, problems), doc


def _load_template_file(
    root: Path, path: Path, model: type[M], problems: list[Problem]
) -> tuple[M | None, CompiledTemplate | None, Any, PositionedYAML | None]:
    """Parse front matter and body; whatever could be loaded is returned for more checks."""
    rel = _rel(root, path)
    try:
        source: SourceFile = split_front_matter(rel, read_text(path, rel))
    except (FrontMatterMissing, NotText) as exc:
        problems.append(exc.problem)
        return None, None, None, None
    template, ast, template_problems = compile_body(source)
    problems.extend(template_problems)
    try:
        doc = load_positioned(source.front_matter, line_offset=source.front_matter_line - 1)
    except yaml.YAMLError as exc:
        problems.append(yaml_syntax_problem(rel, exc, line_offset=source.front_matter_line - 1))
        return None, template, ast, None
    parsed = _parse_model(rel, doc, model, problems)
    return parsed, template, ast, doc
