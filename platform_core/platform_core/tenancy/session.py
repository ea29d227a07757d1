"""`tenant_session(tenant_id)`: the one way code acting for a tenant gets a warehouse session.

- Local (DuckDB): the tenant's own file `<warehouse dir>/tenants/tenant_<id>.duckdb`, opened
  with external access off, no extension loading, no Python-object scans and the
  configuration locked (`DuckDBWarehouse.store_session`). The platform's warehouse, its shared
  schemas, its control table `tenancy.synced` and other tenants' files are not reachable from it.
- Snowflake: a connection with the tenant's role (`TENANT_<ID>_SYNC`, which owns only schema
  `tenant_<id>`) and secondary roles off, so the server refuses every other schema.

Every statement is then parsed by `TenantStatementGuard` (the second layer). The sync, its
checks, and a dedicated tenant location's own assets (through `TenantWarehouse`) all use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import Field

from platform_core.errors import ConfigurationError
from platform_core.identifiers import safe_identifier
from platform_core.tenancy.isolation import CrossTenantAccessRefused, tenant_role
from platform_core.warehouse.base import ColumnInfo, Warehouse, WarehouseSession
from platform_core.warehouse.duckdb import DuckDBWarehouse
from platform_core.warehouse.snowflake import SnowflakeWarehouse

if TYPE_CHECKING:  # the guard imports sqlglot: a session needs it, a location load does not
    import pyarrow as pa

    from platform_core.tenancy.statement_guard import TenantStatementGuard


class TenantSession(WarehouseSession):
    """A session acting for one tenant: every statement checked, every schema its own."""

    def __init__(self, inner: WarehouseSession, guard: TenantStatementGuard) -> None:
        self._inner = inner
        self.guard = guard
        self.tenant_id = guard.tenant_id

    @property
    def is_duckdb(self) -> bool:
        return self.guard.dialect == "duckdb"

    def _own(self, schema: str) -> None:
        if schema != self.guard.schema:
            raise CrossTenantAccessRefused(
                f"Tenant '{self.tenant_id}': refused (schema outside the tenant's own store): "
                f"{schema!r}. Fix: use schema {self.guard.schema}; cross-tenant data goes "
                "through platform/tenant_*."
            )

    def execute(self, sql: str) -> None:
        self.guard.check(sql)
        self._inner.execute(sql)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        self.guard.check(sql)
        return self._inner.fetch(sql)

    def ensure_schema(self, schema: str) -> None:
        """The tenant's schema exists already: locally it is the store itself; on Snowflake
        the platform makes it (`tenant_grants_plan`, or the sync before the tenant session),
        and the tenant role has no privilege to create schemas."""
        self._own(schema)
        if self.is_duckdb:
            self._inner.ensure_schema(schema)

    def write_arrow(self, schema: str, table: str, data: pa.Table) -> None:
        self._own(schema)
        self._inner.write_arrow(schema, safe_identifier(table, "table"), data)

    def columns(self, schema: str, table: str) -> list[ColumnInfo]:
        self._own(schema)
        return self._inner.columns(schema, table)

    def tables_columns(self, schema: str, tables: Sequence[str]) -> dict[str, list[ColumnInfo]]:
        self._own(schema)
        return self._inner.tables_columns(schema, tables)

    def literal(self, value: str | float | int | None) -> str:
        return self._inner.literal(value)


def _environment_warehouse() -> Warehouse:
    from platform_core.environment import current_environment
    from platform_core.warehouse.resources import warehouse_resources

    return warehouse_resources(current_environment(), "tenant_sync")["warehouse"]


@contextmanager
def tenant_session(tenant_id: str, warehouse: Warehouse | None = None) -> Iterator[TenantSession]:
    """The warehouse session for tenant `tenant_id` (the environment's warehouse by default)."""
    from platform_core.tenancy.statement_guard import TenantStatementGuard

    tenant = safe_identifier(tenant_id, "tenant id")
    warehouse = _environment_warehouse() if warehouse is None else warehouse
    if isinstance(warehouse, TenantWarehouse):
        if warehouse.tenant_id != tenant:
            raise CrossTenantAccessRefused(
                f"Tenant '{warehouse.tenant_id}': refused a session for tenant '{tenant}'. "
                "Fix: a tenant location opens its own tenant's session only."
            )
        warehouse = warehouse.warehouse
    if isinstance(warehouse, DuckDBWarehouse):
        with warehouse.store_session(f"tenant_{tenant}") as inner:
            yield TenantSession(inner, TenantStatementGuard(tenant, "duckdb"))
    elif isinstance(warehouse, SnowflakeWarehouse):
        with warehouse.session(role=tenant_role(tenant)) as inner:
            guard = TenantStatementGuard(tenant, "snowflake", warehouse.database)
            yield TenantSession(inner, guard)
    else:
        raise ConfigurationError(
            f"Tenant '{tenant}': no tenant session for warehouse {type(warehouse).__name__}. "
            "Fix: use DuckDBWarehouse or SnowflakeWarehouse."
        )


class TenantWarehouse(Warehouse):
    """The `warehouse` resource of a dedicated tenant location: `session()` is
    `tenant_session(tenant_id)`, so the tenant's own assets never hold another session."""

    tenant_id: str = Field(description="The tenant this location acts for.")
    warehouse: Warehouse = Field(description="The environment's warehouse (platform side).")

    @property
    def kind(self) -> str:
        return self.warehouse.kind

    @property
    def database(self) -> str:
        return self.warehouse.database

    @contextmanager
    def session(self) -> Iterator[TenantSession]:
        with tenant_session(self.tenant_id, self.warehouse) as session:
            yield session
