"""Module and layout files: YAML front matter plus Jinja blocks, one per channel part.

The front matter is replaced by blank lines before Jinja compiles the body, so a Jinja
error's line number is the line in the file. Each body is compiled twice: autoescaped
for HTML blocks, plain for text parts (an email's text, an SMS, a push title: escaping
``&`` there would be a bug, and values are data either way: they are never compiled).
Which blocks are text is the channel registry's to say (``channels.TEXT_BLOCKS``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from variantly.errors import Problem
from variantly.workspace.channels import TEXT_BLOCKS


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


HTML_ENV = _environment(autoescape=True)
TEXT_ENV = _environment(autoescape=False)


@dataclass(frozen=True)
class SourceFile:
    """A file split into its front matter and its Jinja body."""

    path: str
    front_matter: str
    front_matter_line: int  # 1-based line where the front matter text starts
    body: str  # same line count as the file: front matter blanked out


def split_front_matter(path: str, text: str) -> SourceFile:
    """Split ``---`` delimited front matter from the body; raises Problem list on failure."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise FrontMatterMissing(Problem(path, 1, 1, "file must start with '---' and YAML front matter"))
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            front = "".join(lines[1:i])
            body = "\n" * (i + 1) + "".join(lines[i + 1 :])
            return SourceFile(path, front, 2, body)
    raise FrontMatterMissing(Problem(path, 1, 1, "front matter is not closed: add a line '---' after it"))


class FrontMatterMissing(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class CompiledTemplate:
    """The blocks of one module or layout file, ready to render."""

    html: Any
    text: Any
    source: str

    @property
    def blocks(self) -> set[str]:
        return set(self.html.blocks)

    def block_line(self, block: str) -> int:
        """The line of the file where ``{% block NAME %}`` starts (1 if it is not there)."""
        match = re.search(r"{%-?\s*block\s+" + re.escape(block) + r"\b", self.source)
        return self.source.count("\n", 0, match.start()) + 1 if match else 1

    def render_block(self, block: str, context: Mapping[str, Any]) -> str:
        template = self.text if block in TEXT_BLOCKS else self.html
        render = template.blocks[block]
        return "".join(render(template.new_context(dict(context)))).strip()


def compile_body(source: SourceFile) -> tuple[CompiledTemplate | None, nodes.Template | None, list[Problem]]:
    """Compile the body in both environments; a syntax error becomes a positioned problem."""
    try:
        ast = HTML_ENV.parse(source.body, filename=source.path)
        html = HTML_ENV.from_string(source.body)
        text = TEXT_ENV.from_string(source.body)
    except TemplateSyntaxError as exc:
        return None, None, [Problem(source.path, exc.lineno or 1, 1, f"Jinja syntax error: {exc.message}")]
    return CompiledTemplate(html, text, source.body), ast, []


def check_names(
    path: str,
    ast: nodes.Template,
    allowed_names: set[str],
    attributes: Mapping[str, set[str]],
) -> list[Problem]:
    """Names a template uses that the file does not provide, with their lines.

    ``attributes`` maps an object (``slots``, ``modules``, ``person``) to the attribute
    names it has, so ``{{ slots.headlin }}`` is caught at lint time, not at render.
    """
    problems: list[Problem] = []
    undeclared = meta.find_undeclared_variables(ast)
    for name in sorted(undeclared - allowed_names):
        line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == name), 1)
        problems.append(
            Problem(path, line, 1, f"unknown variable '{name}' (available: {', '.join(sorted(allowed_names))})")
        )
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node  # type: ignore[attr-defined]  # both node types have one
        if not isinstance(target, nodes.Name) or target.name not in attributes:
            continue
        if isinstance(node, nodes.Getattr):
            attr = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            attr = node.arg.value
        else:
            continue
        known = attributes[target.name]
        if attr not in known:
            problems.append(
                Problem(
                    path,
                    node.lineno,
                    1,
                    f"undefined {target.name[:-1] if target.name.endswith('s') else target.name}"
                    f" '{attr}' in {target.name}.{attr} (defined: {', '.join(sorted(known)) or 'none'})",
                )
            )
    return problems
