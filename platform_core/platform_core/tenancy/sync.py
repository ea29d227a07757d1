"""Atomic, validated full refresh of one tenant's database into its own warehouse schema.

Staging, validate, swap, in one warehouse transaction: every table is replaced inside a DuckDB
transaction (the staging copy is the transaction's private version), then row counts and an
order-independent MD5 checksum are compared with the source snapshot *before* COMMIT. A failed
validation rolls back; a killed process never commits. Either way readers keep the previous
complete copy. The source is read in one REPEATABLE READ transaction, so counts, checksums and
rows describe the same snapshot.

`tenancy.synced` (one row per tenant, written in the same transaction) is the control table
the governed entry point (platform/tenant_*) reads: only validated tenants are visible there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from platform_core.errors import MeshError
from platform_core.identifiers import qualified, safe_identifier
from platform_core.tenancy.isolation import TenantScopedSession
from platform_core.tenancy.registry import TenantEntry
from platform_core.tenancy.source import (
    DECIMAL_CHECKSUM_SCALE,
    SourceColumn,
    connect,
    read_table,
    source_columns,
    source_fingerprint,
    source_tables,
)
from platform_core.warehouse.base import WarehouseSession

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


def warehouse_fingerprint(
    session: WarehouseSession, schema: str, table: str, columns: Sequence[SourceColumn]
) -> tuple[int, str]:
    """(row count, checksum) of the warehouse copy, rendered exactly as the source side is."""
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
) -> TableSync:
    target_rows, target_checksum = warehouse_fingerprint(session, schema, table, columns)
    return TableSync(
        table,
        source_rows,
        target_rows,
        source_checksum,
        target_checksum,
        {c.name: c.logical_type for c in columns},
        warehouse_schema(session, schema, table),
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
        f"update {qualified(CONTROL_SCHEMA, CONTROL_TABLE)} set validated = {validated} "
        f"where tenant_id = '{safe_identifier(tenant_id, 'tenant id')}'"
    )


def sync_tenant(
    tenant: TenantEntry,
    source_url: str,
    session: WarehouseSession,
    tables: Sequence[str],
    *,
    after_table: Callable[[str], None] | None = None,
) -> SyncReport:
    """Copy `tables` of the tenant's database into schema tenant_<id>, validated, atomically."""
    if session.__class__.__name__ != "DuckDBSession":
        # Snowflake needs staging tables + ALTER TABLE ... SWAP WITH (DDL commits there).
        raise MeshError(
            "Tenant sync writes to the DuckDB warehouse only so far. Fix: run it locally; the "
            "Snowflake staging-and-swap path is listed as unfinished in the tenant_sync README."
        )
    started = time.perf_counter()
    scoped = TenantScopedSession(session, tenant.id)
    report = SyncReport(tenant.id, tenant.schema)
    with connect(source_url, tenant.id) as source:
        with source.cursor() as cursor:  # one snapshot for rows, counts and checksums
            cursor.execute(
                "set session characteristics as transaction isolation level repeatable read"
            )
        present = source_tables(source)
        missing = [t for t in tables if t not in present]
        if missing:
            raise SyncValidationError(
                f"Tenant '{tenant.id}': tables {missing} are missing from its database. "
                "Fix: restore them, or remove them from the synced tables of tenant_sync."
            )
        report.extra_source_tables = sorted(set(present) - set(tables))
        scoped.execute("begin transaction")
        try:
            scoped.ensure_schema(tenant.schema)
            for table in tables:
                columns = source_columns(source, safe_identifier(table, "table"))
                data: pa.Table = read_table(source, table, columns)
                scoped.write_arrow(tenant.schema, table, data)
                if after_table is not None:
                    after_table(table)
                rows, checksum = source_fingerprint(source, table, columns)
                report.tables[table] = compare_table(
                    scoped, tenant.schema, table, columns, rows, checksum
                )
            problems = {t: s.problems for t, s in report.tables.items() if s.problems}
            if problems:
                raise SyncValidationError(
                    f"Tenant '{tenant.id}': the staged copy does not match the source, so the "
                    f"previous copy was kept: {problems}. Fix: look for writes during the copy "
                    "or type changes in the source, then re-run the partition."
                )
            ensure_control_table(scoped)
            scoped.execute(
                f"insert or replace into {qualified(CONTROL_SCHEMA, CONTROL_TABLE)} values ("
                f"'{tenant.id}', '{tenant.schema}', '{json.dumps(list(tables))}', "
                f"{report.rows}, true, now()::timestamp)"
            )
            scoped.execute("commit")
        except BaseException:
            scoped.execute("rollback")
            raise
    report.seconds = time.perf_counter() - started
    return report
