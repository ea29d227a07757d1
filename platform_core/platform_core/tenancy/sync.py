"""Atomic, validated full refresh of one tenant's database into its own warehouse schema.

Staging, validate, swap, in one warehouse transaction: every table is replaced inside a DuckDB
transaction (the staging copy is the transaction's private version), then row counts and an
order-independent MD5 checksum are compared with the source snapshot *before* COMMIT. A failed
validation rolls back; a killed process never commits. Either way readers keep the previous
complete copy. The source is read in one REPEATABLE READ transaction, so counts, checksums and
rows describe the same snapshot.

The tenant's tables are written through `tenant_session` only (locally the tenant's own
DuckDB file). `tenancy.synced` (one row per tenant) is the platform's control table, in the
platform's warehouse, which no tenant session can reach: the governed entry point
(platform/tenant_*) reads it, so only validated tenants are visible there. It is written after
the tenant's copy committed; a process killed in between leaves the previous row, which still
describes a validated copy.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from platform_core.errors import MeshError
from platform_core.identifiers import qualified, safe_identifier
from platform_core.tenancy.session import TenantSession, tenant_session
from platform_core.tenancy.source import (
    DECIMAL_CHECKSUM_SCALE,
    SourceColumn,
    connect,
    read_table,
    source_catalog,
    source_fingerprints,
)
from platform_core.warehouse.base import Warehouse, WarehouseSession
from platform_core.warehouse.duckdb import DuckDBWarehouse

if TYPE_CHECKING:  # the run that copies rows imports pyarrow (through the source reader)
    import pyarrow as pa

    # An annotation only: the platform location's entry point reads this module's constants
    # and has no use for the registry's models (nor croniter, which they import).
    from platform_core.tenancy.registry import TenantEntry

CONTROL_SCHEMA = "tenancy"  # not tenant_<x>: no tenant id can collide with it
CONTROL_TABLE = "synced"


class SyncValidationError(MeshError):
    """The staged copy does not match the source; nothing was swapped in."""


@dataclass(frozen=True)
class TableSync:
    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str
    source_schema: dict[str, str]
    target_schema: dict[str, str]

    @property
    def problems(self) -> list[str]:
        found = []
        if self.source_rows != self.target_rows:
            found.append(f"rows: source {self.source_rows}, warehouse {self.target_rows}")
        if self.source_checksum != self.target_checksum:
            found.append(f"md5: source {self.source_checksum}, warehouse {self.target_checksum}")
        if self.source_schema != self.target_schema:
            found.append(f"schema: source {self.source_schema}, warehouse {self.target_schema}")
        return found


@dataclass
class SyncReport:
    tenant_id: str
    schema: str
    tables: dict[str, TableSync] = field(default_factory=dict)
    extra_source_tables: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.target_rows for t in self.tables.values())


def _row_text_duckdb(columns: Sequence[SourceColumn]) -> str:
    parts = []
    for c in columns:
        if c.logical_type == "timestamp":
            expr = f"strftime({c.name}, '%Y-%m-%dT%H:%M:%S.%f')"
        elif c.logical_type == "date":
            expr = f"strftime({c.name}, '%Y-%m-%d')"
        elif c.logical_type == "decimal":
            expr = f"cast(cast({c.name} as decimal(38, {DECIMAL_CHECKSUM_SCALE})) as varchar)"
        elif c.logical_type == "boolean":
            expr = f"case when {c.name} then 't' else 'f' end"
        else:
            expr = f"cast({c.name} as varchar)"
        parts.append(f"coalesce({expr}, chr(30))")
    return f"concat_ws(chr(31), {', '.join(parts)})"


def _is_duckdb(session: WarehouseSession) -> bool:
    from platform_core.warehouse.duckdb import DuckDBSession

    if isinstance(session, TenantSession):
        return session.is_duckdb
    return isinstance(session, DuckDBSession)


def _render(value: object, logical: str) -> str:
    """One value as the source's SQL renders it (see source._row_text_pg)."""
    if value is None:
        return "\x1e"
    if logical == "timestamp":
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")  # type: ignore[attr-defined]
    if logical == "date":
        return value.isoformat()  # type: ignore[attr-defined]
    if logical == "decimal":
        return format(Decimal(str(value)).quantize(Decimal(1).scaleb(-DECIMAL_CHECKSUM_SCALE)), "f")
    if logical == "boolean":
        return "t" if value else "f"
    return str(value)


