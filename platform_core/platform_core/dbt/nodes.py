"""Reading dbt manifest nodes the mesh's way (no dagster-dbt import: the catalog uses these).

A model's domain is its dbt group; its key is [domain, name], or [domain, name_v<N>] for an
older version of a versioned model, so the latest version keeps the product's plain key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from platform_core.errors import DbtProjectError
from platform_core.warehouse.types import logical_type


def model_domain(props: Mapping[str, Any]) -> str:
    group = props.get("group") or (props.get("config") or {}).get("group")
    if not group:
        raise DbtProjectError(
            f"dbt model '{props.get('name')}' ({props.get('original_file_path')}) has no group. "
            "Every model belongs to its domain's group. Fix: put it under models/<domain>/ "
            "(dbt_project.yml sets +group per domain folder) or set `group:` in its config."
        )
    return str(group)


def model_meta(props: Mapping[str, Any]) -> dict[str, Any]:
    return {**(props.get("meta") or {}), **((props.get("config") or {}).get("meta") or {})}


def model_access(props: Mapping[str, Any]) -> str:
    return str(props.get("access") or (props.get("config") or {}).get("access") or "protected")


def group_owners(group: Mapping[str, Any]) -> list[str]:
    email = (group.get("owner") or {}).get("email")
    return [f"team:{group['name']}", *([email] if email else [])]


def model_owners(props: Mapping[str, Any], groups: Mapping[str, Mapping[str, Any]]) -> list[str]:
    meta = model_meta(props)
    explicit = meta.get("owners") or (meta.get("dagster") or {}).get("owners")
    if explicit:
        return list(explicit)
    group = groups.get(model_domain(props))
    return group_owners(group) if group else [f"team:{model_domain(props)}"]


def model_key(props: Mapping[str, Any]) -> dg.AssetKey:
    name = str(props["name"])
    version = props.get("version")
    if version is not None and str(version) != str(props.get("latest_version")):
        name = f"{name}_v{version}"
    return dg.AssetKey([model_domain(props), name])


def not_null_columns(manifest: Mapping[str, Any]) -> dict[str, set[str]]:
    """model unique_id -> columns guarded by a not_null test or constraint."""
    guarded: dict[str, set[str]] = {}
    for node in manifest["nodes"].values():
        test = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and test.get("name") == "not_null":
            attached = node.get("attached_node")
            column = node.get("column_name")
            if attached and column:
                guarded.setdefault(attached, set()).add(column)
        for column in (node.get("columns") or {}).values():
            if any(c.get("type") == "not_null" for c in column.get("constraints") or []):
                guarded.setdefault(node["unique_id"], set()).add(column["name"])
    return guarded


def column_schema(props: Mapping[str, Any], not_null: set[str]) -> dg.TableSchema | None:
    columns = props.get("columns") or {}
    if not columns:
        return None
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=logical_type(info["data_type"]) if info.get("data_type") else "?",
                description=info.get("description") or None,
                constraints=dg.TableColumnConstraints(nullable=name not in not_null),
            )
            for name, info in columns.items()
        ]
    )
