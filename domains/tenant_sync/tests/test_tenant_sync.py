"""Tenant sync on real parts: one PostgreSQL (a database per tenant), a DuckDB warehouse, Dagster.

Tenants here are acme, globex and initech, seeded with three tenants' slices of the sample
data; each test gets its own warehouse file and Dagster instance.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import dagster as dg
import pandas as pd
import pytest
from mesh_tooling.sample.data import Scale
from mesh_tooling.sample.tenant_databases import (
    create_tenant_database,
    load_tenant_tables,
    tenant_slices,
)
from platform_core.definitions import (
    build_dedicated_tenant_definitions,
    build_tenant_sync_definitions,
)
from platform_core.tenancy.definitions import evaluate_sync_check
from platform_core.tenancy.entry_point import all_tenants_sql, validated_tenants
from platform_core.tenancy.isolation import CrossTenantAccessRefused
from platform_core.tenancy.partitions import backfill_failed_tenants, failed_tenant_partitions
from platform_core.tenancy.registry import load_registry_file
from platform_core.tenancy.session import tenant_session
from platform_core.tenancy.source import SYNCED_TABLES, SourceUnavailable
from platform_core.tenancy.sync import SyncValidationError, sync_tenant
from platform_core.warehouse.duckdb import DuckDBWarehouse, tenant_store_dir

NAMES = {"t001": "acme", "t002": "globex", "t003": "initech"}
SCALE = Scale(tenants=3, orders_per_tenant=400, seed=11)


@pytest.fixture(scope="module")
def sources(tenant_postgres) -> dict[str, dict]:
    """{tenant: {"url": ..., "tables": {table: Arrow}}}, one database each."""
    seeded = {}
    for sample_id, tables in tenant_slices(SCALE).items():
        tenant = NAMES[sample_id]
        url = create_tenant_database(tenant_postgres, tenant)
        load_tenant_tables(url, tables)
        seeded[tenant] = {"url": url, "tables": tables}
    return seeded


@pytest.fixture
def registry_file(tmp_path, sources, monkeypatch) -> Path:
    entries = []
    for tenant, source in sources.items():
        monkeypatch.setenv(f"TENANT_{tenant.upper()}_DB_URL", source["url"])
        entries.append(
            f"  - {{id: {tenant}, name: {tenant.title()}, source_env: TENANT_{tenant.upper()}_DB_URL, "
            f"owners: [team:platform, {tenant}-ops@example.com]}}"
        )
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants:\n" + "\n".join(entries) + "\n")
    return path


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


def registry_entry(registry_file: Path, tenant: str):
    return load_registry_file(registry_file).get(tenant)


def query(warehouse: DuckDBWarehouse, sql: str) -> pd.DataFrame:
    """`sql` on the platform's warehouse with every tenant store attached read-only."""
    stores = sorted(p.stem for p in tenant_store_dir(warehouse.path).glob("tenant_*.duckdb"))
    with warehouse.session() as session:
        session.attach_read_only(stores)
        return session.connection.sql(sql).to_arrow_table().to_pandas()


def set_allow_connections(server, tenant: str, allowed: bool) -> None:
    with adbc.connect(server.url(), autocommit=True) as con, con.cursor() as cur:
        cur.execute(f"alter database tenant_{tenant} allow_connections {str(allowed).lower()}")
        if not allowed:
            cur.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                f"where datname = 'tenant_{tenant}'"
            )


def run_partition(defs: dg.Definitions, instance, tenant: str):
    job = defs.resolve_job_def("tenant_sync_job")
    return job.execute_in_process(
        instance=instance, partition_key=tenant, raise_on_error=False, tags={"tenant": tenant}
    )


def test_full_sync_copies_every_value_into_one_schema_per_tenant(registry_file, warehouse, sources):
    defs = build_tenant_sync_definitions(registry_file, warehouse=warehouse)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("tenants", ["acme", "globex"])
        for tenant in ("acme", "globex"):
            result = run_partition(defs, instance, tenant)
            assert result.success
            checks = result.get_asset_check_evaluations()
            assert len(checks) == 9 and all(c.passed for c in checks)

    for tenant in ("acme", "globex"):
        for table in SYNCED_TABLES:
            expected = sources[tenant]["tables"][table].to_pandas()
            key = expected.columns[0]
            actual = query(warehouse, f"select * from tenant_{tenant}.{table} order by {key}")
            pd.testing.assert_frame_equal(
                actual.reset_index(drop=True),
                expected.sort_values(key).reset_index(drop=True),
                check_dtype=False,
            )
    prices = query(warehouse, "select sum(unit_price) as total from tenant_acme.products")
    assert prices["total"][0] == sum(
        sources["acme"]["tables"]["products"]["unit_price"].to_pylist()
    )
    assert isinstance(prices["total"][0], Decimal)

    # The governed entry point: all validated tenants, with tenant_id; no schema listing.
    with warehouse.session() as session:
        assert validated_tenants(session) == [
            ("acme", "tenant_acme"),
            ("globex", "tenant_globex"),
        ]
        union = all_tenants_sql(session, "orders", ["order_id", "tenant_id", "quantity"])
    counts = query(warehouse, f"select tenant_id, count(*) n from ({union}) group by 1 order by 1")
    assert counts.to_dict("list") == {"tenant_id": ["acme", "globex"], "n": [400, 400]}


