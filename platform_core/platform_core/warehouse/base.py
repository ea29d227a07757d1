"""The warehouse interface every asset uses; DuckDB locally, Snowflake in branch and prod.

Assets talk to `Warehouse` only, so the same asset code runs on both. SQL given to it must use
the portable subset both engines share (CREATE OR REPLACE TABLE ... AS, QUALIFY, INTERVAL
'n days', DATE_TRUNC, window functions), with tables as `schema.table`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_core.identifiers import qualified, safe_identifier
from platform_core.warehouse.types import logical_type

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    warehouse_type: str
    logical_type: str


class WarehouseSession(ABC):
    """One open connection; cheap operations for the body of one asset or check."""

    @abstractmethod
    def execute(self, sql: str) -> None: ...

    @abstractmethod
    def fetch(self, sql: str) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def write_arrow(self, schema: str, table: str, data: pa.Table) -> None:
        """Replace `schema.table` with `data` in one step (readers see old or new, never half)."""

    @abstractmethod
    def columns(self, schema: str, table: str) -> list[ColumnInfo]:
        """The table's columns in order, names lower-cased; empty if the table is missing."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Statements in the block commit together, or roll back together when it raises."""
        self.execute("begin transaction")
        try:
            yield
            self.execute("commit")
        except BaseException:
            self.execute("rollback")
            raise

    def tables_columns(self, schema: str, tables: Sequence[str]) -> dict[str, list[ColumnInfo]]:
        """`columns` of several tables of `schema` (engines that can answer in one query do)."""
        return {table: self.columns(schema, table) for table in tables}

    def ensure_schema(self, schema: str) -> None:
        self.execute(f"create schema if not exists {safe_identifier(schema, 'schema')}")

    def replace_table(self, schema: str, table: str, select_sql: str) -> None:
        """Materialize a SELECT as `schema.table`, atomically replacing the previous copy."""
        self.ensure_schema(schema)
        self.execute(f"create or replace table {qualified(schema, table)} as\n{select_sql}")

    def row_count(self, schema: str, table: str) -> int:
        return int(self.fetch(f"select count(*) from {qualified(schema, table)}")[0][0])

    def literal(self, value: str | float | int | None) -> str:
        """`value` as a SQL literal (standard quoting; engines with backslash escapes override)."""
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        return "'" + str(value).replace("'", "''") + "'"

    def scalar(self, sql: str) -> Any:
        rows = self.fetch(sql)
        return rows[0][0] if rows else None


class Warehouse(dg.ConfigurableResource, ABC):
    """A Dagster resource that opens `WarehouseSession`s on the environment's warehouse."""

    @property
    @abstractmethod
    def kind(self) -> str:
        """'duckdb' or 'snowflake': shown as the asset kind."""

    @property
    @abstractmethod
    def database(self) -> str:
        """The database (catalog) name, as shown in `dagster/table_name`."""

    @abstractmethod
    def session(self) -> AbstractContextManager[WarehouseSession]: ...


def columns_from_rows(rows: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]]) -> list[ColumnInfo]:
    """Build ColumnInfo from information_schema rows of (name, data_type, numeric_scale)."""
    return [
        ColumnInfo(
            name=str(name).lower(),
            warehouse_type=str(data_type),
            logical_type=logical_type(str(data_type), None if scale is None else int(scale)),
        )
        for name, data_type, scale in rows
    ]