def rows_fingerprint(rows: Iterable[Sequence[object]], logical: Sequence[str]) -> tuple[int, str]:
    """(count, checksum) computed in Python, identical to the SQL fingerprints."""
    count, total = 0, 0
    for row in rows:
        text = "\x1f".join(_render(v, t) for v, t in zip(row, logical, strict=True))
        total += int(hashlib.md5(text.encode()).hexdigest()[:15], 16)
        count += 1
    return count, format(total, "x")


def warehouse_fingerprint(
    session: WarehouseSession, schema: str, table: str, columns: Sequence[SourceColumn]
) -> tuple[int, str]:
    """(row count, checksum) of the warehouse copy, rendered exactly as the source side is.

    DuckDB computes it in SQL. Other warehouses (Snowflake) fetch the rows and hash them here:
    correct everywhere, slower on big tables; pushing it into Snowflake SQL is a follow-up
    (fakesnow, our test double, cannot run the hex/format functions it would need).
    """
    if not _is_duckdb(session):
        rows = session.fetch(
            f"select {', '.join(c.name for c in columns)} from {qualified(schema, table)}"
        )
        return rows_fingerprint(rows, [c.logical_type for c in columns])
    count, total = session.fetch(
        f"select count(*), coalesce(sum(('0x' || substr(md5({_row_text_duckdb(columns)}), 1, 15))"
        f"::bigint), 0) from {qualified(schema, table)}"
    )[0]
    return int(count), format(int(total), "x")


def warehouse_schema(session: WarehouseSession, schema: str, table: str) -> dict[str, str]:
    return {c.name: c.logical_type for c in session.columns(schema, table)}


def compare_table(
    session: WarehouseSession,
    schema: str,
    table: str,
    columns: Sequence[SourceColumn],
    source_rows: int,
    source_checksum: str,
    target_schema: dict[str, str] | None = None,
) -> TableSync:
    """The copy against the source; `target_schema` when the caller read it already."""
    target_rows, target_checksum = warehouse_fingerprint(session, schema, table, columns)
    return TableSync(
        table,
        source_rows,
        target_rows,
        source_checksum,
        target_checksum,
        {c.name: c.logical_type for c in columns},
        warehouse_schema(session, schema, table) if target_schema is None else target_schema,
    )


def ensure_control_table(session: WarehouseSession) -> None:
    session.ensure_schema(CONTROL_SCHEMA)
    session.execute(
        f"create table if not exists {qualified(CONTROL_SCHEMA, CONTROL_TABLE)} ("
        "tenant_id varchar primary key, schema_name varchar not null, tables varchar not null, "
        "row_count bigint not null, validated boolean not null, synced_at timestamp not null)"
    )


def mark_validated(session: WarehouseSession, tenant_id: str, validated: bool) -> None:
    """Show or hide a tenant in the governed entry point (a failed check hides it)."""
    ensure_control_table(session)
    session.execute(
        f"update {qualified(CONTROL_SCHEMA, CONTROL_TABLE)} set validated = {str(validated).lower()} "
        f"where tenant_id = '{safe_identifier(tenant_id, 'tenant id')}'"
    )


def _record(session: WarehouseSession, tenant: TenantEntry, tables: Sequence[str], rows: int):
    ensure_control_table(session)
    control = qualified(CONTROL_SCHEMA, CONTROL_TABLE)
    # One transaction: a process killed between the two statements keeps the previous row
    # (and pays one commit, not two).
    with session.transaction():
        session.execute(f"delete from {control} where tenant_id = '{tenant.id}'")
        session.execute(
            f"insert into {control} values ('{tenant.id}', '{tenant.schema}', "
            f"'{json.dumps(list(tables))}', {rows}, true, cast(current_timestamp as timestamp))"
        )


