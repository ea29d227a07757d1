"""The same asset code on Snowflake: the mesh runs against a fakesnow server in prod mode."""

import json
import os
import re
import subprocess
from decimal import Decimal

import pandas as pd
import pyarrow.parquet as pq
import pytest
import snowflake.connector
from platform_core.deploy.clone_baselines import keep_clone_time_baselines
from platform_core.environment import BranchWriteRefused, current_environment
from platform_core.warehouse import SnowflakeWarehouse
from platform_core.warehouse.snowflake import SnowflakeSession

from tests.support.fakesnow_clone import fill_clone, name_production_in_views
from tests.support.mesh_copy import copy_mesh, edit, git, python_path
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


@pytest.fixture(scope="module")
def whole_project_on_snowflake(snowflake_mesh, repo_root) -> subprocess.CompletedProcess:
    """`dbt build` of every domain's models into production, after the Python products."""
    env, _, tmp_path = snowflake_mesh
    project = repo_root / "dbt_project"
    return subprocess.run(
        [str(BIN / "dbt"), "build", "--project-dir", str(project), "--profiles-dir", str(project),
         "--target", "snowflake_prod", "--target-path", str(tmp_path / "dbt_target"),
         "--log-path", str(tmp_path / "dbt_target")],
        env={**env, "MESH_DBT_DATABASE": "ANALYTICS"}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_dbt_build_of_the_whole_project_on_snowflake(whole_project_on_snowflake, fakesnow_server):
    """dbt-snowflake against fakesnow in server mode (host/port/protocol from the profile's
    env vars): every model, contract and test of every domain."""
    result = whole_project_on_snowflake
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


DAILY_REVENUE = "dbt_project/models/sales/marts/daily_revenue.sql"
PLATFORM_IDENTITY = ("SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_ROLE")


def daily_counts(orders: pd.DataFrame) -> pd.DataFrame:
    """sales/daily_revenue's figures that a refund filter moves, recomputed from the orders."""
    refunded = orders["status"] == "refunded"
    return (
        orders.assign(refunds=orders["amount"].where(refunded, 0).astype(float))
        .groupby(["tenant_id", "order_date"])
        .agg(orders=("status", "size"), refunds=("refunds", "sum"))
    )


def logins_and_statements(log: str) -> tuple[list[str], str]:
    """fakesnow's log: each session's database at login, and every statement received."""
    logins = re.findall(r"Session login database=(\S+) ", log)
    statements = "\n".join(line for line in log.splitlines() if not line.startswith("INFO:"))
    return logins, statements


@pytest.mark.slow
def test_preview_in_the_clone_rebuilds_and_diffs_there_as_the_branch(
    whole_project_on_snowflake, fakesnow_server, fakesnow_log, repo_root, tmp_path
):
    """`meshctl preview --in-clone` end to end, as the branch-deployment workflow runs it: the
    platform's identity makes the clone (and its baselines), then the branch identity alone
    re-points the cloned views that name production, rebuilds the changed model and its
    downstream in the clone, and diffs there, against production's data as cloned even though
    the branch built the model before the first preview."""
    assert whole_project_on_snowflake.returncode == 0  # production holds every product
    production, clone = "ANALYTICS", "ANALYTICS_CLONE_61"
    with connect(fakesnow_server, production) as con, con.cursor() as cur:
        orders = cur.execute(
            "select tenant_id, order_date, status, amount from sales.orders"
        ).fetch_pandas_all()
        production_daily = cur.execute(
            "select * from sales.daily_revenue order by 1, 2"
        ).fetch_pandas_all()
    orders.columns = [c.lower() for c in orders.columns]

    repo = copy_mesh(repo_root, tmp_path / "mesh")
    git(repo, "checkout", "-q", "-b", "feature/no-refunds")
    edit(repo / DAILY_REVENUE, "from {{ ref('orders') }}\n",
         "from {{ ref('orders') }}\nwhere status <> 'refunded'\n")  # fmt: skip
    (tmp_path / "home").mkdir()
    workflow = {
        **os.environ, **fakesnow_server, "SNOWFLAKE_DATABASE": production,
        "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1", "DAGSTER_CLOUD_PULL_REQUEST_ID": "61",
        "MESH_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "home"),
        "PYTHONPATH": python_path(repo),
    }  # fmt: skip
    # The workflow's clone step, with the platform's identity.
    assert run_meshctl(["clone", "create"], workflow, repo).stdout.strip() == f"{clone}: created"
    fill_clone(fakesnow_server, production, clone)  # test-only: fakesnow's clone is empty
    # What a Snowflake clone holds and fakesnow's does not: view texts naming production.
    cloned_views = name_production_in_views(fakesnow_server, production, clone)
    assert cloned_views  # the mesh's staging and intermediate models are views
    with connect(fakesnow_server, clone) as con:
        # The clone step's baselines, on the filled clone (fakesnow's was empty at that step;
        # its re-pointing of the views is left to the preview, which does it for older clones).
        keep_clone_time_baselines(SnowflakeSession(con, clone, None), clone)
        # The branch deployment builds the changed model before the first preview: the diff
        # must still be against production's data as cloned, not this build.
        con.cursor().execute("delete from sales.daily_revenue where refunds > 0")

    # The preview step, with the branch identity only (the platform's is not in reach).
    branch = {k: v for k, v in workflow.items() if k not in PLATFORM_IDENTITY}
    branch |= {"SNOWFLAKE_BRANCH_USER": "mesh_branch", "SNOWFLAKE_BRANCH_PASSWORD": "not-a-secret"}
    logged = fakesnow_log.stat().st_size
    run_meshctl(["dbt-prepare"], branch, repo)
    preview = run_meshctl(
        ["preview", "--in-clone", "--base", "main", "--format", "json"], branch, repo, timeout=600
    )
    with fakesnow_log.open("rb") as log:
        log.seek(logged)
        logins, sent = logins_and_statements(log.read().decode())
    report = json.loads(preview.stdout)

    assert report["changed"] == ["sales/daily_revenue"], report
    assert {"finance/tenant_billing", "finance/revenue_forecast"} <= set(report["downstream"])
    assert report["success"], report
    diffs = {d["key"]: d for d in report["diffs"]}

    # The removed and changed days per tenant, recomputed with pandas from production's orders.
    before = daily_counts(orders)
    after = daily_counts(orders[orders["status"] != "refunded"])
    merged = before.join(after, rsuffix="_after", how="left").reset_index()
    removed = merged[merged["orders_after"].isna()]
    changed = merged[merged["orders_after"].notna() & (merged["orders"] != merged["orders_after"])]
    expected = {
        tenant: {
            "added": 0,
            "removed": int((removed["tenant_id"] == tenant).sum()),
            "changed": int((changed["tenant_id"] == tenant).sum()),
        }
        for tenant in sorted(set(removed["tenant_id"]) | set(changed["tenant_id"]))
    }
    revenue = diffs["sales/daily_revenue"]
    assert revenue["row_key"] == ["tenant_id", "order_date"]
    assert (revenue["base_rows"], revenue["head_rows"]) == (len(before), len(after))
    assert len(production_daily) == len(before)
    assert (revenue["added"], revenue["removed"], revenue["changed"]) == (
        0, len(removed), len(changed),
    )  # fmt: skip
    assert revenue["by_tenant"] == expected and len(changed) > 0
    refunds = next(c for c in revenue["columns"] if c["column"] == "refunds")
    assert refunds["head"]["sum"] == 0
    assert refunds["base"]["sum"] == pytest.approx(
        float(orders["amount"][orders["status"] == "refunded"].sum())
    )
    assert "finance/tenant_billing" in diffs  # downstream and public: diffed too

    # Production is as it was; the clone holds the rebuild and the kept baseline.
    with connect(fakesnow_server, production) as con, con.cursor() as cur:
        assert (
            cur.execute("select * from sales.daily_revenue order by 1, 2")
            .fetch_pandas_all()
            .equals(production_daily)
        )
    with connect(fakesnow_server, clone) as con, con.cursor() as cur:
        assert cur.execute("select sum(refunds) from sales.daily_revenue").fetchone()[0] == 0
        kept = cur.execute("select count(*) from sales.daily_revenue__base").fetchone()[0]
        assert kept == len(production_daily)

    # What the server received from the preview: sessions bound to the clone only, and no
    # statement that names production (the views' re-pointing and the rebuild were among them).
    assert logins and set(logins) == {f"'{clone}'"}, logins
    # The cloned views were re-pointed into the clone by the branch before it read anything.
    said = [line for line in preview.stderr.splitlines() if "re-pointed" in line]
    assert all(view in "".join(said) for view in cloned_views), (cloned_views, said)
    assert re.search(rf"create or replace view {clone}\.", sent, re.IGNORECASE)
    with connect(fakesnow_server, clone) as con, con.cursor() as cur:
        texts = cur.execute(
            f"select view_definition from information_schema.views where table_catalog = '{clone}'"
        ).fetchall()
    assert texts and not [t for (t,) in texts if re.search(rf"\b{production}\b", t, re.I)]
    assert re.search(r"create or replace.*\bdaily_revenue\b", sent, re.IGNORECASE)
    named = re.findall(rf"\b{production}\b.{{0,60}}", sent, re.IGNORECASE)
    assert not named, named
