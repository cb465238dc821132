"""Load and statically check a workspace: every problem found, each with ``path:line:col``.

Loading and checking are the same walk. ``workspace_problems`` collects every problem
rather than stopping at the first, because a marketer fixing a file wants the whole
list; ``load_workspace`` raises ``WorkspaceError`` with that list. The trial render
that completes lint is the render path's (``variantly.serving.trial``), so this
package never imports the render code.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from variantly.errors import Problem, WorkspaceError
from variantly.workspace import checks
from variantly.workspace.models import Audiences, Layout, Module, Settings
from variantly.workspace.policy import Policy, load_policy
from variantly.workspace.templates import (
    CompiledTemplate,
    FrontMatterMissing,
    SourceFile,
    check_names,
    compile_body,
    split_front_matter,
)
from variantly.workspace.yamlpos import PositionedYAML, load_positioned, validation_problems, yaml_syntax_problem

SETTINGS_FILE = "variantly.yml"
AUDIENCES_FILE = "audiences.yml"
MODULE_GLOB = "modules/*.jinja"
LAYOUT_GLOB = "modules/layouts/*.jinja"

M = TypeVar("M", bound=BaseModel)

# What a module body may refer to; anything else is a lint error.
MODULE_NAMES = {"slots", "person", "asset", "locale", "cohort", "module", "suppression"}


@dataclass
class ModuleFile:
    module: Module
    template: CompiledTemplate
    path: str
    content_hash: str  # the copy's inputs: variants made for another hash are stale
    source_hash: str = ""  # everything in the file: what its rendered output depends on


@dataclass
class LayoutFile:
    layout: Layout
    template: CompiledTemplate
    path: str
    source_hash: str = ""


def source_hash(model: BaseModel, template: CompiledTemplate) -> str:
    return hashlib.sha256((model.model_dump_json() + "\0" + template.source).encode()).hexdigest()[:20]


@dataclass
class Workspace:
    root: Path
    settings: Settings
    audiences: Audiences
    modules: dict[str, ModuleFile] = field(default_factory=dict)
    layouts: dict[str, LayoutFile] = field(default_factory=dict)
    fingerprint: str = ""
    policy: Policy = field(default_factory=Policy)
    policy_hash: str = ""

    @property
    def locales(self) -> list[str]:
        return [a.id for a in self.audiences.locales]


def fingerprint(root: Path) -> str:
    """Cheap change detector over the files a workspace is made of (names, sizes, mtimes)."""
    digest = hashlib.sha256()
    for path in sorted(workspace_files(root)):
        try:
            st = path.stat()
        except OSError:
            continue
        digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def workspace_files(root: Path) -> list[Path]:
    """The files a workspace is made of (what a change detector and a snapshot look at)."""
    files = [root / SETTINGS_FILE, root / AUDIENCES_FILE, root / "guardrails" / "policy.yml"]
    files += root.glob(MODULE_GLOB)
    files += root.glob(LAYOUT_GLOB)
    files += root.glob("prompts/*.jinja")
    files += root.glob("guardrails/*.py")
    return [f for f in files if f.exists()]


def load_workspace(root: str | os.PathLike[str]) -> Workspace:
    workspace, problems = workspace_problems(root)
    if problems or workspace is None:
        raise WorkspaceError(problems)
    return workspace


def workspace_problems(root: str | os.PathLike[str]) -> tuple[Workspace | None, list[Problem]]:
    """Lint the workspace at ``root``; returns it only when there are no problems."""
    root = Path(root)
    stamp = fingerprint(root)
    problems: list[Problem] = []
    if not (root / "modules").is_dir():
        return None, [Problem(str(root / "modules"), 1, 1, "no modules/ folder: is this a workspace?")]

    settings = _load_yaml_model(root, SETTINGS_FILE, Settings, problems, required=False)[0] or Settings()
    audiences, audiences_doc = _load_yaml_model(root, AUDIENCES_FILE, Audiences, problems, required=True)
    if audiences is not None and audiences_doc is not None:
        problems += checks.check_audiences(_rel(root, root / AUDIENCES_FILE), audiences, audiences_doc)

    modules: dict[str, ModuleFile] = {}
    broken: set[str] = set()  # files that failed: layouts must not report them again
    for path in sorted(root.glob(MODULE_GLOB)):
        rel = _rel(root, path)
        module, template, ast, doc = _load_template_file(root, path, Module, problems)
        if module is None or template is None or ast is None or doc is None:
            broken.add(path.stem)
            raw_slots = doc.data.get("slots") if doc is not None and isinstance(doc.data, dict) else None
            if ast is not None and isinstance(raw_slots, dict):  # still report the body's mistakes
                problems += check_names(rel, ast, MODULE_NAMES, {"slots": set(raw_slots)})
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
        problems += check_names(rel, ast, MODULE_NAMES, {"slots": set(module.slots)})
        problems += checks.check_module(rel, module, template, doc, audiences, settings)
        modules[module.id] = ModuleFile(module, template, rel, module.content_hash(), source_hash(module, template))

    layouts: dict[str, Any] = {}
    for path in sorted(root.glob(LAYOUT_GLOB)):
        rel = _rel(root, path)
        layout, template, ast, doc = _load_template_file(root, path, Layout, problems)
        if layout is None or template is None or ast is None or doc is None:
            continue
        problems += check_names(
            rel, ast, {"modules", "person", "locale", "title", "subject"}, {"modules": set(layout.modules)}
        )
        problems += checks.check_layout(rel, layout, template, doc, modules, broken)
        layouts[layout.id] = LayoutFile(layout, template, rel, source_hash(layout, template))

    try:
        policy, policy_hash = load_policy(root)
    except WorkspaceError as exc:
        problems += exc.problems
        policy, policy_hash = Policy(), ""
    problems += _prompt_problems(root)

    if problems or audiences is None:
        return None, problems
    return Workspace(root, settings, audiences, modules, layouts, stamp, policy, policy_hash), []


def _prompt_problems(root: Path) -> list[Problem]:
    """Prompt templates are workspace files too: a syntax error fails lint, not a paid run."""
    from jinja2 import TemplateSyntaxError

    from variantly.workspace.templates import TEXT_ENV

    problems = []
    for path in sorted((root / "prompts").glob("*.jinja")):
        try:
            TEXT_ENV.parse(path.read_text(encoding="utf-8"))
        except TemplateSyntaxError as exc:
            problems.append(Problem(_rel(root, path), exc.lineno or 1, 1, f"Jinja syntax error: {exc.message}"))
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
        doc = load_positioned(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        problems.append(yaml_syntax_problem(rel, exc))
        return None, None
    except UnicodeDecodeError as exc:
        problems.append(Problem(rel, 1, 1, f"not UTF-8 text: {exc.reason}"))
        return None, None
    return _parse_model(rel, doc, model, problems), doc


def _load_template_file(
    root: Path, path: Path, model: type[M], problems: list[Problem]
) -> tuple[M | None, CompiledTemplate | None, Any, PositionedYAML | None]:
    """Parse front matter and body; whatever could be loaded is returned for more checks."""
    rel = _rel(root, path)
    try:
        source: SourceFile = split_front_matter(rel, path.read_text(encoding="utf-8"))
    except FrontMatterMissing as exc:
        problems.append(exc.problem)
        return None, None, None, None
    except UnicodeDecodeError as exc:
        problems.append(Problem(rel, 1, 1, f"not UTF-8 text: {exc.reason}"))
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
