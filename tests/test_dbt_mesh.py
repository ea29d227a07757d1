"""dbt in the materialized mesh: cross-location edges both ways, dbt tests as checks, values,
and a failing dbt test holding back a product in another location."""

import os
import shutil

import dagster as dg
import duckdb
import numpy as np
import pytest
from mesh_tooling.runner import load_mesh_graph
from platform_core.environment import current_environment

from tests.support.processes import BIN
from tests.test_mesh_end_to_end import query


def key(ref: str) -> dg.AssetKey:
    return dg.AssetKey(ref.split("/"))


@pytest.fixture(scope="module")
def graph(materialized_mesh, repo_root):
    return load_mesh_graph(repo_root)


def kinds(graph, ref: str) -> set[str]:
    definitions = graph.definitions[graph.producer[key(ref)]]
    return set(definitions.resolve_asset_graph().get(key(ref)).kinds)


def test_python_to_dbt_to_python_edges_cross_locations(graph):
    parents = graph.parents
    # Python ingestion (marketing) -> dbt source -> marketing staging model.
    assert key("marketing/clicks") in parents[key("marketing/stg_marketing__clicks")]
    assert {"python"} <= kinds(graph, "marketing/clicks")
    # A platform product (the tenants' entry point) -> dbt source -> sales staging, across
    # locations.
    assert key("platform/tenant_orders") in parents[key("sales/stg_sales__orders")]
    assert {"dbt"} <= kinds(graph, "sales/stg_sales__orders")
    # dbt ref across groups (marketing -> sales' public orders) is a cross-location edge.
    assert key("sales/orders") in parents[key("marketing/int_marketing__last_touch_orders")]
    assert key("sales/daily_revenue") in parents[key("finance/int_finance__monthly_gmv")]
    # dbt model (sales) -> Python product (finance).
    assert key("sales/daily_revenue") in parents[key("finance/revenue_forecast")]
    assert {"python"} <= kinds(graph, "finance/revenue_forecast")
    producers = {graph.producer[key(r)] for r in ("platform/tenant_orders", "sales/daily_revenue",
                                                  "finance/revenue_forecast")}  # fmt: skip
    assert producers == {"platform", "sales", "finance"}


def test_dbt_tests_ran_as_asset_checks(materialized_mesh):
    _, instance = materialized_mesh
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(key("sales/orders"), "accepted_values_orders_v2_status__completed__refunded__cancelled"),
        limit=1,
    )  # fmt: skip
    assert records and records[0].status.value == "SUCCEEDED"
    evaluation = records[0].event.dagster_event.event_specific_data
    assert evaluation.passed


def test_versioned_model_keeps_the_product_table_and_the_old_version(materialized_mesh):
    summary, _ = materialized_mesh
    rows = {o.key: o.rows for o in summary.outcomes}
    assert rows["sales/orders"] == rows["sales/orders_v1"] == 3 * 600
    v1 = set(query("select * from sales.orders_v1 limit 1").columns)
    v2 = set(query("select * from sales.orders limit 1").columns)
    assert v2 - v1 == {"category", "order_date"}


def test_revenue_forecast_is_a_linear_trend_of_monthly_revenue(materialized_mesh):
    from tests.test_mesh_end_to_end import landed

    orders = landed("orders").merge(
        landed("products")[["product_id", "unit_price"]], on="product_id"
    )
    orders = orders[orders["status"] == "completed"]
    orders["amount"] = orders["quantity"] * orders["unit_price"].astype(float)
    orders["month"] = orders["ordered_at"].dt.to_period("M")
    forecast = query("select * from finance.revenue_forecast").set_index("tenant_id")
    assert len(forecast) == 3
    for tenant_id, history in orders.groupby("tenant_id"):
        monthly = history.groupby("month")["amount"].sum().sort_index()
        slope, intercept = np.polyfit(np.arange(len(monthly)), monthly.to_numpy(), 1)
        row = forecast.loc[tenant_id]
        assert row["months_observed"] == len(monthly) == 3
        assert row["forecast_revenue"] == pytest.approx(max(0, slope * 3 + intercept), abs=0.01)
        assert str(row["forecast_month"]) == "2026-04-01"


@pytest.mark.slow
def test_failing_dbt_test_blocks_the_downstream_product_in_another_location(repo_root, tmp_path):
    """A bad order status fails sales' accepted_values test (severity error, so a blocking
    check); finance's Python forecast downstream, in another location, is not run."""
    import subprocess

    env = {**os.environ, "MESH_HOME": str(tmp_path / "mesh"), "DAGSTER_HOME": str(tmp_path)}
    scale = ["--tenants", "2", "--orders-per-tenant", "200"]
    platform = ["tenant_sync/customers", "tenant_sync/products", "tenant_sync/orders",
                "platform/tenant_orders", "platform/tenant_products", "platform/tenant_customers"]  # fmt: skip
    landed = subprocess.run(
        [str(BIN / "meshctl"), "materialize", *scale, "--select", *platform],
        env=env, cwd=repo_root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert landed.returncode == 0, landed.stdout + landed.stderr
    # One order arrives with a status the contract does not know.
    with duckdb.connect(str(tmp_path / "mesh" / "warehouse.duckdb")) as con:
        con.execute(
            "update platform.tenant_orders set status = 'lost_in_transit' "
            "where order_id = (select min(order_id) from platform.tenant_orders)"
        )

    select = ["sales/stg_sales__orders", "sales/stg_sales__products", "sales/stg_sales__customers",
              "sales/int_sales__priced_orders", "sales/orders", "sales/daily_revenue",
              "finance/revenue_forecast"]  # fmt: skip
    result = subprocess.run(
        [str(BIN / "meshctl"), "materialize", *scale, "--select", *select],
        env=env, cwd=repo_root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if "/" in line[:40]}
    assert "materialized" in lines["sales/stg_sales__orders"]
    assert "failed check: accepted_values_stg_sales__orders_status" in result.stdout
    assert "skipped" in lines["finance/revenue_forecast"], result.stdout
    shutil.rmtree(tmp_path / "mesh" / "dbt", ignore_errors=True)


def test_the_failing_test_is_a_blocking_check_and_a_warn_test_is_not(graph):
    definitions = graph.definitions["sales"]
    specs = {
        spec.key.name: spec
        for assets_def in definitions.resolve_asset_graph().assets_defs
        for spec in assets_def.check_specs
    }
    assert specs[
        "accepted_values_stg_sales__orders_status__completed__refunded__cancelled"
    ].blocking
    assert not specs["not_null_stg_sales__customers_country"].blocking  # severity: warn
    assert current_environment().is_local
