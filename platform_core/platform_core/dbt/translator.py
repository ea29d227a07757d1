"""dbt nodes as mesh assets: the same keys, owners, tags and column schema as Python products.

- key: [group (= domain), model name]; an older version of a versioned model gets
  [domain, name_v<N>], the latest keeps the product's plain key, so consumers never change.
- sources keep [source name, table], i.e. the key of the Python product that writes the table.
- owners: `meta.owners` (or dagster-dbt's `meta.dagster.owners`), else team:<group> and the
  group owner's e-mail.
- tags: visibility (public for access: public, else internal), tier, dbt_access (the
  location's root adds domain and code_location); `dagster/column_schema` in the contract
  vocabulary of product declarations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from platform_core.dbt.nodes import (
    column_schema,
    group_owners,
    model_access,
    model_domain,
    model_key,
    model_meta,
    not_null_columns,
)
from platform_core.products.declaration import Sla


class MeshDbtTranslator(DagsterDbtTranslator):
    """dbt resources as mesh assets (see the module docstring)."""

    def __init__(self, manifest: Mapping[str, Any], automation: bool = True) -> None:
        super().__init__(
            DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=False)
        )
        self._not_null = not_null_columns(manifest)
        self._automation = automation

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)  # [source name, table]
        return model_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return None
        return model_domain(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        meta = model_meta(dbt_resource_props)
        explicit = meta.get("owners") or (meta.get("dagster") or {}).get("owners")
        if explicit:
            return list(explicit)
        group = dbt_resource_props.get("group")
        if isinstance(group, Mapping):  # dagster-dbt passes the group's props here
            return group_owners(group)
        return None

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        if dbt_resource_props["resource_type"] == "source":
            return {}
        access = model_access(dbt_resource_props)
        return {  # domain and code_location: the location's root (platform_core.definitions)
            "visibility": "public" if access == "public" else "internal",
            "tier": str(model_meta(dbt_resource_props).get("tier", 2)),
            "dbt_access": access,
        }

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        metadata = dict(super().get_metadata(dbt_resource_props))
        if dbt_resource_props["resource_type"] == "source":
            return metadata
        schema = column_schema(
            dbt_resource_props, self._not_null.get(dbt_resource_props["unique_id"], set())
        )
        if schema is not None:
            metadata["dagster/column_schema"] = schema
        metadata["declared_in"] = f"dbt_project/{dbt_resource_props['original_file_path']}"
        contract = (dbt_resource_props.get("config") or {}).get("contract") or {}
        metadata["dbt/contract_enforced"] = bool(contract.get("enforced"))
        if dbt_resource_props.get("deprecation_date"):
            metadata["dbt/deprecation_date"] = str(dbt_resource_props["deprecation_date"])
        return metadata

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        # Like products with inputs: eager, held while an upstream's blocking check fails.
        if not self._automation or dbt_resource_props["resource_type"] != "model":
            return None
        return (
            dg.AutomationCondition.eager()
            & dg.AutomationCondition.all_deps_blocking_checks_passed()
        ).with_label("eager, inputs' blocking checks passed")

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "model" and model_access(props) == "public":
            # Public models promise freshness like public products (meta.sla, default 24h).
            sla = Sla(**(model_meta(props).get("sla") or {}))
            spec = spec.replace_attributes(freshness_policy=sla.freshness_policy())
        return spec
