"""Second layer of the branch boundary: a branch session runs only what stays in its clone.

The boundary itself is the credentials: a branch deployment connects as its own user and role
(`SNOWFLAKE_BRANCH_*`, see `platform_core.environment`) with privileges on its clone only.
This guard parses every statement (sqlglot, Snowflake dialect), resolves every name against
the session's database and refuses what it cannot prove stays there: USE, SET/UNSET, ALTER
SESSION, EXECUTE IMMEDIATE, CALL, GRANT, IDENTIFIER()/session variables, database- and
account-level DDL, any name in another database, anything it cannot parse.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from platform_core.environment import BranchWriteRefused
from platform_core.warehouse.sql_guard import (
    QUERIES_AND_DML,
    Refusal,
    ddl_kind,
    first_refusal,
    plain_name,
    statement_kind_refusal,
    table_references,
    value_table_function,
)

_ALLOWED = (*QUERIES_AND_DML, exp.Copy)  # COPY: stages inside the clone load its tables
_OBJECT_KINDS = {"TABLE", "VIEW", "SCHEMA", "STAGE"}


@dataclass(frozen=True)
class BranchStatementGuard:
    """Refuses any statement of pull request `pull_request`'s session not inside `database`."""

    database: str  # the clone
    pull_request: str | None

    def check(self, sql: str) -> None:
        refusal = first_refusal(sql, "snowflake", self._statement)
        if refusal is not None:
            raise BranchWriteRefused(
                f"Branch deployment (pull request {self.pull_request}): refused "
                f"({refusal.rule}): {refusal.detail}. SQL: {sql[:160]!r}. Fix: {refusal.fix}; "
                f"the session is bound to the clone {self.database}, write schema.table names."
            )

    def _statement(self, statement: exp.Expression) -> Refusal | None:
        refusal = statement_kind_refusal(
            statement,
            _ALLOWED,
            _OBJECT_KINDS,
            "statement kind not allowed in a branch",
            "branch code runs queries, DML and table/view/schema DDL inside its clone; "
            "USE, SET, session, database and account statements are not available",
        )
        if refusal is not None:
            return refusal
        for table in table_references(statement):
            refusal = self._table(table, schema_ddl=ddl_kind(statement) == "SCHEMA")
            if refusal is not None:
                return refusal
        return None

    def _table(self, table: exp.Table, schema_ddl: bool) -> Refusal | None:
        if value_table_function(table):
            return None
        if isinstance(table.this, exp.Var) and str(table.this.name).startswith("@"):
            parts = str(table.this.name)[1:].split(".")  # a stage: @[db.]schema.stage
            catalog = parts[0] if len(parts) == 3 else ""
        elif not isinstance(table.this, exp.Identifier) and not schema_ddl:
            return Refusal(
                "dynamic name (IDENTIFIER() or a table function)",
                table.sql(dialect="snowflake")[:60],
                "write the name itself",
            )
        else:
            catalog = table.catalog
            if not all(plain_name(p) for p in (table.catalog, table.db, table.name) if p):
                return Refusal("name is not a plain identifier", repr(table.sql()), "rename it")
        if catalog and catalog.upper() != self.database.upper():
            return Refusal(
                "name in another database",
                table.sql(dialect="snowflake")[:80],
                "drop the database part of the name",
            )
        return None
