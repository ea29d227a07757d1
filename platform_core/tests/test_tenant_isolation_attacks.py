"""Attacks on the local tenant boundary, acting as tenant acme through `tenant_session`.

Every attempt is refused twice: by the parser (the error names the tenant, the rule and the
fix) and, sent straight to the engine past the parser, by DuckDB itself (acme's store is its own
file with external access off, extensions off and the configuration locked), or it finds
nothing of anyone else there. Afterwards globex's store, the platform's shared table and the
control table are byte-for-byte what they were (checked on the platform side).
"""

import hashlib
import shutil
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from platform_core.definitions import build_dedicated_tenant_definitions
from platform_core.tenancy import TenantWarehouse, tenant_session
from platform_core.tenancy.entry_point import all_tenants_sql
from platform_core.tenancy.isolation import CrossTenantAccessRefused
from platform_core.tenancy.sync import CONTROL_SCHEMA, CONTROL_TABLE, ensure_control_table
from platform_core.warehouse.duckdb import DuckDBWarehouse, tenant_store_path

ORDERS = {
    "acme": pa.table({"order_id": [1, 2], "quantity": [5, 6]}),
    "globex": pa.table({"order_id": [10, 11, 12], "quantity": [700, 800, 900]}),
}


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    """acme's and globex's stores, the platform's control rows and a shared table of both."""
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    for tenant, orders in ORDERS.items():
        with tenant_session(tenant, warehouse) as session:
            session.write_arrow(f"tenant_{tenant}", "orders", orders)
    with warehouse.session() as platform:
        ensure_control_table(platform)
        for tenant in ORDERS:
            platform.execute(
                f"insert into {CONTROL_SCHEMA}.{CONTROL_TABLE} values ('{tenant}', "
                f"'tenant_{tenant}', '[\"orders\"]', 2, true, current_timestamp::timestamp)"
            )
        platform.ensure_schema("platform")
        union = all_tenants_sql(platform, "orders", ["tenant_id", "order_id", "quantity"])
        platform.execute(f"create table platform.tenant_orders as {union}")
    globex = tenant_store_path(warehouse.path, "tenant_globex")
    shutil.copyfile(globex, tmp_path / "copy_of_globex.duckdb")
    pq.write_table(ORDERS["globex"], tmp_path / "landing.parquet")
    (tmp_path / "landing.csv").write_text("order_id,quantity\n10,700\n")
    return warehouse


def fingerprint(warehouse: DuckDBWarehouse) -> str:
    """Everything another tenant or the platform owns, as one hash (read on the platform side)."""
    with warehouse.session() as platform:
        platform.attach_read_only(["tenant_globex"])
        rows = [
            platform.fetch("select * from tenant_globex.main.orders order by all"),
            platform.fetch(f"select * from {CONTROL_SCHEMA}.{CONTROL_TABLE} order by all"),
            platform.fetch("select * from platform.tenant_orders order by all"),
        ]
    files = [tenant_store_path(warehouse.path, "tenant_globex").read_bytes()]
    return hashlib.sha256(repr(rows).encode() + b"".join(files)).hexdigest()


def attacks(tmp) -> dict[str, list[str]]:
    globex = tmp / "tenants" / "tenant_globex.duckdb"
    return {
        "name resolution": [
            "select * from tenant_globex.orders",
            "select * from tenant_globex.main.orders",
            "use tenant_globex",
            "set search_path = 'tenant_globex,main'",
            "set schema = 'tenancy'",
            f"attach '{globex}' as g (read_only)",
            f"attach '{tmp / 'warehouse.duckdb'}' as w",
            f"attach '{tmp / 'copy_of_globex.duckdb'}' as tenant_acme_copy",
        ],
        "dynamic sql": [
            "select * from query('select * from tenant_globex.orders')",
            "select * from query_table('tenant_globex.orders')",
            "set variable t = 'tenant_globex.orders'",
            "select * from query_table(getvariable('t'))",
        ],
        "comments and line breaks": [
            "select * from tenant_globex /* a comment */ . orders",
            "select * from tenant_globex\n.\norders",
            "delete from tenant_globex -- comment\n.orders",
        ],
        "quoting": [
            'select * from "tenant_globex"."orders"',
            'select * from "tenant_globex.orders"',
            "select * from 'landing.csv'",
        ],
        "file functions": [
            f"select * from read_parquet('{tmp / 'landing.parquet'}')",
            f"select * from read_blob('{tmp / 'warehouse.duckdb'}')",
            f"select * from read_csv('{tmp / 'landing.csv'}')",
            f"copy tenant_acme.orders to '{tmp / 'out.csv'}'",
            f"export database '{tmp / 'dump'}'",
            "install httpfs",
            "load httpfs",
        ],
        "shared schemas": [
            "select * from platform.tenant_orders",
            "select * from warehouse.platform.tenant_orders",
        ],
        "catalog": [
            "select * from information_schema.tables",
            "select * from duckdb_tables()",
            "select * from duckdb_databases()",
        ],
        "control table": [
            "update tenancy.synced set validated = false where tenant_id = 'globex'",
            "delete from warehouse.tenancy.synced",
        ],
        "config overrides": [
            "set enable_external_access = true",
            "set lock_configuration = false",
            "set python_enable_replacements = true",
            "pragma enable_profiling",
        ],
        "several statements": ["select 1; select * from tenant_globex.orders"],
    }


