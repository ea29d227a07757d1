"""The one definitions root of every code location: its `defs/` folder plus platform defaults.

A domain's `definitions.py` is one call (as in dagster-open-platform):

    defs = location_definitions(__file__)

which loads the project's autoloaded `defs/` folder (its `dg.ComponentTree`) and applies,
once and here only, what every location gets: the `domain`/`code_location` tags, an owners
fallback and the warehouse kind on every asset spec, the environment's warehouse resource, the
executor, a running `<location>_automation` sensor and the two monitoring sensors. Nothing else
in the platform writes those. `build_domain_definitions`, `build_tenant_sync_definitions` and
`build_dedicated_tenant_definitions` build the same root from code (tests, fixture meshes and
per-tenant locations), through the same `with_platform_defaults`.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import tomllib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from platform_core.catalog import catalog_for
from platform_core.components.data_products import product_definitions
from platform_core.declarations import declaration_files
from platform_core.environment import Environment, current_environment
from platform_core.errors import ConfigurationError
from platform_core.executor import executor_for, module_named_by_file
from platform_core.monitoring import (
    LocationMonitor,
    TenantDirectory,
    build_monitoring_sensors,
    mesh_monitored_assets,
    monitored_assets,
    tenant_pool,
)
from platform_core.monitoring.storage import monitoring_warehouse
from platform_core.products.catalog import Catalog
from platform_core.products.declaration import ProductDeclaration, load_domain_products
from platform_core.products.factory import ProductImplementation
from platform_core.tenancy.directory import default_tenant_directory
from platform_core.tenancy.source import SYNCED_TABLES
from platform_core.warehouse.base import Warehouse
from platform_core.warehouse.resources import warehouse_resources
from platform_core.workspace import platform_mesh_root


def automation_sensor(
    location: str, interval_seconds: int, run_tags: Mapping[str, str] | None = None
) -> dg.AutomationConditionSensorDefinition:
    # Dagster's built-in default sensor starts STOPPED; ours runs from the first deploy.
    return dg.AutomationConditionSensorDefinition(
        name=f"{location}_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_seconds,
        description=f"Declarative automation for the {location} location's assets.",
        run_tags=run_tags,
    )


def platform_tags(location: str) -> dict[str, str]:
    return {"domain": location, "code_location": location}


def _spec_defaults(location: str, env: Environment):
    """What every asset spec of the location carries unless it says otherwise."""

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        tags = {"domain": spec.tags.get("domain", location), "code_location": location}
        return spec.replace_attributes(
            tags={**spec.tags, **tags},
            owners=spec.owners or [f"team:{location}"],
            kinds=spec.kinds or {env.warehouse_kind},
        )

    return apply


def _own_products(catalog: Catalog, files: Sequence[Path]) -> list[ProductDeclaration]:
    declared_here = {str(f) for f in files}
    return [p for p in catalog.products.values() if p.source_file in declared_here]


def with_platform_defaults(
    defs: dg.Definitions,
    location: str,
    *,
    products: Sequence[ProductDeclaration] = (),
    near: Path | None = None,
    resources: Mapping[str, Any] | None = None,
    tenant: str | None = None,
    tenants: TenantDirectory | None = None,
    self_alerting_jobs: Sequence[str] = (),
    preload: Sequence[str] = (),
) -> dg.Definitions:
    """`defs` with the platform's defaults: the one place they are applied.

    `products`: the location's declared products (monitoring knows their owners and SLAs).
    `near`: a path inside the mesh (whose catalog and tenant registry apply). `resources`
    override the environment's. `tenant`: a location serving one tenant (its runs are tagged
    with it). `self_alerting_jobs`: jobs with their own failure alerts (not alerted twice).
    `preload`: the location's definitions module (platform_core.executor).
    """
    env = current_environment()
    near = near or platform_mesh_root()
    catalog = catalog_for(near)
    checks = [c for c in (defs.asset_checks or []) if isinstance(c, dg.AssetChecksDefinition)]
    monitor = LocationMonitor(
        location=location,
        assets=monitored_assets(products, checks),
        mesh_assets=mesh_monitored_assets(catalog.products),
        tenants=tenants if tenants is not None else default_tenant_directory(near),
        env=env,
        warehouse=monitoring_warehouse(env, location),
        tenant=tenant,
        self_alerting_jobs=frozenset(self_alerting_jobs),
    )
    defaults = dg.Definitions(
        sensors=[
            automation_sensor(location, env.automation_interval_seconds, monitor.run_tags()),
            *build_monitoring_sensors(monitor, env.automation_interval_seconds),
        ],
        resources={**warehouse_resources(env, location), **(resources or {})},
        executor=executor_for(env, preload),
    )
    with warnings.catch_warnings():  # map_asset_specs is marked preview in Dagster 1.13
        warnings.simplefilter("ignore", dg.PreviewWarning)
        tagged = defs.map_asset_specs(func=_spec_defaults(location, env))
    return dg.Definitions.merge(tagged, defaults)


def _project_location(project_dir: Path) -> tuple[str, str, str]:
    """(code-location name, root module, defs module) from the project's pyproject.toml."""
    pyproject = project_dir / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text()).get("tool", {}).get("dg", {}).get("project", {})
    if "root_module" not in project:
        raise ConfigurationError(f"{pyproject}: [tool.dg.project] root_module is missing.")
    root_module = project["root_module"]
    defs_module = project.get("defs_module") or f"{root_module}.defs"  # as dg resolves it
    return project.get("code_location_name") or project_dir.name, root_module, defs_module


