"""The same asset code on Snowflake: the mesh runs against a fakesnow server in prod mode."""

import os
import subprocess
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
import snowflake.connector
from platform_core.environment import BranchWriteRefused, current_environment
from platform_core.warehouse import SnowflakeWarehouse

from tests.support.processes import BIN, run_meshctl


def connect(server: dict[str, str], database: str):
    return snowflake.connector.connect(
        account=server["SNOWFLAKE_ACCOUNT"], user=server["SNOWFLAKE_USER"],
        password=server["SNOWFLAKE_PASSWORD"], host=server["SNOWFLAKE_HOST"],
        port=int(server["SNOWFLAKE_PORT"]), protocol="http", database=database,
    )  # fmt: skip


PYTHON_PRODUCTS = ["tenant_sync/customers", "tenant_sync/products", "tenant_sync/orders",
                   "platform/tenants", "platform/tenant_orders", "platform/tenant_products",
                   "platform/tenant_customers", "marketing/campaigns", "marketing/ad_spend",
                   "marketing/clicks"]  # fmt: skip
SALES_DBT_MODELS = ["sales/stg_sales__orders", "sales/stg_sales__products",
                    "sales/stg_sales__customers", "sales/int_sales__priced_orders",
                    "sales/orders", "sales/customers", "sales/daily_revenue"]  # fmt: skip


@pytest.fixture(scope="module")
def snowflake_mesh(fakesnow_server, repo_root, tmp_path_factory):
    """Tenant sync, the Python products and the sales dbt slice, by `meshctl` in prod mode."""
    tmp_path = tmp_path_factory.mktemp("snowflake_mesh")
    env = {
        **os.environ, **fakesnow_server,
        "MESH_ENV": "prod", "SNOWFLAKE_DATABASE": "analytics",
        "MESH_HOME": str(tmp_path / "mesh"), "DAGSTER_HOME": str(tmp_path),
    }  # fmt: skip
    # As a deploy build would: the manifest is prepared once, locations never parse.
    run_meshctl(["dbt-prepare"], env, repo_root)
    result = run_meshctl(
        ["materialize", "--tenants", "2", "--orders-per-tenant", "300",
         "--select", *PYTHON_PRODUCTS, *SALES_DBT_MODELS],
        env, repo_root,
    )  # fmt: skip
    return env, result, tmp_path


@pytest.mark.slow
def test_platform_and_sales_run_on_snowflake_with_contracts_passing(
    snowflake_mesh, fakesnow_server
):
    _, result, tmp_path = snowflake_mesh
    assert "17/17 assets" in result.stdout and "failed check" not in result.stdout, result.stdout

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


@pytest.mark.slow
def test_dbt_build_of_the_whole_project_on_snowflake(snowflake_mesh, fakesnow_server, repo_root):
    """dbt-snowflake against fakesnow in server mode (host/port/protocol from the profile's
    env vars): every model, contract and test of every domain."""
    env, _, tmp_path = snowflake_mesh
    project = repo_root / "dbt_project"
    result = subprocess.run(
        [str(BIN / "dbt"), "build", "--project-dir", str(project), "--profiles-dir", str(project),
         "--target", "snowflake_prod", "--target-path", str(tmp_path / "dbt_target"),
         "--log-path", str(tmp_path / "dbt_target")],
        env={**env, "MESH_DBT_DATABASE": "ANALYTICS"}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    assert "ERROR=0" in result.stdout and "SKIP=0" in result.stdout
    with connect(fakesnow_server, "ANALYTICS") as con, con.cursor() as cur:
        billing = cur.execute(
            "select count(*), count(distinct tenant_id) from finance.tenant_billing"
        )
        assert billing.fetchone() == (2 * 3, 2)  # two tenants x January-March
        attribution = cur.execute("select count(*) from marketing.revenue_attribution").fetchone()
        assert attribution[0] == 2 * 4  # four campaigns per tenant
        assert cur.execute("select count(*) from sales.orders_v1").fetchone()[0] == 600


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
        with pytest.raises(BranchWriteRefused, match=r"refused \(name in another database\)"):
            session.execute("create or replace table analytics.sales.orders as select 1 as x")
        with pytest.raises(BranchWriteRefused):
            session.fetch('select * from "ANALYTICS" . sales.orders')
