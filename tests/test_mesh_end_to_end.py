"""Materialize the whole mesh into a fresh DuckDB and check figures that follow from the seed.

Expected values are computed independently, with pandas, from the landed source files: the
warehouse SQL (dbt models since issue 3, Python products) and this code must agree.
"""

from decimal import Decimal

import duckdb
import pandas as pd
import pytest
from platform_core.environment import current_environment
from platform_core.landing import read_landing

TAKE_RATE = {
    "starter": Decimal("0.029"),
    "growth": Decimal("0.025"),
    "enterprise": Decimal("0.019"),
}
SUBSCRIPTION = {"starter": Decimal(29), "growth": Decimal(99), "enterprise": Decimal(499)}


def landed(table: str) -> pd.DataFrame:
    return read_landing(current_environment().landing_dir, table).to_pandas()


def query(sql: str) -> pd.DataFrame:
    with duckdb.connect(str(current_environment().duckdb_path), read_only=True) as con:
        # Through Arrow, so DECIMAL columns stay exact Decimals (not floats).
        return con.sql(sql).to_arrow_table().to_pandas()


@pytest.fixture(scope="module")
def completed_orders(materialized_mesh) -> pd.DataFrame:
    orders = landed("orders").merge(
        landed("products")[["product_id", "unit_price"]], on="product_id"
    )
    orders["amount"] = orders["quantity"].map(Decimal) * orders["unit_price"]
    return orders[orders["status"] == "completed"]


def test_every_asset_of_every_location_materialized_with_checks_passing(materialized_mesh):
    summary, _ = materialized_mesh
    assert summary.success, summary.render()
    locations = {o.location for o in summary.outcomes}
    assert locations == {"platform", "sales", "marketing", "finance", "tenant_sync"}
    # 11 Python products (platform 4, marketing 3 + the click-stream's 3, finance 1), tenant
    # sync's customers/products/orders (each run once per tenant) and 18 dbt models (sales 8,
    # marketing 6, finance 4: staging, intermediate and marts, and the deprecated orders v1).
    assert len(summary.outcomes) == 32
    rows = {o.key: o.rows for o in summary.outcomes}
    assert rows["tenant_sync/orders"] == rows["platform/tenant_orders"] == 3 * 600


def test_row_counts_follow_the_seed(materialized_mesh):
    summary, _ = materialized_mesh
    rows = {o.key: o.rows for o in summary.outcomes}
    assert rows["platform/tenants"] == 3
    assert rows["platform/tenant_orders"] == rows["sales/orders"] == 3 * 600
    assert rows["sales/customers"] == len(landed("customers"))
    assert rows["marketing/campaign_spend"] == 3 * 4 * 90
    assert rows["marketing/revenue_attribution"] == 3 * 4


def test_daily_revenue_matches_the_source_orders(completed_orders):
    expected = completed_orders.assign(order_date=completed_orders["ordered_at"].dt.date)
    expected = expected.groupby(["tenant_id", "order_date"])["amount"].sum()
    actual = query(
        "select tenant_id, order_date, revenue from sales.daily_revenue where revenue > 0"
    )
    actual = actual.set_index(["tenant_id", "order_date"])["revenue"]
    assert actual.sort_index().to_dict() == expected.sort_index().to_dict()
    assert sum(actual) == sum(completed_orders["amount"])


def test_tenant_billing_applies_plan_pricing(completed_orders):
    tenants = landed("tenants").set_index("tenant_id")["plan"]
    spend = landed("ad_spend")
    spend["month"] = pd.to_datetime(spend["spend_date"]).dt.to_period("M")
    gmv = completed_orders.assign(month=completed_orders["ordered_at"].dt.to_period("M"))
    gmv = gmv.groupby(["tenant_id", "month"])["amount"].sum()
    ads = spend.groupby(["tenant_id", "month"])["spend"].sum()

    billing = query("select * from finance.tenant_billing order by tenant_id, billing_month")
    assert len(billing) == 3 * 3  # three tenants x January-March 2026
    for row in billing.itertuples():
        month = pd.Period(row.billing_month, "M")
        plan = tenants[row.tenant_id]
        expected_gmv = gmv.get((row.tenant_id, month), Decimal(0))
        fees = (expected_gmv * TAKE_RATE[plan]).quantize(Decimal("0.01"))
        expected_total = SUBSCRIPTION[plan] + fees + ads[(row.tenant_id, month)]
        assert (row.plan, row.gmv, row.transaction_fees) == (plan, expected_gmv, fees)
        assert row.total_due == expected_total


def test_revenue_attribution_is_last_touch_within_seven_days(completed_orders):
    clicks = landed("clicks")
    touches = completed_orders.merge(clicks, on=["tenant_id", "customer_id"], suffixes=("", "_c"))
    window = (touches["clicked_at"] <= touches["ordered_at"]) & (
        touches["clicked_at"] > touches["ordered_at"] - pd.Timedelta(days=7)
    )
    touches = touches[window].sort_values(["order_id", "clicked_at", "click_id"])
    last = touches.groupby("order_id").tail(1)
    expected = last.groupby("campaign_id")["amount"].sum()

    actual = query(
        "select campaign_id, attributed_revenue, attributed_orders from marketing.revenue_attribution"
    )
    actual = actual.set_index("campaign_id")
    assert actual["attributed_orders"].sum() == len(last) > 0
    for campaign_id, revenue in expected.items():
        assert actual.loc[campaign_id, "attributed_revenue"] == revenue


def test_each_domain_writes_its_own_schema_in_one_warehouse_file(materialized_mesh):
    schemas = query(
        "select distinct table_schema from information_schema.tables where table_catalog = 'warehouse'"
    )["table_schema"]
    # Tenant data is not in the shared file: each tenant has its own store next to it
    # (tenants/tenant_<id>.duckdb, one catalog named tenant_<id>); the sync's control schema is.
    assert set(schemas) == {"platform", "sales", "marketing", "finance", "tenancy"}
    stores = current_environment().duckdb_path.parent / "tenants"
    assert sorted(p.name for p in stores.glob("*.duckdb")) == [
        f"tenant_t00{i}.duckdb" for i in (1, 2, 3)
    ]
    with duckdb.connect(str(stores / "tenant_t001.duckdb"), read_only=True) as con:
        tables = con.sql("select database_name, schema_name, table_name from duckdb_tables()")
        assert sorted(tables.fetchall()) == [
            ("tenant_t001", "main", t) for t in ("customers", "orders", "products")
        ]
