"""Tenant isolation: what a tenant's session may run, and the Snowflake grants that enforce it.

The boundary is the engine (see `platform_core.tenancy.session`): locally each tenant's data is
its own DuckDB file opened with external access off, extensions off and configuration locked;
on Snowflake each tenant's runs connect with a role that owns only its schema. This module is
the second layer, a parser over every statement of a tenant session (`TenantStatementGuard`),
and the grants plan that gives each tenant its role (`tenant_grants_plan`).
Sources: each tenant database belongs to its own PostgreSQL role and CONNECT is revoked from
PUBLIC (`mesh_tooling.sample.tenant_databases`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from platform_core.errors import MeshError
from platform_core.identifiers import safe_identifier
from platform_core.warehouse.sql_guard import (
    QUERIES_AND_DML,
    Refusal,
    cte_names,
    first_refusal,
    plain_name,
    statement_kind_refusal,
    table_references,
    value_table_function,
)

# Statement kinds a tenant's code needs: queries, DML, tables and views in its own store.
_OBJECT_KINDS = {"TABLE", "VIEW"}
_SYSTEM_NAME_PREFIXES = ("duckdb_", "pragma_", "sqlite_", "pg_")


class CrossTenantAccessRefused(MeshError):
    """A tenant's session was sent SQL that could leave the tenant's own store."""


@dataclass(frozen=True)
class TenantStatementGuard:
    """Refuses any statement not provably inside tenant `tenant_id`'s own store.

    DuckDB: the store is the catalog `tenant_<id>` (tables in its `main` schema, written
    `tenant_<id>.<table>`). Snowflake: the schema `tenant_<id>` of the session's database.
    """

    tenant_id: str
    dialect: str  # "duckdb" or "snowflake"
    database: str | None = None  # Snowflake: the session's database

    @property
    def schema(self) -> str:
        return f"tenant_{self.tenant_id}"

    def check(self, sql: str) -> None:
        refusal = first_refusal(sql, self.dialect, self._statement)
        if refusal is not None:
            raise CrossTenantAccessRefused(
                f"Tenant '{self.tenant_id}': refused ({refusal.rule}): {refusal.detail}. "
                f"SQL: {sql[:160]!r}. Fix: {refusal.fix}; a tenant's session reaches only "
                f"{self.schema}, and cross-tenant data goes through platform/tenant_*."
            )

    def _statement(self, statement: exp.Expression) -> Refusal | None:
        refusal = statement_kind_refusal(
            statement,
            QUERIES_AND_DML,
            _OBJECT_KINDS,
            "statement kind not allowed",
            "use SELECT, INSERT, UPDATE, DELETE, CREATE/DROP/ALTER TABLE or VIEW",
        )
        if refusal is not None:
            return refusal
        ctes = cte_names(statement)
        for table in table_references(statement):
            refusal = self._table(table, ctes)
            if refusal is not None:
                return refusal
        return None

    def _table(self, table: exp.Table, ctes: set[str]) -> Refusal | None:
        if value_table_function(table):
            return None
        if not isinstance(table.this, exp.Identifier):
            return Refusal(
                "table function",
                table.sql(dialect=self.dialect)[:60],
                "read tables of your own schema by name",
            )
        name, db, catalog = table.name, table.db, table.catalog
        written = ".".join(p for p in (catalog, db, name) if p)
        if not all(plain_name(p) for p in (catalog, db, name) if p):
            return Refusal(
                "name is not a plain identifier (a file path or quoted name)",
                repr(written),
                f"write {self.schema}.<table>",
            )
        catalog, db, name = catalog.lower(), db.lower(), name.lower()
        outside = Refusal(
            "name outside the tenant's own store", written, f"write {self.schema}.<table>"
        )
        if self.dialect == "duckdb":
            if catalog and (catalog != self.schema or db != "main"):
                return outside
            if not catalog and db not in {"", "main", self.schema}:
                return outside
            if not db and name.startswith(_SYSTEM_NAME_PREFIXES) and name not in ctes:
                return Refusal("catalog view", written, f"list {self.schema} by its own tables")
            return None
        if catalog and catalog != (self.database or "").lower():
            return outside
        if db != self.schema and not (not db and name in ctes):
            return outside
        return None


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
