"""dbt models in the mesh catalog, next to the declared (DataProducts) products.

A Python product may take a dbt model as an input (and `depend_on_product` applies the same
rule: another domain's model must be public); `meshctl products` lists both kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platform_core.dbt.nodes import (
    column_schema,
    model_access,
    model_domain,
    model_key,
    model_meta,
    model_owners,
    not_null_columns,
)
from platform_core.products.declaration import (
    ColumnContract,
    ProductDeclaration,
    Sla,
    Visibility,
)
from platform_core.warehouse.types import LOGICAL_TYPES


def _columns(props: Mapping[str, Any], not_null: set[str]) -> list[ColumnContract]:
    schema = column_schema(props, not_null)
    if schema is None:
        return []
    return [
        ColumnContract.model_construct(
            name=c.name,
            type=c.type if c.type in LOGICAL_TYPES else "string",
            description=c.description or "",
            not_null=not c.constraints.nullable,
        )
        for c in schema.columns
    ]


def dbt_product_declarations(
    manifest: Mapping[str, Any], project_dir: Path
) -> list[ProductDeclaration]:
    """Every dbt model as a catalog entry (public for access: public, otherwise internal).

    Built with `model_construct`: dbt has validated the model already, and staging models need
    not document columns the way a product declaration must.
    """
    groups = {g["name"]: g for g in manifest.get("groups", {}).values()}
    guarded = not_null_columns(manifest)
    declarations = []
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        meta = model_meta(node)
        key = model_key(node)
        declarations.append(
            ProductDeclaration.model_construct(
                name=key.path[-1],
                description=node.get("description") or f"dbt model {node['name']}",
                owners=model_owners(node, groups),
                visibility=Visibility.PUBLIC
                if model_access(node) == "public"
                else Visibility.INTERNAL,
                tier=int(meta.get("tier", 2)),
                sla=Sla(**(meta.get("sla") or {})),
                inputs=[],
                automation=None,
                cron=None,
                columns=_columns(node, guarded.get(uid, set())),
                domain=model_domain(node),
                source_file=str(project_dir / node["original_file_path"]),
            )
        )
    return declarations