def test_a_corrupted_row_in_the_warehouse_fails_the_checksum_and_hides_the_tenant(
    registry_file, warehouse
):
    acme = registry_entry(registry_file, "acme")
    report = sync_tenant(acme, os.environ[acme.source_env], warehouse, SYNCED_TABLES)
    recorded = {
        "source_rows": report.tables["orders"].source_rows,
        "source_checksum": report.tables["orders"].source_checksum,
        "source_schema": json.dumps(report.tables["orders"].source_schema),
    }
    assert evaluate_sync_check("checksum_match", warehouse, "acme", "orders", recorded).passed

    with tenant_session("acme", warehouse) as session:  # one row, one column, one unit
        session.execute(
            "update tenant_acme.orders set quantity = quantity + 1 "
            "where order_id = (select min(order_id) from tenant_acme.orders)"
        )
    checksum = evaluate_sync_check("checksum_match", warehouse, "acme", "orders", recorded)
    rows = evaluate_sync_check("row_count_match", warehouse, "acme", "orders", recorded)
    schema = evaluate_sync_check("schema_match", warehouse, "acme", "orders", recorded)
    assert not checksum.passed and "md5: source" in checksum.description
    assert checksum.severity == dg.AssetCheckSeverity.ERROR
    assert rows.passed and schema.passed
    with warehouse.session() as session:
        assert validated_tenants(session) == []  # blocked downstream of this tenant only

    with tenant_session("acme", warehouse) as session:
        session.execute("alter table tenant_acme.orders alter quantity type varchar")
    schema = evaluate_sync_check("schema_match", warehouse, "acme", "orders", recorded)
    assert not schema.passed and "'quantity': 'string'" in schema.description


