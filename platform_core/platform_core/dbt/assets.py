"""One domain's slice of the dbt project as Dagster definitions (selection by dbt group).

Every location calls `dbt_slice(domain)` through `build_domain_definitions(dbt_group=...)`: the
models of group <domain> become one subsettable multi-asset, their dbt tests asset checks
(blocking when the test's severity is error), refs into other groups and sources plain
cross-location dependencies on those assets' keys.
"""

import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import dbt_assets

from platform_core.dbt.preparer import prepared_manifest
from platform_core.dbt.project import MeshDbtProject, mesh_dbt_project
from platform_core.dbt.resource import MeshDbtCliResource, mesh_dbt_resource
from platform_core.dbt.translator import MeshDbtTranslator, model_domain
from platform_core.environment import Environment, current_environment
from platform_core.errors import DbtProjectError
from platform_core.products.catalog import Catalog, depend_on_product
from platform_core.products.checks import ROW_COUNT
from platform_core.warehouse.base import Warehouse


@dataclass(frozen=True)
class DbtSlice:
    assets: list[dg.AssetsDefinition]
    resources: dict[str, Any]


def _relations(manifest: Mapping[str, Any], domain: str) -> dict[str, tuple[str, str]]:
    """model unique_id -> (schema, table) for the domain's models (where rows are counted)."""
    return {
        uid: (node["schema"], node["alias"])
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node.get("group") == domain
    }


def _check_groups(manifest: Mapping[str, Any]) -> None:
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model":
            model_domain(node)  # raises, naming the model and the fix


def _check_sources(manifest: Mapping[str, Any], domain: str, catalog: Catalog) -> None:
    """A source must be a data product, and another domain's must be public (as for inputs)."""
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node.get("group") != domain:
            continue
        for uid in node["depends_on"]["nodes"]:
            if uid.startswith("source."):
                source = manifest["sources"][uid]
                ref = f"{source['source_name']}/{source['name']}"
                depend_on_product(ref, f"{domain}/{node['name']}", catalog)


PARTIAL_PARSE = "partial_parse.msgpack"


def _seed_partial_parse(target_path: Path, runs_dir: Path, project: MeshDbtProject) -> None:
    """Give the run a partial-parse state, so dbt skips most of its parse (seconds per run).

    dbt discards partial parsing when the profile's connection values differ from the ones it
    was parsed with, and the prepared manifest's were the preparing process's (another
    MESH_HOME, another DuckDB path). So the newest state a run of this environment left
    behind comes first; dbt itself re-parses whatever changed since.
    """
    for candidate in (runs_dir / PARTIAL_PARSE, project.prepared_dir / PARTIAL_PARSE):
        if candidate.is_file():
            shutil.copy(candidate, target_path / PARTIAL_PARSE)
            return


def _keep_partial_parse(target_path: Path, runs_dir: Path) -> None:
    produced = target_path / PARTIAL_PARSE
    if produced.is_file():  # atomic: concurrent runs never read half a file
        staging = runs_dir / f".{PARTIAL_PARSE}.{uuid.uuid4().hex[:6]}"
        shutil.copy(produced, staging)
        os.replace(staging, runs_dir / PARTIAL_PARSE)


def dbt_slice(
    domain: str,
    env: Environment | None = None,
    project: MeshDbtProject | None = None,
    catalog: Catalog | None = None,
) -> DbtSlice:
    """The models of dbt group `domain`, as one multi-asset, and the dbt resource."""
    env = env or current_environment()
    project = project or mesh_dbt_project(env)
    manifest = prepared_manifest(project, env)
    quarantined = project.quarantine().get(domain)
    if quarantined is not None:  # the other domains' locations load without this model
        raise DbtProjectError(quarantined.message, domain=domain, owners=quarantined.owners)
    _check_groups(manifest)
    if catalog is not None:
        _check_sources(manifest, domain, catalog)
    relations = _relations(manifest, domain)
    if not relations:
        raise DbtProjectError(
            f"Location '{domain}' asks for its dbt models, but the dbt project has no model in "
            f"group '{domain}'. Fix: add models under dbt_project/models/{domain}/, or drop "
            "dbt_group from its build_domain_definitions call."
        )
    translator = MeshDbtTranslator(manifest)
    key_to_relation = {
        translator.get_asset_key(manifest["nodes"][uid]): relation
        for uid, relation in relations.items()
    }
    runs_dir = env.mesh_home / "dbt" / "runs"

    @dbt_assets(
        manifest=manifest,
        select=f"group:{domain}",
        dagster_dbt_translator=translator,
        name=f"{domain}_dbt_models",
    )
    def models(
        context: dg.AssetExecutionContext, dbt: MeshDbtCliResource, warehouse: Warehouse
    ) -> Iterator[Any]:
        target_path = runs_dir / f"{context.run_id[:8]}-{uuid.uuid4().hex[:6]}"
        target_path.mkdir(parents=True, exist_ok=True)
        _seed_partial_parse(target_path, runs_dir, project)
        invocation = dbt.cli(
            ["build"], context=context, raise_on_error=False, target_path=target_path
        )
        events = list(invocation.stream())
        _keep_partial_parse(target_path, runs_dir)
        # Rows are counted once dbt has exited: the DuckDB file takes one writer process.
        with warehouse.session() as session:
            for event in events:
                if isinstance(event, dg.Output):
                    key = context.asset_key_for_output(event.output_name)
                    schema, table = key_to_relation[key]
                    rows = session.row_count(schema, table)
                    duration = event.metadata.get("Execution Duration")
                    seconds = {"compute_seconds": duration.value} if duration else {}
                    yield event.with_metadata({**event.metadata, ROW_COUNT: rows, **seconds})
                else:
                    yield event
        error = invocation.get_error()
        if error is not None:
            raise error

    return DbtSlice([models], {"dbt": mesh_dbt_resource(project)})
