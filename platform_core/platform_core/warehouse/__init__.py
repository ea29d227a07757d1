"""Warehouse resources: DuckDB locally, Snowflake in branch and prod, chosen by environment."""

from platform_core.warehouse.base import ColumnInfo, Warehouse, WarehouseSession
from platform_core.warehouse.duckdb import DuckDBWarehouse
from platform_core.warehouse.resources import warehouse_resources
from platform_core.warehouse.snowflake import SnowflakeWarehouse
from platform_core.warehouse.types import LOGICAL_TYPES, logical_type

__all__ = [
    "LOGICAL_TYPES",
    "ColumnInfo",
    "DuckDBWarehouse",
    "SnowflakeWarehouse",
    "Warehouse",
    "WarehouseSession",
    "logical_type",
    "warehouse_resources",
]
