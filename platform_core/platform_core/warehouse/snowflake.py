"""Branch and production warehouse: Snowflake through dagster-snowflake.

dagster_snowflake is imported only when a session opens (its import costs ~5 s), so local
development never pays for it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from platform_core.environment import BranchWriteRefused, current_environment
from platform_core.identifiers import qualified, safe_identifier
from platform_core.warehouse.base import ColumnInfo, Warehouse, WarehouseSession, columns_from_rows
from platform_core.warehouse.types import snowflake_type

if TYPE_CHECKING:  # the guard parses with sqlglot (~0.1 s to import); only a session needs it
    import pyarrow as pa

    from platform_core.warehouse.branch_guard import BranchStatementGuard


class SnowflakeSession(WarehouseSession):
    """One connection. In a branch deployment every statement given to `execute`/`fetch` is
    parsed first (`BranchStatementGuard`); the session's own statements (bulk loads, catalog
    lookups) are built from validated names only and never leave the session's database."""

    def __init__(self, connection: Any, database: str, guard: BranchStatementGuard | None) -> None:
        self.connection = connection
        self.database = database
        self.guard = guard

    def _run(self, sql: str) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())

    def execute(self, sql: str) -> None:
        if self.guard is not None:
            self.guard.check(sql)
        self._run(sql)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        if self.guard is not None:
            self.guard.check(sql)
        return self._run(sql)

    def ensure_schema(self, schema: str) -> None:
        self._run(f"create schema if not exists {safe_identifier(schema, 'schema')}")

    def literal(self, value: str | float | int | None) -> str:
        # Snowflake string literals treat a backslash as an escape character.
        if isinstance(value, str):
            value = value.replace("\\", "\\\\")
        return super().literal(value)

    def write_arrow(self, schema: str, table: str, data: pa.Table) -> None:
        import pyarrow.parquet as pq

        self.ensure_schema(schema)
        target = qualified(schema, table)
        loading = qualified(schema, f"{safe_identifier(table, 'table')}__loading")
        stage = qualified(schema, f"{table}__stage")
        columns = ", ".join(
            f"{safe_identifier(f.name, 'column')} {snowflake_type(f.type)}" for f in data.schema
        )
        # Typed DDL from the Arrow schema, Snowflake's bulk path for Parquet (PUT to a stage,
        # COPY INTO by column name), then one statement replaces the target: readers never
        # see a half-loaded table, and a failed load leaves the previous copy in place.
        self._run(f"create or replace table {loading} ({columns})")
        self._run(f"create temporary stage if not exists {stage}")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{table}.parquet"
            pq.write_table(data, path)
            self._run(f"put 'file://{path.as_posix()}' @{stage} overwrite = true")
        self._run(
            f"copy into {loading} from @{stage} "
            "file_format = (type = parquet use_logical_type = true) "
            "match_by_column_name = case_insensitive purge = true"
        )
        self._run(f"create or replace table {target} as select * from {loading}")
        self._run(f"drop table if exists {loading}")

    def columns(self, schema: str, table: str) -> list[ColumnInfo]:
        rows = self._run(
            "select column_name, data_type, numeric_scale from information_schema.columns "
            f"where table_schema = '{safe_identifier(schema, 'schema').upper()}' "
            f"and table_name = '{safe_identifier(table, 'table').upper()}' "
            "order by ordinal_position"
        )
        return columns_from_rows(rows)


class SnowflakeWarehouse(Warehouse):
    """Snowflake, configured only from environment variables (see `snowflake_warehouse()`).

    `database_override` exists for tools and tests; in a branch deployment any database but
    the pull request's clone is refused before a connection is opened.
    """

    account: str | None = Field(default=None, description="Snowflake account identifier.")
    user: str
    password: str
    role: str | None = None
    warehouse: str | None = None
    host: str | None = Field(default=None, description="Only for private links or fakesnow.")
    port: int | None = None
    protocol: str | None = None
    database_override: str | None = None
    query_tag: str | None = None
    clone_admin: bool = Field(
        default=False,
        description="The privileged identity that creates/drops clones (see "
        "warehouse.resources.clone_admin_warehouse); only it may open an account session in a "
        "branch environment.",
    )

    @property
    def kind(self) -> str:
        return "snowflake"

    @property
    def database(self) -> str:
        return (self.database_override or current_environment().warehouse_database).upper()

    @contextmanager
    def session(self, role: str | None = None) -> Iterator[SnowflakeSession]:
        """A session on the environment's database, as this resource's role or `role` (a
        tenant's runs pass the tenant's role)."""
        env = current_environment()
        env.assert_may_write(self.database)
        with self._connect(self.database, role) as connection:
            yield SnowflakeSession(connection, self.database, self._branch_guard(self.database))

    @contextmanager
    def account_session(self) -> Iterator[SnowflakeSession]:
        """A session bound to no database, for account-level DDL (creating and dropping the pull
        request's clone: `platform_core.deploy.clones` builds and checks every name itself).

        Only the clone admin identity opens one where the environment is a branch: the
        pull-request workflow, outside the branch deployment. The branch deployment's own
        identity never creates or drops databases."""
        env = current_environment()
        if env.is_branch and not self.clone_admin:
            raise BranchWriteRefused(
                f"Branch deployment (pull request {env.pull_request_id}): refused (account "
                "session in a branch deployment): clones are created and dropped outside it. "
                "Fix: the pull-request workflow runs `meshctl clone create|drop` with the "
                "platform's credentials (SNOWFLAKE_USER/PASSWORD/ROLE)."
            )
        with self._connect(None, None) as connection:
            yield SnowflakeSession(connection, "(account)", None)

    @staticmethod
    def _branch_guard(database: str) -> BranchStatementGuard | None:
        from platform_core.warehouse.branch_guard import BranchStatementGuard

        env = current_environment()
        return BranchStatementGuard(database, env.pull_request_id) if env.is_branch else None

    def connection_args(self, database: str | None, role: str | None) -> dict[str, Any]:
        """What a connection is opened with (no secret): user, role, database. Tests read it."""
        return {"user": self.user, "role": role or self.role, "database": database}

    @contextmanager
    def _connect(self, database: str | None, role: str | None) -> Iterator[Any]:
        from dagster_snowflake import SnowflakeResource

        extra: dict[str, Any] = {
            key: value
            for key, value in {
                "host": self.host,
                "port": self.port,
                "protocol": self.protocol,
            }.items()
            if value is not None
        }
        if self.query_tag:
            extra["session_parameters"] = {"QUERY_TAG": self.query_tag}
        chosen = self.connection_args(database, role)
        resource = SnowflakeResource(
            account=self.account,
            user=chosen["user"],
            password=self.password,
            role=chosen["role"],
            warehouse=self.warehouse,
            database=chosen["database"],
            additional_snowflake_connection_args=extra or None,
        )
        with resource.get_connection() as connection:
            yield connection
