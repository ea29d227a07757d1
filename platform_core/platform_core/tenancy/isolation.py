"""Tenant isolation in the warehouse: a tenant's run touches its own schema and nothing else.

- DuckDB (local) has no roles, so a tenant's run gets a `TenantScopedSession`: any SQL naming
  another tenant's schema is refused before it runs.
- Snowflake: one role per tenant owning only its schema (`snowflake_isolation_ddl`); the
  tenant's run uses that role, so the server itself refuses other schemas.
- Sources: each tenant database belongs to its own PostgreSQL role and CONNECT is revoked from
  PUBLIC (`mesh_tooling.sample.tenant_databases`), so one tenant's credentials cannot open another's.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from platform_core.errors import MeshError
from platform_core.identifiers import safe_identifier
from platform_core.warehouse.base import ColumnInfo, WarehouseSession

# A schema reference: `tenant_x.table`, or 'tenant_x' as a literal (information_schema lookups).
_TENANT_SCHEMA = re.compile(
    r"""(?:\btenant_([a-z0-9_]+)"?\s*\.)|(?:'tenant_([a-z0-9_]+)')""", re.IGNORECASE
)


class CrossTenantAccessRefused(MeshError):
    """A tenant's run addressed another tenant's schema."""


class TenantScopedSession(WarehouseSession):
    """Wraps a warehouse session so one tenant's run cannot read or write another's schema."""

    def __init__(self, inner: WarehouseSession, tenant_id: str) -> None:
        self.inner = inner
        self.tenant_id = safe_identifier(tenant_id, "tenant id")

    def _guard(self, text: str) -> None:
        named = {(dotted or quoted).lower() for dotted, quoted in _TENANT_SCHEMA.findall(text)}
        others = sorted(named - {self.tenant_id})
        if others:
            raise CrossTenantAccessRefused(
                f"Tenant '{self.tenant_id}': refused SQL naming the schema of tenant(s) "
                f"{others}: {text[:160]!r}. Fix: a tenant's run may only use schema "
                f"tenant_{self.tenant_id}; cross-tenant data goes through platform/tenant_*."
            )

    def ensure_schema(self, schema: str) -> None:
        self._guard(f"'{schema}'")
        self.inner.ensure_schema(schema)

    def execute(self, sql: str) -> None:
        self._guard(sql)
        self.inner.execute(sql)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        self._guard(sql)
        return self.inner.fetch(sql)

    def write_arrow(self, schema: str, table: str, data: pa.Table) -> None:
        self._guard(f"{schema}.{table} '{schema}'")
        self.inner.write_arrow(schema, table, data)

    def columns(self, schema: str, table: str) -> list[ColumnInfo]:
        self._guard(f"{schema}.{table} '{schema}'")
        return self.inner.columns(schema, table)


def snowflake_isolation_ddl(tenant_id: str, database: str) -> list[str]:
    """Statements giving tenant `tenant_id` a role that owns only its schema in `database`."""
    tenant = safe_identifier(tenant_id, "tenant id")
    database = safe_identifier(database.lower(), "database")
    role, schema = f"tenant_{tenant}_sync", f"{database}.tenant_{tenant}"
    return [
        f"create role if not exists {role}",
        f"grant usage on database {database} to role {role}",
        f"create schema if not exists {schema}",
        f"grant ownership on schema {schema} to role {role} copy current grants",
        f"grant usage, create table on schema {schema} to role {role}",
    ]
