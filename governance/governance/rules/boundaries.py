"""Code boundaries: a domain package never imports another domain's package.

Two views: a static scan (finds an import even in code that never runs at load time) and what
each location really imported while it loaded (finds `importlib.import_module(...)`,
`__import__`, a path-based load: whatever the static scan cannot read)."""

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
    seen: set[str] = set()
    for violation in (*_static_imports(context), *loaded_cross_domain_imports(context)):
        if violation.fingerprint not in seen:  # one finding, seen by both views
            seen.add(violation.fingerprint)
            yield violation


def _static_imports(context: GateContext) -> Iterator[Violation]:
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
                        relative, line, subject=module,
                    )  # fmt: skip


def loaded_cross_domain_imports(context: GateContext) -> Iterator[Violation]:
    """Other domains' modules a location imported at load time (its LoadWatch)."""
    for location in context.graph.locations.values():
        for found in location.cross_imports:
            file = found.file or location.entry_file or location.source
            place = f"{found.file}:{found.line}" if found.file and found.line else file
            top = found.module.split(".")[0]
            yield Violation(
                "GOV050", Severity.ERROR, file,
                f"code location '{location.name}' imported {found.module}, the package of "
                f"domain '{found.domain}', while it loaded (at {place})",
                f"depend on '{found.domain}' by asset key, never on its code (a dynamic import "
                "is still an import); move shared code into platform_core",
                file, found.line, subject=top,
            )  # fmt: skip
