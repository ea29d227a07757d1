"""Code boundaries: a domain package never imports another domain's package (static scan,
so a violation is found even in code that never runs at load time)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from platform_core.workspace import read_locations

from governance.ruleset import GateContext, Severity, Violation, rule


@cache
def _imports(path: Path) -> tuple[tuple[str, int], ...]:
    """(top-level module, line) of every absolute import in a file."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return ()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], node.lineno))
    return tuple(found)


def _mentions_any(path: Path, names: list[str]) -> bool:
    try:
        text = path.read_text()
    except (UnicodeDecodeError, OSError):
        return False
    return any(name in text for name in names)


@rule(
    "GOV050",
    "boundaries/no-cross-domain-imports",
    Severity.ERROR,
    "domains never import each other",
)
def cross_domain_imports(context: GateContext) -> Iterator[Violation]:
    try:
        locations = read_locations(context.root)
    except Exception:
        return  # GOV070 reports a broken dg.toml
    owner_of_module = {loc.root_module: loc for loc in locations}
    for location in locations:
        for file in sorted(location.path.rglob("*.py")):
            relative = str(file.relative_to(context.root))
            if any(part in {".venv", "__pycache__"} for part in file.parts):
                continue
            others = [m for m, loc in owner_of_module.items() if loc.name != location.name]
            if not _mentions_any(file, others):
                continue  # cheap text test first: parsing every file costs 10x more
            for module, line in _imports(file):
                other = owner_of_module.get(module)
                if other is not None and other.name != location.name:
                    yield Violation(
                        "GOV050", Severity.ERROR, relative,
                        f"{relative}:{line} (domain '{location.name}') imports {module}, the "
                        f"package of domain '{other.name}'",
                        f"depend on '{other.name}' by asset key (inputs: in its defs.yaml, "
                        "depend_on_product), or move shared code into platform_core",
                        relative, line,
                    )  # fmt: skip
