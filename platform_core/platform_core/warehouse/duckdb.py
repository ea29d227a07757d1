"""The local warehouse: one DuckDB file shared by every code location, a schema per domain,
and next to it one locked DuckDB file per tenant (`tenants/tenant_<id>.duckdb`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from platform_core.identifiers import qualified, safe_identifier
from platform_core.warehouse.base import ColumnInfo, Warehouse, WarehouseSession, columns_from_rows

if TYPE_CHECKING:  # duckdb (~0.25 s to import) is needed by a session, not by a location load
    import duckdb
    import pyarrow as pa

# A tenant store is opened with these, then `lock_configuration` (set last) freezes them: SQL
# in the session cannot open any other file (ATTACH, read_*, COPY, EXPORT), load extensions,
# scan Python objects of the process, or change a setting back.
LOCKED_STORE_CONFIG = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
}
TENANT_STORES = "tenants"


def tenant_store_dir(warehouse_path: str | Path) -> Path:
    """Where the tenant stores of the warehouse at `warehouse_path` live (next to it)."""
    return Path(warehouse_path).parent / TENANT_STORES


def tenant_store_path(warehouse_path: str | Path, store: str) -> Path:
    return tenant_store_dir(warehouse_path) / f"{safe_identifier(store, 'store')}.duckdb"


class DuckDBSession(WarehouseSession):
    def __init__(self, connection: duckdb.DuckDBPyConnection, path: str | None = None) -> None:
        self.connection = connection
        self.path = path

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

    def attach_read_only(self, stores: list[str]) -> None:
        """Attach tenant stores READ_ONLY (the governed union reads them, never writes)."""
        if self.path is None:
            raise ValueError("attach_read_only needs the session's warehouse path")
        for store in stores:
            path = tenant_store_path(self.path, store)
            if not path.is_file():
                raise FileNotFoundError(path)
            literal = str(path).replace("'", "''")
            self.connection.execute(f"attach if not exists '{literal}' as {store} (read_only)")


class DuckDBStoreSession(DuckDBSession):
    """A session on one locked single-schema store: the catalog `store` is the schema, its
    tables live in `main` and are written `<store>.<table>` (a schema of that name inside would
    make every such name ambiguous, so none is ever created)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, store: str) -> None:
        super().__init__(connection)
        self.store = store

    def _own(self, schema: str) -> None:
        if schema != self.store:
            raise PermissionError(f"store {self.store} holds schema {self.store} only")

    def ensure_schema(self, schema: str) -> None:
        self._own(schema)

    def write_arrow(self, schema: str, table: str, data: pa.Table) -> None:
        self._own(schema)
        self.connection.register("_incoming_arrow", data)
        try:
            self.connection.execute(
                f"create or replace table {self.store}.main.{safe_identifier(table, 'table')} "
                "as select * from _incoming_arrow"
            )
        finally:
            self.connection.unregister("_incoming_arrow")

    def columns(self, schema: str, table: str) -> list[ColumnInfo]:
        return self.tables_columns(schema, [table])[table]

    def tables_columns(self, schema: str, tables: Sequence[str]) -> dict[str, list[ColumnInfo]]:
        """One catalog query for all `tables` (the sync validates every table's schema)."""
        self._own(schema)
        names = [safe_identifier(table, "table") for table in tables]
        # duckdb_columns(): see DuckDBSession.columns. `in (?, ...)`, not list_contains(): the
        # filter then reaches the catalog scan (3 ms against 30 ms here).
        rows = self.connection.execute(
            "select table_name, column_name, data_type, numeric_scale from duckdb_columns() "
            "where database_name = ? and schema_name = 'main' "
            f"and table_name in ({', '.join('?' for _ in names)}) "
            "order by table_name, column_index",
            [self.store, *names],
        ).fetchall()
        found: dict[str, list[tuple[Any, ...]]] = {name: [] for name in names}
        for table, *column in rows:
            found[table].append(tuple(column))
        return {name: columns_from_rows(found[name]) for name in names}


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
        from dagster_duckdb import DuckDBResource

        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with DuckDBResource(database=self.path).get_connection() as connection:
            # dagster-duckdb closes only on success; a failing asset would otherwise keep the
            # file open read-write in this process (and locked for every other process).
            try:
                yield DuckDBSession(connection, self.path)
            finally:
                connection.close()

    @contextmanager
    def store_session(self, store: str) -> Iterator[DuckDBStoreSession]:
        """The one way to open a tenant store for writing: locked before any SQL runs."""
        import duckdb

        path = tenant_store_path(self.path, store)
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = duckdb.connect(str(path), config=LOCKED_STORE_CONFIG)
        try:
            connection.execute("set lock_configuration = true")
            yield DuckDBStoreSession(connection, store)
        finally:
            connection.close()
