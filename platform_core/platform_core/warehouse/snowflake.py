"""Branch and production warehouse: Snowflake through dagster-snowflake.

dagster_snowflake is imported only when a session opens (its import costs ~5 s), so local
development never pays for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
from pydantic import Field

from platform_core.environment import BranchWriteRefused, current_environment
from platform_core.identifiers import safe_identifier
from platform_core.warehouse.base import ColumnInfo, Warehouse, WarehouseSession, columns_from_rows


class SnowflakeSession(WarehouseSession):
    def __init__(self, connection: Any, database: str, forbidden_database: str | None) -> None:
        self.connection = connection
        self.database = database
        self._forbidden = (
            re.compile(rf"(?<![A-Za-z0-9_$\"]){re.escape(forbidden_database)}\s*\.", re.IGNORECASE)
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

    def write_arrow(self, schema: str, table: str, data: pa.Table) -> None:
        from snowflake.connector.pandas_tools import write_pandas

        self.ensure_schema(schema)
        frame = data.to_pandas()
        frame.columns = [safe_identifier(str(c), "column").upper() for c in frame.columns]
        # overwrite=True loads into a fresh table and swaps it in, so readers never see half.
        write_pandas(
            self.connection,
            frame,
            table_name=safe_identifier(table, "table").upper(),
            schema=safe_identifier(schema, "schema").upper(),
            database=self.database,
            auto_create_table=True,
            overwrite=True,
            quote_identifiers=False,
            use_logical_type=True,
        )

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
        from dagster_snowflake import SnowflakeResource

        env = current_environment()
        env.assert_may_write(self.database)
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
            database=self.database,
            additional_snowflake_connection_args=extra or None,
        )
        forbidden = env.production_database if env.is_branch else None
        with resource.get_connection() as connection:
            yield SnowflakeSession(connection, self.database, forbidden)
