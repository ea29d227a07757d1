"""Each standard check on passing and failing data, in a real DuckDB warehouse."""

import dagster as dg
import pandas as pd
import pytest
from platform_core.definitions import build_domain_definitions
from platform_core.products import ProductDeclaration, python_product, sql_product
from platform_core.products.checks import (
    evaluate_not_null,
    evaluate_row_count_drop,
    evaluate_schema_contract,
    product_check_names,
    product_checks,
)
from platform_core.warehouse import DuckDBWarehouse


def declaration(**overrides) -> ProductDeclaration:
    fields = {
        "name": "orders",
        "domain": "sales",
        "description": "Orders.",
        "owners": ["team:sales"],
        "visibility": "public",
        "columns": [
            {"name": "order_id", "type": "integer", "not_null": True},
            {"name": "amount", "type": "decimal"},
            {"name": "ordered_at", "type": "timestamp"},
        ],
    } | overrides
    return ProductDeclaration.model_validate(fields)


@pytest.fixture
def session(tmp_path):
    with DuckDBWarehouse(path=str(tmp_path / "w.duckdb")).session() as session:
        session.ensure_schema("sales")
        yield session


def test_schema_contract_passes_on_matching_table(session):
    session.execute(
        "create table sales.orders as select 1::bigint as order_id, "
        "2.5::decimal(10,2) as amount, now()::timestamp as ordered_at"
    )
    result = evaluate_schema_contract(session, declaration())
    assert result.passed, result.description


@pytest.mark.parametrize(
    ("select", "problem"),
    [
        (
            "select 1::bigint as order_id, now()::timestamp as ordered_at",
            "missing columns ['amount']",
        ),
        (
            "select 1::bigint as order_id, 2.5::decimal(10,2) as amount, now()::timestamp as ordered_at, 'x' as note",
            "columns not in the contract ['note']",
        ),
        (
            "select '1' as order_id, 2.5::decimal(10,2) as amount, now()::timestamp as ordered_at",
            "order_id: contract integer, table string",
        ),
    ],
)
def test_schema_contract_fails_on_drift(session, select, problem):
    session.execute(f"create table sales.orders as {select}")
    result = evaluate_schema_contract(session, declaration())
    assert not result.passed
    assert problem in result.description
    assert result.severity is dg.AssetCheckSeverity.ERROR


def test_schema_contract_fails_when_table_is_missing(session):
    result = evaluate_schema_contract(session, declaration())
    assert not result.passed and "does not exist" in result.description


def test_not_null_passes_and_fails(session):
    session.execute(
        "create table sales.orders as select * from (values (1, 2.0, null), (2, null, null)) t(order_id, amount, ordered_at)"
    )
    assert evaluate_not_null(session, declaration()).passed
    session.execute("insert into sales.orders values (null, 1.0, null), (null, 1.0, null)")
    result = evaluate_not_null(session, declaration())
    assert not result.passed and "{'order_id': 2}" in result.description


@pytest.mark.parametrize(
    ("current", "previous", "passed"),
    [
        (100, None, True),
        (100, 0, True),
        (80, 100, True),
        (79, 100, False),
        (150, 100, True),
        (0, 10, False),
    ],
)
def test_row_count_drop_threshold(current, previous, passed):
    assert evaluate_row_count_drop(current, previous, 0.8).passed is passed


def test_row_count_drop_threshold_is_configurable():
    assert evaluate_row_count_drop(60, 100, 0.5).passed
    assert not evaluate_row_count_drop(60, 100, 0.7).passed


SHRINKING = """
domain: sales
products:
  - name: orders
    description: Orders, as many as the test asks for.
    owners: [team:sales]
    visibility: public
    columns:
      - {name: order_id, type: integer, not_null: true}
  - name: order_count
    description: Downstream of orders, held when orders fails a blocking check.
    owners: [team:sales]
    visibility: public
    inputs: [sales/orders]
    columns:
      - {name: n, type: integer}
"""


def test_shrinking_table_fails_blocking_check_and_holds_downstream(fixture_mesh, tmp_path):
    rows = {"n": 100}

    @python_product("orders")
    def orders(p):
        return pd.DataFrame({"order_id": range(rows["n"])})

    @sql_product("order_count")
    def order_count(p):
        return f"select count(*) as n from {p.ref('sales/orders')}"

    files = fixture_mesh({"sales": SHRINKING})
    defs = build_domain_definitions(
        files["sales"],
        [orders, order_count],
        resources={"warehouse": DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))},
    )
    job = defs.resolve_implicit_global_asset_job_def()
    downstream = dg.AssetKey(["sales", "order_count"])
    with dg.DagsterInstance.ephemeral() as instance:
        assert job.execute_in_process(instance=instance).success
        rows["n"] = 50  # the source lost half its rows
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failed = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
        assert set(failed) == {"row_count_drop"}
        assert "50 rows is 50% of the previous 100" in failed["row_count_drop"].description
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        assert downstream not in materialized  # held by the blocking check
        assert instance.get_latest_materialization_event(downstream).run_id != result.run_id

        rows["n"] = 95  # recovered: the next run passes and releases the hold
        assert job.execute_in_process(instance=instance).success


def test_a_failing_session_releases_the_warehouse_file(tmp_path):
    import duckdb

    path = tmp_path / "w.duckdb"
    with pytest.raises(duckdb.Error), DuckDBWarehouse(path=str(path)).session() as session:
        session.execute("select * from no_such_table")
    # A read-only open in the same process fails if a read-write connection were still open.
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select 1").fetchone() == (1,)


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ([{"name": "a", "type": "integer"}], {"schema_contract", "row_count_drop"}),
        (
            [{"name": "a", "type": "integer", "not_null": True}],
            {"schema_contract", "row_count_drop", "not_null"},
        ),
        (
            [{"name": "a", "type": "integer", "max_null_fraction": 0.1}],
            {"schema_contract", "row_count_drop", "null_fraction"},
        ),
        (
            [
                {"name": "a", "type": "integer", "not_null": True},
                {"name": "b", "type": "integer", "max_null_fraction": 0.1},
            ],
            {"schema_contract", "row_count_drop", "not_null", "null_fraction"},
        ),
    ],
)
def test_check_names_without_building_match_the_built_checks(columns, expected):
    # Monitoring reads every product's check keys from the names alone; they must agree.
    product = declaration(columns=columns)
    built = {key.name for check in product_checks(product) for key in check.check_keys}
    assert built == expected
    assert set(product_check_names(product)) == expected
