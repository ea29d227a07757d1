"""The platform job that gives every tenant its Snowflake role (production only).

`tenant_grants` runs `isolation.tenant_grants_plan` for the registry's tenants: idempotent
statements (`if not exists`, grants), so it is safe to run on every onboarding or on a schedule.
It connects with the admin role (`SNOWFLAKE_ROLE` of the platform identity must be able to
create roles and grant, e.g. SECURITYADMIN-derived). Locally there are no roles: each tenant's
store is its own DuckDB file. Branch deployments never get it (their identity cannot grant).
"""

from pathlib import Path

import dagster as dg

from platform_core.tenancy.isolation import GrantStatement, tenant_grants_plan
from platform_core.tenancy.registry import load_registry
from platform_core.warehouse.snowflake import SnowflakeWarehouse

PLATFORM_ROLE = "MESH_PLATFORM"  # reads every tenant schema: the union runs under it


def grants_for(registry_file: Path, warehouse: SnowflakeWarehouse) -> list[GrantStatement]:
    tenants = [t.id for t in load_registry(registry_file).tenants]
    return tenant_grants_plan(
        tenants,
        warehouse.database,
        admin_role=warehouse.role or "SECURITYADMIN",
        platform_role=PLATFORM_ROLE,
        sync_user=warehouse.user,
        warehouse=warehouse.warehouse,
    )


def build_tenant_grants_job(registry_file: Path) -> dg.JobDefinition:
    @dg.op(description="Create each tenant's role and grant it only its own schema (idempotent).")
    def apply_tenant_grants(context: dg.OpExecutionContext, warehouse: SnowflakeWarehouse) -> int:
        plan = grants_for(registry_file, warehouse)
        for statement in plan:
            with warehouse.session(role=statement.run_as) as session:
                session.execute(statement.sql)
        context.log.info(f"{len(plan)} grant statements applied")
        return len(plan)

    @dg.job(name="tenant_grants", description="Every tenant's Snowflake role and grants.")
    def tenant_grants():
        apply_tenant_grants()

    return tenant_grants
