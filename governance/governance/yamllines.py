"""Line numbers of declarations in YAML files, for SARIF annotations and terminal output.

PyYAML's composer keeps each node's start mark; we walk the node tree instead of the plain
data so "product 'orders' of a defs.yaml" becomes a file and a line. Product lines come from
platform_core.declarations, which knows the DataProducts component layout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from platform_core.declaration_yaml import product_lines


def _mapping_get(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _compose(path: Path) -> yaml.Node | None:
    try:
        return _compose_text(path.read_text())
    except OSError:
        return None


@cache
def _compose_text(text: str) -> yaml.Node | None:
    """Keyed by content: a file edited between two runs in one process gets fresh lines."""
    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None


def list_item_lines(path: Path, list_key: str, name_key: str = "name") -> dict[str, int]:
    """{item name: 1-based line} for the items of the top-level list `list_key`."""
    root = _compose(path)
    items = _mapping_get(root, list_key) if root is not None else None
    lines: dict[str, int] = {}
    if isinstance(items, yaml.SequenceNode):
        for item in items.value:
            name = _mapping_get(item, name_key)
            if isinstance(name, yaml.ScalarNode):
                lines[name.value] = item.start_mark.line + 1
    return lines


def product_line(path: Path, product: str) -> int:
    return product_lines(path).get(product, 0)


def key_line(path: Path, *keys: str) -> int:
    """Line of a nested mapping key (e.g. ("domains", "sales")), 0 if absent."""
    node = _compose(path)
    line = 0
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return line
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                line, node = k.start_mark.line + 1, v
                break
        else:
            return line
    return line
