"""The logical column types of data-product contracts, and how warehouses spell them.

Contracts use one small vocabulary so the same declaration holds on DuckDB and Snowflake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pyarrow costs ~0.2 s; only a run needs it
    import pyarrow as pa

LOGICAL_TYPES = ("string", "integer", "decimal", "float", "boolean", "date", "timestamp")

_DUCKDB = {
    "VARCHAR": "string",
    "TEXT": "string",
    "BIGINT": "integer",
    "INTEGER": "integer",
    "SMALLINT": "integer",
    "TINYINT": "integer",
    "HUGEINT": "integer",
    "UBIGINT": "integer",
    "UINTEGER": "integer",
    "DOUBLE": "float",
    "FLOAT": "float",
    "REAL": "float",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_S": "timestamp",
}

_SNOWFLAKE = {
    "TEXT": "string",
    "VARCHAR": "string",
    "STRING": "string",
    "FLOAT": "float",
    "DOUBLE": "float",
    "REAL": "float",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP_NTZ": "timestamp",
    "TIMESTAMP_LTZ": "timestamp",
    "TIMESTAMP_TZ": "timestamp",
    "TIMESTAMP": "timestamp",
    "BIGINT": "integer",
    "INTEGER": "integer",
    "INT": "integer",
}


def logical_type(warehouse_type: str, numeric_scale: int | None = None) -> str:
    """Map a warehouse's type name to the contract vocabulary ('other:<TYPE>' if unknown)."""
    upper = warehouse_type.upper().strip()
    if upper.startswith(("DECIMAL", "NUMERIC", "NUMBER")):
        scale = numeric_scale
        if scale is None and "," in upper:
            scale = int(upper.split(",")[1].rstrip(") "))
        return "integer" if scale == 0 else "decimal"
    if upper.startswith("VARCHAR"):
        return "string"
    return _DUCKDB.get(upper) or _SNOWFLAKE.get(upper) or f"other:{upper}"


def snowflake_type(arrow_type: pa.DataType) -> str:
    """Snowflake column type for an Arrow type (used for typed DDL before bulk loads)."""
    import pyarrow as pa

    if pa.types.is_decimal(arrow_type):
        return f"NUMBER({arrow_type.precision}, {arrow_type.scale})"
    if pa.types.is_integer(arrow_type):
        return "NUMBER(38, 0)"
    if pa.types.is_floating(arrow_type):
        return "FLOAT"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_date(arrow_type):
        return "DATE"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP_TZ" if arrow_type.tz else "TIMESTAMP_NTZ"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    raise TypeError(f"no Snowflake column type for Arrow type {arrow_type}")
