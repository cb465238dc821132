"""YAML that remembers where every value came from.

Lint must point at the line and column of a bad field, and pydantic only tells us the
field's path (``("slots", "headline", "max_chars")``). We compose the YAML node tree,
build plain Python data from it, and keep a map from each path to its position.
"""

from __future__ import annotations

import pathlib
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from variantly.errors import NotText, Problem, WorkspaceError
from variantly.workspace.reading import read_text

Path = tuple[Any, ...]
Model = TypeVar("Model", bound=BaseModel)


class PositionedYAML:
    """Parsed YAML data plus the 1-based (line, col) of every key and value."""

    def __init__(self, data: Any, positions: dict[Path, tuple[int, int]]) -> None:
        self.data = data
        self.positions = positions

    def locate(self, path: Path) -> tuple[int, int]:
        """Position of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))


def _build(node: yaml.Node, path: Path, positions: dict[Path, tuple[int, int]]) -> Any:
    positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            positions[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(value_node, (*path, key), positions)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), positions) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def load_positioned(text: str, *, line_offset: int = 0) -> PositionedYAML:
    """Parse ``text``; raises ``yaml.YAMLError`` with a mark on bad syntax."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    positions: dict[Path, tuple[int, int]] = {}
    data = None if node is None else _build(node, (), positions)
    if line_offset:
        positions = {k: (line + line_offset, col) for k, (line, col) in positions.items()}
    return PositionedYAML(data, positions)


def yaml_syntax_problem(path: str, exc: yaml.YAMLError, *, line_offset: int = 0) -> Problem:
    # An unclosed bracket or quote is noticed where parsing fails, often a line
    # later; the context mark is where the unclosed thing began, which is what to fix.
    context = getattr(exc, "context", None)
    mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
    line, col = (mark.line + 1 + line_offset, mark.column + 1) if mark else (1 + line_offset, 1)
    what = getattr(exc, "problem", None) or str(exc)
    if context:
        what = f"{what} ({context})"
    return Problem(path, line, col, f"YAML syntax error: {what}")


def validation_problems(path: str, doc: PositionedYAML, exc: ValidationError) -> list[Problem]:
    """Turn pydantic errors into positioned lint problems."""
    problems = []
    for err in exc.errors():
        loc = tuple(part for part in err["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        # pydantic adds the union member / tagged type to loc; drop what is not in the data
        line, col = doc.locate(loc)
        field = ".".join(str(p) for p in loc) or "(document)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "value_error":  # our own validator's sentence, without pydantic's "Value error, "
            msg = str(err.get("ctx", {}).get("error", msg))
        problems.append(Problem(path, line, col, f"{field}: {msg}"))
    return problems


def load_model(file: pathlib.Path, model: type[Model]) -> tuple[Model, PositionedYAML, str]:
    """A YAML file as ``model``, its positions and its text (which callers hash); text that is not UTF-8, bad
    syntax or a bad field is a ``WorkspaceError`` naming the file, line and column (the policy and the brand
    guidelines are read this way)."""
    path = str(file)
    try:
        text = read_text(file)
        doc = load_positioned(text)
    except NotText as exc:
        raise WorkspaceError([exc.problem]) from None
    except yaml.YAMLError as exc:
        raise WorkspaceError([yaml_syntax_problem(path, exc)]) from exc
    try:
        return model.model_validate(doc.data or {}), doc, text
    except ValidationError as exc:
        raise WorkspaceError(validation_problems(path, doc, exc)) from exc
