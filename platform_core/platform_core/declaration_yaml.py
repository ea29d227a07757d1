"""Reading DataProducts declaration files: their documents, and line numbers for errors.

PyYAML's composer keeps each node's start mark; walking the node tree instead of the plain data
turns "product 'orders', field 'sla'" into a file and a line (load errors, the governance
gate's SARIF annotations).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from platform_core.declarations import DATA_PRODUCTS_TYPE

# LibYAML's parser: same documents and marks as PyYAML's pure-Python one, several times faster
# (declarations are read at every location load).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def declaration_documents(text: str | None) -> list[dict[str, Any]]:
    """The `attributes` of each DataProducts document of a defs.yaml text (raw, unvalidated)."""
    if not text:
        return []
    documents = yaml.load_all(text, Loader=_LOADER)
    return [
        doc.get("attributes") or {}
        for doc in documents
        if isinstance(doc, dict) and doc.get("type") == DATA_PRODUCTS_TYPE
    ]


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
        return yaml.compose(path.read_text(), Loader=_LOADER)
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
                (
                    (k, v)
                    for k, v in node.value
                    if isinstance(k, yaml.ScalarNode) and k.value == part
                ),
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


def data_products_document(declaration: str) -> str:
    """A DataProducts defs.yaml from a bare declaration (`domain:` and `products:` at the top):
    leading comments stay on top, the rest moves under `attributes:` (scaffolding, tests)."""
    lines = declaration.splitlines()
    head = []
    while lines and lines[0].startswith("#"):
        head.append(lines.pop(0))
    body = [f"  {line}" if line.strip() else "" for line in lines]
    return "\n".join([*head, f"type: {DATA_PRODUCTS_TYPE}", "attributes:", *body]) + "\n"
