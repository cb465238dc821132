"""The tree shows the two paths: each package imports only from the layers below it.

Read statically from the source, so a lazy import inside a function counts too: the
serving path must not reach the authoring or generation code even on a rare branch.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "src" / "variantly"

# package -> packages (and top-level modules) of variantly it must never import
ABOVE_THE_LIBRARY = ("checkers", "api", "web", "cli")
FORBIDDEN = {
    "workspace": ("serving", "authoring", "generation", "reporting", "privacy", "store", *ABOVE_THE_LIBRARY),
    "store": ("serving", "authoring", "generation", "reporting", "privacy", *ABOVE_THE_LIBRARY),
    "serving": ("authoring", "generation", "reporting", "privacy", *ABOVE_THE_LIBRARY),
    "privacy": ("authoring", "generation", "reporting", *ABOVE_THE_LIBRARY),
    "authoring": ("generation", *ABOVE_THE_LIBRARY),
    "reporting": ("serving", "authoring", "generation", *ABOVE_THE_LIBRARY),
    "generation": ("api", "web", "cli"),
    # the thin layers: the UI and the API share the library (and checkers.py), never each other's routes
    "web": ("api", "cli", "generation"),
    "api": ("cli",),
}


def imported_variantly_packages(path: Path) -> set[str]:
    """The first-level variantly packages a module imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "variantly" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_package_imports_only_from_the_layers_below(package: str) -> None:
    offences = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        bad = imported_variantly_packages(path) & set(FORBIDDEN[package])
        if bad:
            offences.append(f"{path.relative_to(REPO)} imports variantly.{', variantly.'.join(sorted(bad))}")
    assert not offences, "\n".join(offences)


def test_the_checker_sees_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from variantly.generation.wiring import runner\n")
    assert imported_variantly_packages(module) == {"generation"}


def readme_module_map() -> list[str]:
    """``package/module.py`` for every module line of the README's tree, in order."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    tree = readme[readme.index("## Development") :].split("```")[1]
    listed, package = [], ""
    for line in tree.splitlines():
        name = line.split()[0] if line.strip() else ""
        indent = len(line) - len(line.lstrip())
        if name.endswith("/"):
            package = name if indent >= 2 else ""
        elif name.endswith(".py"):
            listed.append(f"{package}{name}" if indent >= 4 else name)
    return listed


def test_every_module_is_in_the_readme_map_once() -> None:
    actual = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") and "migrations" not in p.parts
    )
    listed = readme_module_map()
    assert sorted(set(listed)) == actual
    assert len(listed) == len(set(listed)), "a module is listed twice"


def module_imports() -> dict[str, set[str]]:
    """Every variantly module and the variantly modules it imports, anywhere in the file (lazy imports too)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                    for a in node.names
                }
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = found & set(modules)
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or around a loop (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for other in graph[name]:
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return circles


def test_no_module_imports_itself_around_a_circle() -> None:
    assert import_circles(module_imports()) == []


def test_the_circle_finder_sees_a_lazy_circle() -> None:
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
