"""The data-product convention: declarations, the consumer helper, and what Dagster gets."""

from datetime import timedelta
from textwrap import dedent

import dagster as dg
import pytest
from platform_core.definitions import build_domain_definitions
from platform_core.errors import ProductDeclarationError
from platform_core.products import load_domain_products, sql_product

ORDERS = """
  - name: orders
    description: One row per order.
    owners: [team:sales]
    visibility: public
    tier: 1
    sla: {fail_after: 6h, warn_after: 2h}
    columns:
      - {name: order_id, type: integer, not_null: true, description: Order id.}
      - {name: amount, type: decimal}
  - name: order_lines
    description: Internal detail of orders.
    owners: [team:sales]
    visibility: internal
    columns:
      - {name: order_id, type: integer}
"""


def sales_yaml(extra: str = "") -> str:
    return f"domain: sales\nproducts:{ORDERS}{extra}"


def marketing_yaml(inputs: str, owners: str = "[team:marketing]") -> str:
    return dedent(f"""\
        domain: marketing
        products:
          - name: attribution
            description: Revenue by campaign.
            owners: {owners}
            visibility: public
            inputs: {inputs}
            columns:
              - {{name: campaign_id, type: integer}}
        """)


@sql_product("orders")
def orders_sql(p):
    return "select 1 as order_id, cast(1 as decimal(10, 2)) as amount"


@sql_product("order_lines")
def order_lines_sql(p):
    return "select 1 as order_id"


@sql_product("attribution")
def attribution_sql(p):
    return f"select campaign_id from {p.ref('sales/orders')}"


def test_declared_product_carries_owners_tags_kinds_schema_freshness_and_checks(fixture_mesh):
    files = fixture_mesh({"sales": sales_yaml(), "marketing": marketing_yaml("[sales/orders]")})
    sales = build_domain_definitions(files["sales"], [orders_sql, order_lines_sql])
    marketing = build_domain_definitions(files["marketing"], [attribution_sql])

    spec = sales.resolve_assets_def(dg.AssetKey(["sales", "orders"])).specs_by_key[
        dg.AssetKey(["sales", "orders"])
    ]
    assert spec.owners == ["team:sales"]
    assert spec.tags["domain"] == "sales" and spec.tags["code_location"] == "sales"
    assert spec.tags["visibility"] == "public" and spec.tags["tier"] == "1"
    assert spec.kinds == {"sql", "duckdb"}
    assert spec.group_name == "sales"
    schema = spec.metadata["dagster/column_schema"]
    assert [(c.name, c.type, c.constraints.nullable) for c in schema.columns] == [
        ("order_id", "integer", False),
        ("amount", "decimal", True),
    ]
    assert spec.freshness_policy.fail_window.to_timedelta() == timedelta(hours=6)
    assert spec.freshness_policy.warn_window.to_timedelta() == timedelta(hours=2)

    checks = {
        k.name for k in sales.resolve_asset_graph().asset_check_keys if k.asset_key == spec.key
    }
    assert checks == {"schema_contract", "row_count_drop", "not_null"}
    specs = [s for c in sales.asset_checks for s in c.check_specs]
    assert len(specs) == 5 and all(s.blocking for s in specs)

    attribution = marketing.resolve_assets_def(dg.AssetKey(["marketing", "attribution"]))
    assert attribution.asset_deps[dg.AssetKey(["marketing", "attribution"])] == {spec.key}
    condition = attribution.automation_conditions_by_key[dg.AssetKey(["marketing", "attribution"])]
    assert "blocking checks passed" in condition.get_label()

    sensors = {s.name: s for s in marketing.sensors}
    assert sensors["marketing_automation"].default_status is dg.DefaultSensorStatus.RUNNING


def test_depending_on_unknown_product_fails_naming_both_and_suggesting(fixture_mesh):
    files = fixture_mesh({"sales": sales_yaml(), "marketing": marketing_yaml("[sales/order]")})
    with pytest.raises(ProductDeclarationError) as error:
        build_domain_definitions(files["marketing"], [attribution_sql])
    message = str(error.value)
    assert "'marketing/attribution'" in message and "'sales/order'" in message
    assert "no domain in the mesh declares" in message
    assert "did you mean 'sales/orders'" in message


def test_depending_on_internal_product_of_another_domain_fails_with_the_fix(fixture_mesh):
    files = fixture_mesh(
        {"sales": sales_yaml(), "marketing": marketing_yaml("[sales/order_lines]")}
    )
    with pytest.raises(ProductDeclarationError) as error:
        build_domain_definitions(files["marketing"], [attribution_sql])
    message = str(error.value)
    assert "'marketing/attribution'" in message and "'sales/order_lines'" in message
    assert "internal to domain 'sales'" in message
    assert "sales/orders" in message  # the public alternative
    assert "visibility: public" in message and "team:sales" in message


