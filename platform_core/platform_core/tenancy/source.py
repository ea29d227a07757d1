"""Reading a tenant's PostgreSQL database: its tables, their schema, rows as Arrow, checksums.

The copy mechanism is ADBC (adbc-driver-postgresql), chosen by measurement on this machine:
1,000,000 order rows into Arrow took 0.83-0.88 s with ADBC, 0.98-1.12 s with connectorx
(1.15-1.23 s partitioned in two); DuckDB's postgres extension cannot be installed here (its
download is blocked and the PyPI build targets DuckDB 1.4, not 2.0); dlt adds extract/normalize
files around the same drivers. ADBC also writes (seeding) and gives Arrow that both DuckDB and
Snowflake's `write_arrow` take unchanged. See bench/bench_tenant_sync.py for the figures.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from platform_core.errors import ConfigurationError, scrub
from platform_core.identifiers import safe_identifier

if TYPE_CHECKING:  # pyarrow is imported by the sync run that reads rows, not at location load
    import pyarrow as pa

# PostgreSQL information_schema type names -> the contract vocabulary (platform_core.warehouse).
_PG_LOGICAL = {
    "bigint": "integer",
    "integer": "integer",
    "smallint": "integer",
    "text": "string",
    "character varying": "string",
    "character": "string",
    "boolean": "boolean",
    "date": "date",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamp",
    "double precision": "float",
    "real": "float",
}
DECIMAL_CHECKSUM_SCALE = 9
# The tables tenant sync copies from every tenant's application database.
SYNCED_TABLES = ("customers", "products", "orders")


class SourceUnavailable(ConfigurationError):
    """The tenant's database could not be reached (down, refusing connections, bad URL)."""


@dataclass(frozen=True)
class SourceColumn:
    name: str
    pg_type: str
    logical_type: str
    precision: int | None
    scale: int | None


def pg_logical_type(data_type: str, scale: int | None) -> str:
    if data_type == "numeric":
        return "integer" if scale == 0 else "decimal"
    return _PG_LOGICAL.get(data_type, f"other:{data_type}")


@contextmanager
def connect(url: str, tenant_id: str) -> Iterator[Any]:
    """A connection whose transaction reads one REPEATABLE READ snapshot of the database."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc

    try:
        connection = adbc.connect(url)
    except adbc_driver_manager.Error as exc:
        raise SourceUnavailable(
            f"Tenant '{tenant_id}': its database is unreachable "
            f"({scrub(str(exc).splitlines()[0], url)}). "
            "Fix: check the server and the URL in the tenant's source_env variable; once it is "
            "back, backfill the tenant's failed partitions."
        ) from None
    try:
        # One snapshot for rows, counts and checksums. ADBC (autocommit off) has already begun
        # the transaction, so a session default would only apply to the *next* one: set this
        # transaction's level before its first query.
        with connection.cursor() as cursor:
            cursor.execute("set transaction isolation level repeatable read")
        yield connection
    finally:
        connection.close()


def _fetch(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def source_catalog(
    connection: Any, tables: Sequence[str]
) -> tuple[list[str], dict[str, list[SourceColumn]]]:
    """(every base table of `public`, the columns of each of `tables` in order), in one round
    trip: a sync needs both before it reads a row."""
    names = [safe_identifier(table, "source table") for table in tables]
    listed = ", ".join(f"'{name}'" for name in names)
    rows = _fetch(
        connection,
        "select t.table_name, c.column_name, c.data_type, c.numeric_precision, c.numeric_scale "
        "from information_schema.tables t left join information_schema.columns c "
        "on c.table_schema = t.table_schema and c.table_name = t.table_name "
        f"and c.table_name in ({listed}) "
        "where t.table_schema = 'public' and t.table_type = 'BASE TABLE' "
        "order by t.table_name, c.ordinal_position",
    )
    present: list[str] = []
    schemas: dict[str, list[SourceColumn]] = {name: [] for name in names}
    for table, name, data_type, precision, scale in rows:
        if not present or present[-1] != table:
            present.append(safe_identifier(table, "source table"))
        if name is not None:
            schemas[table].append(
                SourceColumn(
                    safe_identifier(name, f"column of {table}"),
                    data_type,
                    pg_logical_type(data_type, scale),
                    precision,
                    scale,
                )
            )
    return present, schemas


def source_schemas(connection: Any, tables: Sequence[str]) -> dict[str, list[SourceColumn]]:
    """The columns of each of `tables` (in order), in one round trip."""
    return source_catalog(connection, tables)[1]


def source_columns(connection: Any, table: str) -> list[SourceColumn]:
    return source_schemas(connection, [table])[safe_identifier(table, "source table")]


def _decimal_type(column: SourceColumn) -> pa.Decimal128Type:
    import pyarrow as pa

    if column.scale is None:  # unconstrained numeric: keep enough digits, 9 after the point
        return pa.decimal128(38, DECIMAL_CHECKSUM_SCALE)
    return pa.decimal128(column.precision or 38, column.scale)


def read_table(connection: Any, table: str, columns: list[SourceColumn]) -> pa.Table:
    """All rows of `table` as Arrow, with numerics as exact decimals."""
    import pyarrow as pa
    import pyarrow.compute as pc

    select = ", ".join(c.name for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"select {select} from public.{safe_identifier(table, 'source table')}")
        data = cursor.fetch_arrow_table()
    arrays, fields = [], []
    for column, array in zip(columns, data.columns, strict=True):
        if column.logical_type in {"decimal", "integer"} and column.pg_type == "numeric":
            # ADBC hands NUMERIC over as text (an opaque extension type): parse it exactly.
            storage = pa.chunked_array(
                [chunk.storage if hasattr(chunk, "storage") else chunk for chunk in array.chunks],
                type=pa.string(),
            )
            array = pc.cast(storage, _decimal_type(column))
        arrays.append(array)
        fields.append(pa.field(column.name, array.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _row_text_pg(columns: list[SourceColumn]) -> str:
    parts = []
    for c in columns:
        if c.logical_type == "timestamp":
            expr = f"to_char({c.name}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        elif c.logical_type == "date":
            expr = f"to_char({c.name}, 'YYYY-MM-DD')"
        elif c.logical_type == "decimal":
            expr = f"round({c.name}::numeric, {DECIMAL_CHECKSUM_SCALE})::text"
        elif c.logical_type == "boolean":
            expr = f"case when {c.name} then 't' else 'f' end"
        else:
            expr = f"{c.name}::text"
        parts.append(f"coalesce({expr}, chr(30))")
    return f"concat_ws(chr(31), {', '.join(parts)})"


def source_fingerprints(
    connection: Any, schemas: Mapping[str, list[SourceColumn]]
) -> dict[str, tuple[int, str]]:
    """(row count, order-independent MD5 checksum) of each source table, computed in
    PostgreSQL in one round trip (inside the caller's snapshot)."""
    selects = [
        f"select '{safe_identifier(table, 'source table')}', count(*), "
        f"coalesce(sum(('x' || substr(md5({_row_text_pg(columns)}), 1, 15))::bit(60)::bigint), "
        f"0)::text from public.{safe_identifier(table, 'source table')}"
        for table, columns in schemas.items()
    ]
    rows = _fetch(connection, " union all ".join(selects))
    return {table: (int(count), format(int(total), "x")) for table, count, total in rows}


def source_fingerprint(connection: Any, table: str, columns: list[SourceColumn]) -> tuple[int, str]:
    return source_fingerprints(connection, {table: columns})[table]
