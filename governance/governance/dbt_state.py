"""Which dbt models a change modifies: dbt's `state:modified` rules over two manifests.

A model (or seed, snapshot) is modified when, between the base and the head manifest:
- its body changed (the SQL, compared with whitespace collapsed outside quoted strings, so a
  re-indented model is not a change; seeds compare dbt's file checksum),
- its config changed (materialization, alias, schema, access, hooks, ...), or the relation
  it builds (database, schema, alias: what generate_schema_name renders),
- its contract changed (enforcement, column names, data types, constraints),
- a macro it calls changed (followed through macros that call macros),
- it is new.
Removed models are reported separately. Tests and documentation are not data changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from platform_core.dbt.nodes import model_key

DATA_NODES = ("model", "seed", "snapshot")
# Config keys that describe documentation or bookkeeping, not the relation dbt builds.
_IGNORED_CONFIG = frozenset({"docs", "meta", "tags", "description"})
_QUOTED_OR_SPACE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\s+")
_SPACE_BY_PUNCTUATION = re.compile(r" ?([(),;]) ?")


def normalized_sql(text: str) -> str:
    """`text` with every whitespace run outside quotes made one space (none next to punctuation)."""

    def collapse(match: re.Match[str]) -> str:
        token = match.group(0)
        return token if token[0] in "'\"" else " "

    collapsed = _QUOTED_OR_SPACE.sub(collapse, text).strip()
    parts = re.split(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")", collapsed)
    return "".join(
        part if part[:1] in ("'", '"') else _SPACE_BY_PUNCTUATION.sub(r"\1", part) for part in parts
    )


@dataclass(frozen=True)
class ModelChange:
    key: str  # "domain/name", the asset key
    unique_id: str
    status: str  # new | changed | removed
    reasons: list[str] = field(default_factory=list)  # body, config, contract, macro:<name>
    file: str = ""  # dbt_project-relative path of the model's file


def _body(node: Mapping[str, Any]) -> str:
    if node["resource_type"] == "seed":
        return str((node.get("checksum") or {}).get("checksum", ""))
    return normalized_sql(str(node.get("raw_code") or ""))


def _config(node: Mapping[str, Any]) -> dict[str, Any]:
    config = dict(node.get("config") or {})
    return {k: v for k, v in config.items() if k not in _IGNORED_CONFIG}


def _relation(node: Mapping[str, Any]) -> tuple[str, ...]:
    # Rendered by generate_schema_name & co., which models use without naming them.
    return tuple(str(node.get(k) or "") for k in ("database", "schema", "alias"))


def _contract(node: Mapping[str, Any]) -> Any:
    contract = (node.get("config") or {}).get("contract") or {}
    if not contract.get("enforced"):
        return None
    return sorted(
        (name, str(column.get("data_type") or ""), repr(column.get("constraints") or []))
        for name, column in (node.get("columns") or {}).items()
    )


def _macro_closure(manifest: Mapping[str, Any], roots: list[str]) -> set[str]:
    macros = manifest.get("macros") or {}
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        uid = stack.pop()
        if uid in seen or uid not in macros:
            continue
        seen.add(uid)
        stack.extend((macros[uid].get("depends_on") or {}).get("macros") or [])
    return seen


def changed_macros(base: Mapping[str, Any], head: Mapping[str, Any]) -> set[str]:
    """Macros of the project whose SQL differs (or which are new or gone)."""
    old, new = base.get("macros") or {}, head.get("macros") or {}
    changed = set()
    for uid in old.keys() | new.keys():
        a, b = old.get(uid), new.get(uid)
        if (
            a is None
            or b is None
            or normalized_sql(a.get("macro_sql", "")) != normalized_sql(b.get("macro_sql", ""))
        ):
            changed.add(uid)
    return changed


def _data_nodes(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        uid: node
        for uid, node in (manifest.get("nodes") or {}).items()
        if node.get("resource_type") in DATA_NODES
    }


def modified_models(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[ModelChange]:
    """Every data node of `head` that is modified against `base`, and every removed one."""
    old_nodes, new_nodes = _data_nodes(base), _data_nodes(head)
    macros = changed_macros(base, head)
    changes = []
    for uid in sorted(old_nodes.keys() | new_nodes.keys()):
        old, new = old_nodes.get(uid), new_nodes.get(uid)
        node = new or old
        assert node is not None
        key = model_key(node).to_user_string()
        file = str(node.get("original_file_path") or "")
        if old is None:
            changes.append(ModelChange(key, uid, "new", ["new"], file))
            continue
        if new is None:
            changes.append(ModelChange(key, uid, "removed", ["removed"], file))
            continue
        reasons = []
        if _body(old) != _body(new):
            reasons.append("body")
        if _config(old) != _config(new):
            reasons.append("config")
        if _relation(old) != _relation(new):
            reasons.append("relation")
        if _contract(old) != _contract(new):
            reasons.append("contract")
        used = _macro_closure(head, list((new.get("depends_on") or {}).get("macros") or []))
        reasons += [f"macro:{uid.split('.')[-1]}" for uid in sorted(used & macros)]
        if reasons:
            changes.append(ModelChange(key, uid, "changed", reasons, file))
    return changes


def unique_keys(manifest: Mapping[str, Any]) -> dict[str, list[str]]:
    """asset key -> the columns a `unique` or `unique_combination` test makes the row key."""
    by_uid: dict[str, list[str]] = {}
    for node in (manifest.get("nodes") or {}).values():
        test = node.get("test_metadata") or {}
        attached = node.get("attached_node")
        if node.get("resource_type") != "test" or not attached or attached in by_uid:
            continue
        if test.get("name") == "unique" and node.get("column_name"):
            by_uid[attached] = [str(node["column_name"])]
        elif test.get("name") == "unique_combination":
            columns = (test.get("kwargs") or {}).get("columns")
            if isinstance(columns, list) and columns:
                by_uid[attached] = [str(c) for c in columns]
    nodes = manifest.get("nodes") or {}
    return {model_key(nodes[uid]).to_user_string(): cols for uid, cols in by_uid.items()}