def sync_tenant(
    tenant: TenantEntry,
    source_url: str,
    warehouse: Warehouse,
    tables: Sequence[str],
    *,
    after_table: Callable[[str, TenantSession], None] | None = None,
) -> SyncReport:
    """Copy `tables` of the tenant's database into its own store (schema tenant_<id>),
    validated, atomically; then record it in the platform's control table."""
    started = time.perf_counter()
    report = SyncReport(tenant.id, tenant.schema)
    # `connect` reads one REPEATABLE READ snapshot: rows, counts and checksums agree.
    with connect(source_url, tenant.id) as source:
        present, schemas = source_catalog(source, tables)
        missing = [t for t in tables if t not in present]
        if missing:
            raise SyncValidationError(
                f"Tenant '{tenant.id}': tables {missing} are missing from its database. "
                "Fix: restore them, or remove them from the synced tables of tenant_sync."
            )
        report.extra_source_tables = sorted(set(present) - set(tables))
        if not isinstance(warehouse, DuckDBWarehouse):
            with warehouse.session() as platform:  # the platform owns schema creation
                platform.ensure_schema(tenant.schema)
        with tenant_session(tenant.id, warehouse) as scoped:
            if scoped.is_duckdb:
                _load_in_transaction(scoped, source, tenant, schemas, report, after_table)
            else:
                _load_staged_then_swap(scoped, source, tenant, schemas, report, after_table)
    with warehouse.session() as platform:
        _record(platform, tenant, tables, report.rows)
    report.seconds = time.perf_counter() - started
    return report


def _copy_and_compare(scoped, source, tenant, schemas, target_tables, report, after_table) -> None:
    """Copy each table, then validate every copy against the source in one snapshot: counts
    and checksums from one PostgreSQL query, the warehouse's columns from one catalog query,
    its counts and checksums per table."""
    tables = list(schemas)
    for table, target_table in zip(tables, target_tables, strict=True):
        data: pa.Table = read_table(source, table, schemas[table])
        scoped.write_arrow(tenant.schema, target_table, data)
        if after_table is not None:
            after_table(table, scoped)
    fingerprints = source_fingerprints(source, schemas)
    written = scoped.tables_columns(tenant.schema, target_tables)
    for table, target_table in zip(tables, target_tables, strict=True):
        rows, checksum = fingerprints[table]
        target_schema = {c.name: c.logical_type for c in written[target_table]}
        result = compare_table(
            scoped, tenant.schema, target_table, schemas[table], rows, checksum, target_schema
        )
        report.tables[table] = replace(result, table=table)


def _raise_on_problems(tenant: TenantEntry, report: SyncReport) -> None:
    problems = {t: s.problems for t, s in report.tables.items() if s.problems}
    if problems:
        raise SyncValidationError(
            f"Tenant '{tenant.id}': the staged copy does not match the source, so the previous "
            f"copy was kept: {problems}. Fix: look for writes during the copy or type changes "
            "in the source, then re-run the partition."
        )


def _load_in_transaction(scoped, source, tenant, schemas, report, after_table) -> None:
    """DuckDB: the transaction is the staging area; COMMIT is the swap."""
    with scoped.transaction():
        scoped.ensure_schema(tenant.schema)
        _copy_and_compare(scoped, source, tenant, schemas, list(schemas), report, after_table)
        _raise_on_problems(tenant, report)


def _load_staged_then_swap(scoped, source, tenant, schemas, report, after_table) -> None:
    """Snowflake (DDL commits at once): load <table>__staging, validate all, then swap each in
    by zero-copy CLONE; the control row (what readers use) flips only after every swap."""
    scoped.ensure_schema(tenant.schema)
    tables = list(schemas)
    staged = [f"{safe_identifier(t, 'table')}__staging" for t in tables]
    try:
        _copy_and_compare(scoped, source, tenant, schemas, staged, report, after_table)
        _raise_on_problems(tenant, report)
        for table, staging in zip(tables, staged, strict=True):
            scoped.execute(
                f"create or replace table {qualified(tenant.schema, table)} "
                f"clone {qualified(tenant.schema, staging)}"
            )
    finally:
        for staging in staged:
            scoped.execute(f"drop table if exists {qualified(tenant.schema, staging)}")
