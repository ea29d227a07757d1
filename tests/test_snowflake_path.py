"""The same asset code on Snowflake: the mesh runs against a fakesnow server in prod mode."""

import os
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
import snowflake.connector
from platform_core.environment import BranchWriteRefused, current_environment
from platform_core.warehouse import SnowflakeWarehouse

from tests.support.processes import run_meshctl


def connect(server: dict[str, str], database: str):
    return snowflake.connector.connect(
        account=server["SNOWFLAKE_ACCOUNT"], user=server["SNOWFLAKE_USER"],
        password=server["SNOWFLAKE_PASSWORD"], host=server["SNOWFLAKE_HOST"],
        port=int(server["SNOWFLAKE_PORT"]), protocol="http", database=database,
    )  # fmt: skip


@pytest.mark.slow
def test_platform_and_sales_run_on_snowflake_with_contracts_passing(
    fakesnow_server, repo_root, tmp_path
):
    env = {
        **os.environ, **fakesnow_server,
        "MESH_ENV": "prod", "SNOWFLAKE_DATABASE": "analytics",
        "MESH_HOME": str(tmp_path / "mesh"), "DAGSTER_HOME": str(tmp_path),
    }  # fmt: skip
    keys = ["tenant_sync/customers", "tenant_sync/products", "tenant_sync/orders",
            "platform/tenants", "platform/tenant_orders", "platform/tenant_products",
            "platform/tenant_customers", "sales/orders", "sales/customers", "sales/daily_revenue"]  # fmt: skip
    result = run_meshctl(
        ["materialize", "--tenants", "2", "--orders-per-tenant", "300", "--select", *keys],
        env, repo_root,
    )  # fmt: skip
    assert "10/10 assets" in result.stdout and "failed check" not in result.stdout, result.stdout

    landing = tmp_path / "mesh" / "landing" / "tenant_app"
    orders = pq.read_table(landing / "orders.parquet").to_pandas()
    prices = pq.read_table(landing / "products.parquet").to_pandas()
    joined = orders.merge(prices[["product_id", "unit_price"]], on="product_id")
    completed = joined[joined["status"] == "completed"]
    expected_revenue = sum(
        Decimal(int(q)) * p
        for q, p in zip(completed["quantity"], completed["unit_price"], strict=True)
    )

    with connect(fakesnow_server, "ANALYTICS") as con, con.cursor() as cur:
        revenue, days = cur.execute(
            "select cast(sum(revenue) as decimal(18, 2)), count(*) from sales.daily_revenue"
        ).fetchone()
        assert revenue == expected_revenue
        assert days > 0
        assert cur.execute("select count(*) from sales.orders").fetchone()[0] == 600
        # Loads replace their target atomically; no loading tables are left behind.
        leftovers = cur.execute(
            "select count(*) from information_schema.tables where table_name like '%__LOADING'"
        ).fetchone()[0]
        assert leftovers == 0
        # Tenant sync on Snowflake: staged, validated, swapped in by clone; no staging left.
        synced = cur.execute(
            "select tenant_id, row_count from tenancy.synced order by 1"
        ).fetchall()
        assert [t for t, _ in synced] == ["t001", "t002"]
        assert cur.execute("select count(*) from tenant_t001.orders").fetchone()[0] == 300
        staging = cur.execute(
            "select count(*) from information_schema.tables where table_name like '%__STAGING'"
        ).fetchone()[0]
        assert staging == 0


def test_branch_deployment_cannot_open_a_session_on_production(
    monkeypatch, clean_environment, fakesnow_server
):
    monkeypatch.setenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "1")
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "17")
    monkeypatch.setenv("SNOWFLAKE_DATABASE", "analytics")
    assert current_environment().warehouse_database == "ANALYTICS_CLONE_17"
    settings = {
        "account": "fakesnow", "user": "mesh_test", "password": "not-a-secret",
        "host": "127.0.0.1", "port": int(fakesnow_server["SNOWFLAKE_PORT"]), "protocol": "http",
    }  # fmt: skip

    refused = pytest.raises(BranchWriteRefused, match="may only use its clone 'ANALYTICS_CLONE_17'")
    with refused, SnowflakeWarehouse(**settings, database_override="ANALYTICS").session():
        pass

    # Its own clone works, but SQL that names the production database is refused.
    with SnowflakeWarehouse(**settings).session() as session:
        assert session.database == "ANALYTICS_CLONE_17"
        session.ensure_schema("sales")
        with pytest.raises(BranchWriteRefused, match="names the production database"):
            session.execute("create or replace table analytics.sales.orders as select 1 as x")
        with pytest.raises(BranchWriteRefused):
            session.fetch('select * from "ANALYTICS" . sales.orders')