CLASSES = list(attacks(Path("/x")))


@pytest.mark.parametrize("attack_class", CLASSES)
def test_every_attack_is_refused_by_the_parser_and_by_the_engine(warehouse, tmp_path, attack_class):
    before = fingerprint(warehouse)
    with tenant_session("acme", warehouse) as session:
        for sql in attacks(tmp_path)[attack_class]:
            with pytest.raises(CrossTenantAccessRefused) as refused:
                session.fetch(sql)
            message = str(refused.value)
            assert message.startswith("Tenant 'acme': refused (") and "Fix:" in message, message

            # Past the parser: the engine itself refuses, or finds nothing of anyone else.
            engine = session._inner.connection
            try:
                rows = engine.execute(sql).fetchall()
            except Exception as error:
                assert not isinstance(error, AssertionError)
                continue
            seen = repr(rows).lower()
            assert "globex" not in seen and "700" not in seen and "warehouse" not in seen, (
                sql,
                rows,
            )
        # The store's own configuration is still locked and closed after everything above.
        assert engine.execute("select current_setting('enable_external_access')").fetchone() == (
            False,
        )
    assert fingerprint(warehouse) == before
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "dump").exists()


def test_the_engine_alone_refuses_what_the_parser_cannot_see(warehouse):
    leak = ORDERS["globex"].to_pandas()  # noqa: F841 - a Python object DuckDB could scan
    with tenant_session("acme", warehouse) as session:
        with pytest.raises(Exception, match="leak"):  # replacement scans are off
            session.fetch("select * from leak")
        assert session.fetch("select count(*) from tenant_acme.orders") == [(2,)]


def test_a_tenants_own_work_is_allowed(warehouse):
    with tenant_session("acme", warehouse) as session:
        session.execute(
            "create or replace table tenant_acme.big as "
            "with o as (select * from tenant_acme.orders) select * from o where quantity > 5"
        )
        session.execute("update tenant_acme.big set quantity = quantity + 1")
        session.replace_table("tenant_acme", "v2", "select * from main.big")
        assert session.fetch("select quantity from tenant_acme.v2") == [(7,)]
        assert [c.name for c in session.columns("tenant_acme", "orders")] == [
            "order_id",
            "quantity",
        ]
        with pytest.raises(CrossTenantAccessRefused, match="schema outside the tenant's own store"):
            session.write_arrow("tenant_globex", "orders", ORDERS["acme"])


def test_the_union_reads_tenant_stores_read_only(warehouse):
    with warehouse.session() as platform:
        union = all_tenants_sql(platform, "orders", ["tenant_id", "order_id"])
        assert sorted(platform.fetch(f"select tenant_id, count(*) from ({union}) group by 1")) == [
            ("acme", 2),
            ("globex", 3),
        ]
        with pytest.raises(Exception, match="read-only"):
            platform.execute("delete from tenant_globex.main.orders")
    with tenant_session("globex", warehouse) as session:
        assert session.row_count("tenant_globex", "orders") == 3


def test_a_tenant_location_only_ever_opens_its_own_tenants_session(
    warehouse, tmp_path, monkeypatch
):
    registry = tmp_path / "tenants.yaml"
    monkeypatch.setenv("TENANT_ACME_DB_URL", "postgresql://unused")
    registry.write_text(
        "tenants:\n  - {id: acme, name: Acme, source_env: TENANT_ACME_DB_URL, "
        "owners: [team:platform], isolation: dedicated_location}\n"
    )
    defs = build_dedicated_tenant_definitions("acme", registry, warehouse=warehouse)
    resources = defs.resources
    # No platform warehouse and no io_manager writing to the shared warehouse file.
    assert not [k for k, r in resources.items() if "DuckDB" in type(r).__name__]
    assert isinstance(resources["io_manager"], dg.FilesystemIOManager)
    tenant_warehouse = resources["warehouse"]
    assert isinstance(tenant_warehouse, TenantWarehouse) and tenant_warehouse.tenant_id == "acme"
    with tenant_warehouse.session() as session:
        assert session.tenant_id == "acme"
        with pytest.raises(CrossTenantAccessRefused, match="Tenant 'acme': refused"):
            session.fetch("select * from tenancy.synced")
    refused = pytest.raises(CrossTenantAccessRefused, match="refused a session for tenant 'globex'")
    with refused, tenant_session("globex", tenant_warehouse):
        pass
