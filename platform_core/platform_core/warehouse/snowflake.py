"""Branch and production warehouse: Snowflake through dagster-snowflake.

dagster_snowflake is imported only when a session opens (its import costs ~5 s), so local
development never pays for it.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import Field

from platform_core.environment import BranchWriteRefused, current_environment
from platform_core.identifiers import qualified, safe_identifier
from platform_core.warehouse.base import ColumnInfo, Warehouse, WarehouseSession, columns_from_rows
from platform_core.warehouse.types import snowflake_type


class SnowflakeSession(WarehouseSession):
    def __init__(self, connection: Any, database: str, forbidden_database: str | None) -> None:
        self.connection = connection
        self.database = database
        self._forbidden = (
            re.compile(
                rf'(?<![A-Za-z0-9_$"])("?){re.escape(forbidden_database)}\1\s*\.', re.IGNORECASE
            )
            if forbidden_database
            else None
        )

    def _guard(self, sql: str) -> None:
        if self._forbidden is not None and self._forbidden.search(sql):
            raise BranchWriteRefused(
                f"Branch deployment SQL names the production database: {sql[:200]!r}. "
                f"Fix: use unqualified schema.table names; the session is bound to {self.database}."
            )

    def execute(self, sql: str) -> None:
        self._guard(sql)
        with self.connection.cursor() as cursor:
            cursor.execute(sql)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        self._guard(sql)
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())

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
        self.execute(f"create or replace table {loading} ({columns})")
        self.execute(f"create temporary stage if not exists {stage}")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{table}.parquet"
            pq.write_table(data, path)
            self.execute(f"put 'file://{path.as_posix()}' @{stage} overwrite = true")
        self.execute(
            f"copy into {loading} from @{stage} "
            "file_format = (type = parquet use_logical_type = true) "
            "match_by_column_name = case_insensitive purge = true"
        )
        self.execute(f"create or replace table {target} as select * from {loading}")
        self.execute(f"drop table if exists {loading}")

    def columns(self, schema: str, table: str) -> list[ColumnInfo]:
        rows = self.fetch(
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

    @property
    def kind(self) -> str:
        return "snowflake"

    @property
    def database(self) -> str:
        return (self.database_override or current_environment().warehouse_database).upper()

    @contextmanager
    def session(self) -> Iterator[SnowflakeSession]:
        env = current_environment()
        env.assert_may_write(self.database)
        with self._connect(self.database) as connection:
            yield SnowflakeSession(connection, self.database, self._forbidden_database())

    @contextmanager
    def account_session(self) -> Iterator[SnowflakeSession]:
        """A session bound to no database, for account-level DDL (creating and dropping the pull
        request's clone). In a branch deployment SQL naming production objects is still refused."""
        with self._connect(None) as connection:
            yield SnowflakeSession(connection, "(account)", self._forbidden_database())

    @staticmethod
    def _forbidden_database() -> str | None:
        env = current_environment()
        return env.production_database if env.is_branch else None

    @contextmanager
    def _connect(self, database: str | None) -> Iterator[Any]:
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
        resource = SnowflakeResource(
            account=self.account,
            user=self.user,
            password=self.password,
            role=self.role,
            warehouse=self.warehouse,
            database=database,
            additional_snowflake_connection_args=extra or None,
        )
        with resource.get_connection() as connection:
            yield connection