def test_the_run_s_checks_step_reports_every_check_and_hides_a_tenant_that_fails_one(
    registry_file, warehouse
):
    """The nine checks run as one step: each has its own result, one failing hides the tenant."""
    defs = build_tenant_sync_definitions(registry_file, warehouse=warehouse)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("tenants", ["acme"])
        assert run_partition(defs, instance, "acme").success
        with warehouse.session() as session:
            assert validated_tenants(session) == [("acme", "tenant_acme")]
        with tenant_session("acme", warehouse) as session:  # one row, one column, one unit
            session.execute(
                "update tenant_acme.products set unit_price = unit_price + 1 "
                "where product_id = (select min(product_id) from tenant_acme.products)"
            )
        result = defs.resolve_job_def("tenant_sync_job").execute_in_process(
            instance=instance, partition_key="acme", raise_on_error=False,
            op_selection=["tenant_sync__sync_checks"],  # the checks step alone: no re-sync
        )  # fmt: skip
    outcome = {
        (e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()
    }
    assert outcome == {
        (table, check): (table, check) != ("products", "checksum_match")
        for table in SYNCED_TABLES
        for check in ("row_count_match", "checksum_match", "schema_match")
    }
    with warehouse.session() as session:
        assert validated_tenants(session) == []  # blocked downstream of this tenant only


KILL_MID_LOAD = textwrap.dedent(
    """
    import os, signal, sys
    from platform_core.tenancy.registry import load_registry_file
    from platform_core.tenancy.source import SYNCED_TABLES
    from platform_core.tenancy.sync import sync_tenant
    from platform_core.warehouse.duckdb import DuckDBWarehouse

    from pathlib import Path
    tenant = load_registry_file(Path(sys.argv[1])).get("acme")
    def die(table, session):
        if table == "orders":  # the last table is loaded, nothing committed yet
            print("killing", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    warehouse = DuckDBWarehouse(path=sys.argv[2])
    sync_tenant(tenant, os.environ[tenant.source_env], warehouse, SYNCED_TABLES, after_table=die)
    """
)


def test_a_run_killed_mid_load_leaves_the_previous_copy(registry_file, warehouse, sources):
    acme = registry_entry(registry_file, "acme")
    first = sync_tenant(acme, sources["acme"]["url"], warehouse, SYNCED_TABLES)
    before = query(warehouse, "select count(*) n, sum(quantity) q from tenant_acme.orders")

    with adbc.connect(sources["acme"]["url"], autocommit=True) as con, con.cursor() as cur:
        cur.execute("create table orders_backup as select * from orders")
        cur.execute("update orders set quantity = quantity + 10")
        cur.execute("delete from customers where customer_id % 2 = 0")
    try:
        killed = subprocess.run(
            [sys.executable, "-c", KILL_MID_LOAD, str(registry_file), warehouse.path],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert "killing" in killed.stdout

        after = query(warehouse, "select count(*) n, sum(quantity) q from tenant_acme.orders")
        assert after.equals(before)
        customers = query(warehouse, "select count(*) n from tenant_acme.customers")["n"][0]
        assert customers == first.tables["customers"].source_rows
        assert (
            query(warehouse, "select row_count from tenancy.synced")["row_count"][0] == first.rows
        )

        # the next run completes the refresh
        second = sync_tenant(acme, sources["acme"]["url"], warehouse, SYNCED_TABLES)
        assert second.tables["orders"].target_rows == 400
        q = query(warehouse, "select sum(quantity) q from tenant_acme.orders")["q"][0]
        assert q == before["q"][0] + 10 * 400
    finally:
        with adbc.connect(sources["acme"]["url"], autocommit=True) as con, con.cursor() as cur:
            cur.execute("delete from orders")
            cur.execute("insert into orders select * from orders_backup")
            cur.execute("drop table orders_backup")
            cur.execute("delete from customers")
        load_tenant_tables_customers(sources["acme"])


def load_tenant_tables_customers(source: dict) -> None:
    with adbc.connect(source["url"]) as con, con.cursor() as cur:
        cur.adbc_ingest("customers", source["tables"]["customers"], mode="append")
        con.commit()


def test_one_tenant_down_fails_only_its_partition_then_a_backfill_recovers_it(
    registry_file, warehouse, tenant_postgres
):
    defs = build_tenant_sync_definitions(registry_file, warehouse=warehouse)
    set_allow_connections(tenant_postgres, "globex", False)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            instance.add_dynamic_partitions("tenants", ["acme", "globex", "initech"])
            outcomes = {t: run_partition(defs, instance, t) for t in ("acme", "globex", "initech")}
            assert {t: r.success for t, r in outcomes.items()} == {
                "acme": True,
                "globex": False,
                "initech": True,
            }
            failure = next(
                e for e in outcomes["globex"].all_events if e.event_type_value == "STEP_FAILURE"
            )
            message = failure.event_specific_data.error.cause.message
            assert "Tenant 'globex': its database is unreachable" in message
            assert "backfill" in message
            with warehouse.session() as session:
                assert [t for t, _ in validated_tenants(session)] == ["acme", "initech"]

            # The daemon's retry of this run and the one alert to globex's owners (with this
            # root cause) are observed on the OSS stack: tests/test_oss_stack.py.

            # Recovery: the database is back; a backfill of failed partitions catches up.
            set_allow_connections(tenant_postgres, "globex", True)
            assert failed_tenant_partitions(instance, "tenant_sync_job") == ["globex"]
            job = defs.resolve_job_def("tenant_sync_job")
            assert backfill_failed_tenants(instance, job) == {"globex": True}
            assert failed_tenant_partitions(instance, "tenant_sync_job") == []
        with warehouse.session() as session:
            assert [t for t, _ in validated_tenants(session)] == ["acme", "globex", "initech"]
        assert query(warehouse, "select count(*) n from tenant_globex.orders")["n"][0] == 400
    finally:
        set_allow_connections(tenant_postgres, "globex", True)


def test_a_tenant_cannot_reach_another_tenants_data(registry_file, warehouse, sources):
    # Source side: tenant acme's credentials cannot open globex's database.
    acme_url = sources["acme"]["url"]
    other_database = acme_url.rsplit("/", 1)[0] + "/tenant_globex"
    acme = registry_entry(registry_file, "acme")
    with pytest.raises(SourceUnavailable, match="permission denied for database"):
        sync_tenant(acme, other_database, warehouse, SYNCED_TABLES)
    # Warehouse side: acme's session is its own store; globex's data is not reachable from it
    # (the full attack suite is platform_core/tests/test_tenant_isolation_attacks.py).
    sync_tenant(registry_entry(registry_file, "globex"), sources["globex"]["url"], warehouse,
                SYNCED_TABLES)  # fmt: skip
    with tenant_session("acme", warehouse) as scoped:
        with pytest.raises(CrossTenantAccessRefused, match="Tenant 'acme': refused"):
            scoped.fetch("select * from tenant_globex.orders")
        with pytest.raises(CrossTenantAccessRefused, match="Tenant 'acme': refused"):
            scoped.columns("tenant_globex", "orders")
        # Past the parser, the engine: the store has no other catalog to resolve the name in.
        with pytest.raises(Exception, match="tenant_globex"):
            scoped._inner.fetch("select * from tenant_globex.orders")
    assert query(warehouse, "select count(*) n from tenant_globex.orders")["n"][0] == 400


def test_a_mismatch_while_loading_keeps_the_previous_copy(registry_file, warehouse, sources):
    acme = registry_entry(registry_file, "acme")
    sync_tenant(acme, sources["acme"]["url"], warehouse, SYNCED_TABLES)

    def corrupt(table: str, session) -> None:  # a writer changes the copy before validation
        if table == "orders":
            session.execute("delete from tenant_acme.orders where order_id % 7 = 0")

    with pytest.raises(SyncValidationError, match="previous copy was kept"):
        sync_tenant(acme, sources["acme"]["url"], warehouse, SYNCED_TABLES, after_table=corrupt)
    assert query(warehouse, "select count(*) n from tenant_acme.orders")["n"][0] == 400


def test_adding_a_registry_entry_makes_its_partition_appear_without_a_deploy(
    registry_file, warehouse
):
    content = registry_file.read_text()
    registry_file.write_text("tenants:\n" + content.split("\n", 1)[1].split("\n", 1)[0] + "\n")
    defs = build_tenant_sync_definitions(registry_file)  # loaded once, like a deployed location
    sensor = defs.get_sensor_def("tenant_registry_sensor")
    with dg.DagsterInstance.ephemeral() as instance:

        def tick():
            result = sensor(
                dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
            )
            for request in result.dynamic_partitions_requests:
                if isinstance(request, dg.AddDynamicPartitionsRequest):
                    instance.add_dynamic_partitions(
                        request.partitions_def_name, request.partition_keys
                    )
                else:
                    for key in request.partition_keys:
                        instance.delete_dynamic_partition(request.partitions_def_name, key)
            return sorted(instance.get_dynamic_partitions("tenants"))

        assert tick() == ["acme"]
        registry_file.write_text(content)  # onboard globex and initech: edit the registry only
        assert tick() == ["acme", "globex", "initech"]
        registry_file.write_text(content.replace("id: globex,", "id: globex, enabled: false,"))
        assert tick() == ["acme", "initech"]


def test_a_dedicated_location_is_generated_from_the_template_and_runs(
    tmp_path, registry_file, warehouse, monkeypatch
):
    from mesh_tooling.scaffold.tenant_location import generate_tenant_location

    root = tmp_path / "mesh"
    root.mkdir()
    (root / "dg.toml").write_text('directory_type = "workspace"\n\n[workspace]\n')
    # Registration in every manifest is the scaffolder's (tooling/tests/test_scaffold.py).
    project = generate_tenant_location(root, "initech", register=False)

    registry_file.write_text(
        registry_file.read_text().replace(
            "id: initech,", "id: initech, isolation: dedicated_location,"
        )
    )
    # The shared location leaves the tenant out; the dedicated one syncs it.
    assert "initech" not in [
        t.id for t in load_registry_file(registry_file).active if t.isolation == "schema"
    ]
    monkeypatch.setenv("MESH_TENANT_REGISTRY_FILE", str(registry_file))
    monkeypatch.syspath_prepend(str(project))
    from mesh_tenant_initech import custom

    defs = build_dedicated_tenant_definitions(
        "initech", registry_file, custom_assets=custom.CUSTOM_ASSETS, warehouse=warehouse
    )
    schedule = defs.get_schedule_def("tenant_initech_sync_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 3 * * *", "UTC")
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    vip = query(warehouse, "select count(*) n from tenant_initech.vip_customers")["n"][0]
    expected = query(
        warehouse,
        "select count(*) n from (select customer_id from tenant_initech.orders "
        "where status = 'completed' group by 1 having count(*) >= 5)",
    )["n"][0]
    assert vip == expected > 0
