"""Tenant isolation: what a tenant's session may run, and the Snowflake grants that enforce it.

The boundary is the engine (see `platform_core.tenancy.session`): locally each tenant's data is
its own DuckDB file opened with external access off, extensions off and configuration locked;
on Snowflake each tenant's runs connect with a role that owns only its schema. This module
names each tenant's role and plans the grants that give it (`tenant_grants_plan`); the second
layer, a parser over every statement of a tenant session, is `tenancy.statement_guard`.
Sources: each tenant database belongs to its own PostgreSQL role and CONNECT is revoked from
PUBLIC (`mesh_tooling.sample.tenant_databases`).
"""

from __future__ import annotations

from dataclasses import dataclass

from platform_core.errors import MeshError
from platform_core.identifiers import safe_identifier


class CrossTenantAccessRefused(MeshError):
    """A tenant's session was sent SQL that could leave the tenant's own store."""


def tenant_role(tenant_id: str) -> str:
    """The Snowflake role a tenant's runs connect with; it owns the tenant's schema only."""
    return f"TENANT_{safe_identifier(tenant_id, 'tenant id').upper()}_SYNC"


@dataclass(frozen=True)
class GrantStatement:
    """One statement of the grants plan and the role that must run it."""

    run_as: str
    sql: str


def tenant_grants_plan(
    tenant_ids: list[str],
    database: str,
    *,
    admin_role: str,
    platform_role: str,
    sync_user: str,
    warehouse: str | None = None,
) -> list[GrantStatement]:
    """Idempotent statements (`if not exists`, grants) giving each tenant a role owning only its
    schema; the platform role may read every tenant schema (for the union) and the sync user
    may assume each tenant role (the tenant's runs connect with it)."""
    db = safe_identifier(database.lower(), "database").upper()
    platform = safe_identifier(platform_role.lower(), "platform role").upper()
    user = safe_identifier(sync_user.lower(), "sync user").upper()
    plan = [GrantStatement(admin_role, f"create role if not exists {platform}")]
    plan.append(GrantStatement(admin_role, f"grant usage on database {db} to role {platform}"))
    for tenant_id in sorted(set(tenant_ids)):
        role, schema = tenant_role(tenant_id), f"{db}.TENANT_{tenant_id.upper()}"
        statements = [
            f"create role if not exists {role}",
            f"grant role {role} to user {user}",
            f"grant usage on database {db} to role {role}",
            f"create schema if not exists {schema}",
            f"grant ownership on schema {schema} to role {role} copy current grants",
            f"grant usage on schema {schema} to role {platform}",
            f"grant select on all tables in schema {schema} to role {platform}",
            f"grant select on future tables in schema {schema} to role {platform}",
        ]
        if warehouse:
            wh = safe_identifier(warehouse.lower(), "warehouse").upper()
            statements.insert(3, f"grant usage on warehouse {wh} to role {role}")
        plan.extend(GrantStatement(admin_role, sql) for sql in statements)
    return plan
