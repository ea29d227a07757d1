"""The second layer of tenant isolation: every statement of a tenant session parsed and checked.

The engine is the boundary (`platform_core.tenancy.session`); this guard refuses any statement
that is not provably inside the tenant's own store. It is imported when a tenant session opens,
not at location load (sqlglot costs ~0.1 s to import).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from platform_core.tenancy.isolation import CrossTenantAccessRefused
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
