"""`build_domain_definitions`: a domain's whole Definitions, with the platform defaults.

Defaults are applied here, at the definitions root (as in dagster-open-platform), so every
location gets the same resources, tags, executor and a running automation sensor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from platform_core.environment import current_environment
from platform_core.errors import ConfigurationError
from platform_core.monitoring import (
    LocationMonitor,
    TenantDirectory,
    build_monitoring_sensors,
    mesh_monitored_assets,
    monitored_assets,
    tenant_pool,
)
from platform_core.monitoring.storage import monitoring_warehouse
from platform_core.products.catalog import catalog_for
from platform_core.products.declaration import load_domain_products
from platform_core.products.factory import ProductImplementation, build_product_assets
from platform_core.tenancy.directory import default_tenant_directory
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


def _with_platform_tags(asset: Any, location: str) -> Any:
    """Give a domain's own (non-product) assets the domain and code-location tags too."""

    def tag(spec: dg.AssetSpec) -> dg.AssetSpec:
        missing = {k: v for k, v in platform_tags(location).items() if k not in spec.tags}
        return spec.merge_attributes(tags=missing)

    if isinstance(asset, dg.AssetsDefinition):
        return asset.map_asset_specs(tag)
    if isinstance(asset, dg.AssetSpec):
        return tag(asset)
    return asset


def _location_name(products_file: Path | None, dbt_group: str | None) -> str:
    if products_file is None:
        if dbt_group is None:
            raise ConfigurationError(
                "build_domain_definitions needs the domain's products.yaml, its dbt_group, or "
                "both. Fix: pass Path(__file__).with_name('products.yaml') and/or "
                "dbt_group='<domain>'."
            )
        return dbt_group
    declared = load_domain_products(products_file).domain
    if dbt_group is not None and dbt_group != declared:
        raise ConfigurationError(
            f"{products_file} declares domain '{declared}' but the location asks for dbt group "
            f"'{dbt_group}'. Fix: a location owns its own domain's dbt group: "
            f"dbt_group='{declared}'."
        )
    return declared


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
    """Definitions for the domain declared in `products_file` (its location has that name).

    `dbt_group`: the domain's dbt group; its models in the mesh's dbt project join the location
    (see platform_core.dbt). A domain whose products are all dbt models passes only this.
    `tenant`: this location serves one tenant (its runs are tagged with it, its steps use the
    tenant's pool). `tenants`: where monitoring finds tenant contacts, limits and budgets
    (default: the tenant registry).
    """
    env = current_environment()
    location = _location_name(products_file, dbt_group)
    catalog = catalog_for(products_file or platform_mesh_root())
    declared = load_domain_products(products_file) if products_file is not None else None
    product_assets: list[Any] = []
    product_checks: list[dg.AssetChecksDefinition] = []
    if declared is not None:
        product_assets, product_checks = build_product_assets(
            declared, implementations, catalog, env, pool=tenant_pool(tenant) if tenant else None
        )
    dbt_resources: dict[str, Any] = {}
    if dbt_group is not None:
        from platform_core.dbt.assets import dbt_slice

        dbt = dbt_slice(dbt_group, env, catalog=catalog)
        product_assets.extend(dbt.assets)
        dbt_resources = dbt.resources

    monitor = LocationMonitor(
        location=location,
        assets=monitored_assets(declared.products if declared else [], product_checks),
        mesh_assets=mesh_monitored_assets(catalog.products),
        tenants=tenants
        if tenants is not None
        else default_tenant_directory(products_file or platform_mesh_root()),
        env=env,
        warehouse=monitoring_warehouse(env, location),
        tenant=tenant,
    )
    run_tags = monitor.run_tags()

    return dg.Definitions(
        assets=[*product_assets, *(_with_platform_tags(a, location) for a in assets)],
        asset_checks=[*product_checks, *asset_checks],
        jobs=jobs,
        schedules=schedules,
        sensors=[
            automation_sensor(location, env.automation_interval_seconds, run_tags),
            *build_monitoring_sensors(monitor, env.automation_interval_seconds),
            *sensors,
        ],
        resources={**warehouse_resources(env, location), **dbt_resources, **(resources or {})},
        # Locally one DuckDB file takes one writer at a time and steps are small: in-process
        # avoids a process start per step. Elsewhere compute runs in Snowflake.
        executor=dg.in_process_executor if env.is_local else dg.multiprocess_executor,
    )
