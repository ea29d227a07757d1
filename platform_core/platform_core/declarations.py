"""Where a project's data-product declarations live, and their YAML line numbers.

A domain declares its products in `defs.yaml` files of its autoloaded `defs/` folder, each an
instance of the platform's `DataProducts` component. Everything that reads declarations
without loading a location (the product catalog, the governance gate, change detection, image
contexts) finds them through `declaration_files`; nothing else globs for them. Light on
purpose (PyYAML only): the governance gate imports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DATA_PRODUCTS_TYPE = "platform_core.components.DataProducts"
DEFS_FOLDER = "defs"
DEFS_FILE = "defs.yaml"
# A textual match, so a file whose YAML is broken is still found (and then fails loudly).
_TYPE_LINE = re.compile(rf"^type:\s*['\"]?{re.escape(DATA_PRODUCTS_TYPE)}['\"]?\s*$", re.M)


def declaration_files(project_dir: Path, root_module: str) -> list[Path]:
    """The project's DataProducts `defs.yaml` files, sorted (none when it declares none)."""
    defs = project_dir / root_module / DEFS_FOLDER
    if not defs.is_dir():
        return []
    return sorted(
        path
        for path in defs.rglob(DEFS_FILE)
        if "__pycache__" not in path.parts and _TYPE_LINE.search(path.read_text())
    )


def declaration_documents(text: str | None) -> list[dict[str, Any]]:
    """The `attributes` of each DataProducts document of a defs.yaml text (raw, unvalidated)."""
    if not text:
        return []
    documents = yaml.safe_load_all(text)
    return [
        doc.get("attributes") or {}
        for doc in documents
        if isinstance(doc, dict) and doc.get("type") == DATA_PRODUCTS_TYPE
    ]


def is_declaration_file(path: str, files: Iterable[Path], root: Path) -> bool:
    return path in {f.relative_to(root).as_posix() for f in files}


# --- line numbers ---------------------------------------------------------------------------


def _mapping_get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


@cache
def _compose(path: Path, mtime_ns: int) -> yaml.Node | None:
    try:
        return yaml.compose(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def _declaration_root(path: Path) -> yaml.Node | None:
    """The node holding `domain` and `products`: `attributes` of a component file."""
    try:
        root = _compose(path, path.stat().st_mtime_ns)
    except OSError:
        return None
    return _mapping_get(root, "attributes") or root


def node_line(path: Path, loc: Iterable[str | int]) -> int:
    """1-based line of the value at `loc` (e.g. ("products", 0, "sla")) under the declaration
    root, or of its deepest existing parent; 0 when the file cannot be read."""
    node = _declaration_root(path)
    if node is None:
        return 0
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        elif isinstance(node, yaml.MappingNode) and isinstance(part, str):
            child = next(
                ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part),
                None,
            )
            if child is None:
                return line
            line = child[0].start_mark.line + 1
            node = child[1]
            continue
        else:
            return line
        line = node.start_mark.line + 1
    return line


def product_lines(path: Path) -> dict[str, int]:
    """{product name: 1-based line of its entry} for a declaration file."""
    items = _mapping_get(_declaration_root(path), "products")
    lines: dict[str, int] = {}
    if isinstance(items, yaml.SequenceNode):
        for item in items.value:
            name = _mapping_get(item, "name")
            if isinstance(name, yaml.ScalarNode):
                lines[name.value] = item.start_mark.line + 1
    return lines