def test_internal_products_are_usable_inside_their_own_domain(fixture_mesh):
    lines = """
  - name: summary
    description: Uses an internal product of the same domain.
    owners: [team:sales]
    visibility: public
    inputs: [sales/order_lines]
    columns:
      - {name: order_id, type: integer}
"""

    @sql_product("summary")
    def summary(p):
        return f"select order_id from {p.ref('sales/order_lines')}"

    files = fixture_mesh({"sales": sales_yaml(lines)})
    defs = build_domain_definitions(files["sales"], [orders_sql, order_lines_sql, summary])
    assert dg.AssetKey(["sales", "summary"]) in defs.resolve_asset_graph().get_all_asset_keys()


def test_missing_owner_fails_naming_file_product_and_field(fixture_mesh):
    files = fixture_mesh(
        {"sales": sales_yaml(), "marketing": marketing_yaml("[sales/orders]", "[]")}
    )
    with pytest.raises(ProductDeclarationError) as error:
        build_domain_definitions(files["marketing"], [attribution_sql])
    message = str(error.value)
    assert str(files["marketing"]) in message
    assert "product 'attribution', field 'owners'" in message
    assert "Fix: give at least one entry" in message


@pytest.mark.parametrize(
    ("mutation", "field", "fragment"),
    [
        (
            ("owners: [team:sales]", "owners: [sales team]"),
            "owners",
            "use 'team:<name>' or an e-mail",
        ),
        (("visibility: public", "visibility: everyone"), "visibility", "'public' or 'internal'"),
        (("type: decimal", "type: money"), "columns.1.type", "not one of string, integer"),
        (("fail_after: 6h", "fail_after: soon"), "sla.fail_after", "is not a duration"),
        (("tier: 1", "tier: 1\n    colour: red"), "colour", "remove it, or check its spelling"),
        (("name: orders", "name: Orders"), "name", "lower-case identifier"),
        (
            ("description: One row per order.", "description: ' '"),
            "description",
            "must say what one row is",
        ),
    ],
)
def test_invalid_declarations_name_the_field_and_fix(fixture_mesh, mutation, field, fragment):
    files = fixture_mesh({"sales": sales_yaml().replace(*mutation, 1)})
    with pytest.raises(ProductDeclarationError) as error:
        load_domain_products(files["sales"])
    assert f"field '{field}'" in str(error.value)
    assert fragment in str(error.value)


def test_warn_window_must_be_shorter_than_fail_window(fixture_mesh):
    files = fixture_mesh({"sales": sales_yaml().replace("warn_after: 2h", "warn_after: 9h")})
    with pytest.raises(ProductDeclarationError, match="warn_after must be shorter"):
        load_domain_products(files["sales"])


def test_declaration_without_implementation_and_vice_versa(fixture_mesh):
    files = fixture_mesh({"sales": sales_yaml()})
    with pytest.raises(ProductDeclarationError, match=r"'sales/order_lines'.*no implementation"):
        build_domain_definitions(files["sales"], [orders_sql])

    @sql_product("refunds")
    def refunds(p):
        return "select 1"

    with pytest.raises(ProductDeclarationError, match=r"'sales/refunds'.*no declaration"):
        build_domain_definitions(files["sales"], [orders_sql, order_lines_sql, refunds])


def test_same_key_declared_by_two_files_is_refused(fixture_mesh):
    files = fixture_mesh({"sales": sales_yaml(), "sales2": sales_yaml()})
    with pytest.raises(ProductDeclarationError, match="also declared in"):
        build_domain_definitions(files["sales"], [orders_sql, order_lines_sql])


def test_reading_an_undeclared_input_is_refused_at_run_time(fixture_mesh):
    @sql_product("attribution")
    def sneaky(p):
        return f"select * from {p.ref('sales/order_lines')}"

    files = fixture_mesh({"sales": sales_yaml(), "marketing": marketing_yaml("[sales/orders]")})
    defs = build_domain_definitions(files["marketing"], [sneaky])
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[dg.AssetKey(["marketing", "attribution"])], raise_on_error=False
    )
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    failure = error.cause.message if error.cause else error.message
    assert "reads 'sales/order_lines', which is not among its inputs" in failure


def test_plain_assets_get_platform_tags_and_land_in_the_domain_schema(fixture_mesh, tmp_path):
    """A domain's own (non-product) DataFrame asset goes through the environment's IO manager."""
    import duckdb
    import pandas as pd
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    @dg.asset(key=["sales", "scratch"])
    def scratch() -> pd.DataFrame:
        return pd.DataFrame({"x": [1, 2, 3]})

    files = fixture_mesh({"sales": sales_yaml()})
    path = str(tmp_path / "w.duckdb")
    defs = build_domain_definitions(
        files["sales"],
        [orders_sql, order_lines_sql],
        assets=[scratch],
        resources={"io_manager": DuckDBPandasIOManager(database=path)},
    )
    spec = defs.resolve_assets_def(dg.AssetKey(["sales", "scratch"])).specs_by_key[
        dg.AssetKey(["sales", "scratch"])
    ]
    assert spec.tags["domain"] == "sales" and spec.tags["code_location"] == "sales"
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(asset_selection=[spec.key]).success
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("select sum(x) from sales.scratch").fetchone()[0] == 6
