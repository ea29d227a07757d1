"""The local warehouse: one DuckDB file shared by every code location, a schema per domain."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from dagster_duckdb import DuckDBResource
from pydantic import Field

from platform_core.identifiers import qualified, safe_identifier
from platform_core.warehouse.base import ColumnInfo, Warehouse, WarehouseSession, columns_from_rows


class DuckDBSession(WarehouseSession):
    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection

    def execute(self, sql: str) -> None:
        self.connection.execute(sql)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql).fetchall()

    def write_arrow(self, schema: str, table: str, data: pa.Table) -> None:
        self.ensure_schema(schema)
        self.connection.register("_incoming_arrow", data)
        try:
            self.execute(
                f"create or replace table {qualified(schema, table)} as select * from _incoming_arrow"
            )
        finally:
            self.connection.unregister("_incoming_arrow")

    def columns(self, schema: str, table: str) -> list[ColumnInfo]:
        # duckdb_columns() directly: the information_schema view over it costs ~3x as much,
        # and every check and sync step asks.
        rows = self.connection.execute(
            "select column_name, data_type, numeric_scale from duckdb_columns() "
            "where database_name = current_database() and schema_name = ? and table_name = ? "
            "order by column_index",
            [safe_identifier(schema, "schema"), safe_identifier(table, "table")],
        ).fetchall()
        return columns_from_rows(rows)


class DuckDBWarehouse(Warehouse):
    """DuckDB file warehouse. Connections are short-lived and retried on lock conflicts, so
    several processes (webserver, daemon runs, CLI) can take turns on the one file."""

    path: str = Field(description="Path of the DuckDB warehouse file.")

    @property
    def kind(self) -> str:
        return "duckdb"

    @property
    def database(self) -> str:
        return Path(self.path).stem

    @contextmanager
    def session(self) -> Iterator[DuckDBSession]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with DuckDBResource(database=self.path).get_connection() as connection:
            # dagster-duckdb closes only on success; a failing asset would otherwise keep the
            # file open read-write in this process (and locked for every other process).
            try:
                yield DuckDBSession(connection)
            finally:
                connection.close()