def _project_dir(within: Path) -> Path:
    for folder in (within, *within.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    raise ConfigurationError(f"No pyproject.toml at or above {within}: not a dg project.")


@contextmanager
def _dagster_api_notices_silenced() -> Iterator[None]:
    # As `load_from_defs_folder` does: Dagster's own components use preview/beta APIs
    # internally, which would otherwise print notices at every location load.
    with warnings.catch_warnings():
        for notice in (dg.PreviewWarning, dg.BetaWarning, dg.SupersessionWarning):
            warnings.simplefilter("ignore", notice)
        yield


def _freeze_until_exit() -> None:
    gc.freeze()
    # At exit the frozen objects go back to the collector, so extension types are finalized as
    # usual (nanobind reports "leaked instances" for those still frozen at shutdown).
    atexit.unregister(gc.unfreeze)
    atexit.register(gc.unfreeze)


def location_definitions(definitions_file: str | Path, **defaults: Any) -> dg.Definitions:
    """A location's whole Definitions: its `defs/` folder, with the platform defaults.

    `definitions_file`: the location's definitions.py (`__file__`). `defaults`: see
    `with_platform_defaults` (e.g. `self_alerting_jobs`).
    """
    # The objects of every module imported so far (Dagster alone is ~110k) live as long as
    # the process: frozen, the collector stops traversing them, and the full collections the
    # load's own allocations trigger cost a fraction (~0.6 CPU s less per location load of
    # platform, ~0.9 s of sales, measured in fresh processes next to the unfrozen load).
    _freeze_until_exit()
    project_dir = _project_dir(Path(definitions_file).resolve().parent)
    location, root_module, defs_module = _project_location(project_dir)
    # The defs folder itself, not the project root: the root (`load_from_defs_folder`) also
    # imports every installed component plugin for the UI's catalog (dagster_snowflake alone
    # is ~4.5 s) and Dagster+ app-managed definitions, which the mesh does not use. The tree
    # from the module we resolved above, not `for_project`: that reads pyproject.toml again
    # with tomlkit (~20 ms of import and pure-Python parsing at every load).
    with _dagster_api_notices_silenced():
        tree = dg.ComponentTree.from_module(importlib.import_module(defs_module), project_dir)
        defs = tree.build_defs(tree.defs_module_path)
    files = declaration_files(project_dir, root_module)
    products = _own_products(catalog_for(project_dir), files) if files else []
    built = with_platform_defaults(
        defs, location, products=products, near=project_dir,
        preload=module_named_by_file(Path(definitions_file)), **defaults,
    )  # fmt: skip
    _freeze_until_exit()  # the definitions too: a code server keeps them for its runs
    return built


# --- the same root built from code --------------------------------------------------------


def build_domain_definitions(
    products_file: Path | None = None,
    implementations: Sequence[ProductImplementation] = (),
    *,
    dbt_group: str | None = None,
    assets: Sequence[Any] = (),
    asset_checks: Sequence[dg.AssetChecksDefinition] = (),
    jobs: Sequence[Any] = (),
    schedules: Sequence[Any] = (),
    sensors: Sequence[Any] = (),
    resources: Mapping[str, Any] | None = None,
    tenant: str | None = None,
    tenants: TenantDirectory | None = None,
) -> dg.Definitions:
    """A location built from code: the products declared in `products_file` (a DataProducts
    defs.yaml) with their implementations, the dbt group's models, extra definitions, and the
    platform defaults. Locations in the repository use `location_definitions` instead.

    `tenant`: this location serves one tenant (runs tagged with it, steps in its pool).
    """
    declared = load_domain_products(products_file) if products_file is not None else None
    location = _location_name(declared.domain if declared else None, products_file, dbt_group)
    parts = [dg.Definitions(assets=assets, asset_checks=asset_checks, jobs=jobs)]
    parts.append(dg.Definitions(schedules=schedules, sensors=sensors))
    if declared is not None:
        pool = tenant_pool(tenant) if tenant else None
        parts.append(product_definitions(declared, list(implementations), products_file, pool))
    if dbt_group is not None:
        from platform_core.dbt.assets import dbt_slice  # ~1.7 s of dagster_dbt, only for dbt

        near = products_file or platform_mesh_root()
        models = dbt_slice(dbt_group, catalog=catalog_for(near))
        parts.append(dg.Definitions(assets=models.assets, resources=models.resources))
    return with_platform_defaults(
        dg.Definitions.merge(*parts),
        location,
        products=declared.products if declared else (),
        near=products_file,
        resources=resources,
        tenant=tenant,
        tenants=tenants,
    )


def _location_name(declared: str | None, products_file: Path | None, dbt_group: str | None) -> str:
    if declared is None:
        if dbt_group is None:
            raise ConfigurationError(
                "build_domain_definitions needs the domain's declaration file, its dbt_group, "
                "or both. Fix: pass the DataProducts defs.yaml and/or dbt_group='<domain>'."
            )
        return dbt_group
    if dbt_group is not None and dbt_group != declared:
        raise ConfigurationError(
            f"{products_file} declares domain '{declared}' but the location asks for dbt group "
            f"'{dbt_group}'. Fix: a location owns its own domain's dbt group: "
            f"dbt_group='{declared}'."
        )
    return declared


TENANT_SYNC_LOCATION = "tenant_sync"


def build_tenant_sync_definitions(
    registry_file: Path,
    tables: Sequence[str] = SYNCED_TABLES,
    warehouse: Warehouse | None = None,
) -> dg.Definitions:
    """The tenant_sync location built from code; `warehouse` overrides the environment's
    (tests give each their own file)."""
    # Here, not at the top: the other locations' loads need none of tenant sync's machinery.
    from platform_core.tenancy.definitions import tenant_sync_definitions

    return with_platform_defaults(
        tenant_sync_definitions(registry_file, tables),
        TENANT_SYNC_LOCATION,
        resources={"warehouse": warehouse} if warehouse is not None else None,
        self_alerting_jobs=["tenant_sync_job"],
    )


def build_dedicated_tenant_definitions(
    tenant_id: str,
    registry_file: Path,
    tables: Sequence[str] = SYNCED_TABLES,
    custom_assets: Sequence[Any] = (),
    warehouse: Warehouse | None = None,
) -> dg.Definitions:
    """A code location for ONE tenant (see tenancy.definitions.dedicated_tenant_definitions)."""
    from platform_core.tenancy.definitions import dedicated_tenant_definitions
    from platform_core.tenancy.session import TenantWarehouse

    defs = dedicated_tenant_definitions(tenant_id, registry_file, tables, custom_assets)
    location = f"tenant_{tenant_id}"
    env = current_environment()
    platform = (
        warehouse if warehouse is not None else warehouse_resources(env, location)["warehouse"]
    )
    return with_platform_defaults(
        defs,
        location,
        # The location's only warehouse is the tenant's: every session it opens is
        # tenant_session(tenant_id); outputs go to Dagster's own store, not the shared warehouse.
        resources={
            "warehouse": TenantWarehouse(tenant_id=tenant_id, warehouse=platform),
            "io_manager": dg.FilesystemIOManager(),
        },
        tenant=tenant_id,
        self_alerting_jobs=[f"{location}_sync_job"],
    )
