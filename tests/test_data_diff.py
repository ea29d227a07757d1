"""Data diffs of a branch against main: in DuckDB (two files) and inside a Snowflake clone.

Expected figures are recomputed with pandas over both warehouses, never by the diff code.
"""

import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlglot
from markdown_it import MarkdownIt
from mesh_tooling.preview.clone_diff import diff_in_clone, keep_baselines
from mesh_tooling.preview.data_diff import DiffQueries, Table, diff_tables
from mesh_tooling.preview.diff_report import render_markdown, render_text
from mesh_tooling.sample.data import Scale, write_landing
from platform_core.warehouse.duckdb import DuckDBSession

# Main's orders, then the branch's change: a filter that drops refunded orders, and a daily
# table whose `orders` column is retyped (bigint -> double) while its values stay.
ORDERS = "create or replace table sales.orders as select * from read_parquet('{path}')"
DROP_REFUNDED = (
    "create or replace table sales.orders as select * from {base} where status <> 'refunded'"
)
BIG_ORDERS = (
    "create or replace view sales.big_orders as select order_id, tenant_id, quantity "
    "from sales.orders where quantity >= {quantity}"
)
# A table without a key (its rows repeat): the branch drops refunded orders' lines and adds
# one to the quantity of cancelled orders' lines (rows that change without a key to pair them).
LINES = (
    "create or replace table sales.order_lines as select tenant_id, product_id, "
    "cast({quantity} as bigint) as quantity from sales.orders"
)
BRANCH_QUANTITY = "case when status = 'cancelled' then quantity + 1 else quantity end"
DAILY = (
    "create or replace table sales.daily as select tenant_id, cast(ordered_at as date) as day, "
    "cast(count(*) as {type}) as orders from sales.orders group by 1, 2"
)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("landing")
    write_landing(folder, Scale(tenants=3, orders_per_tenant=200, seed=11))
    return folder / "tenant_app" / "orders.parquet"


@pytest.fixture
def warehouses(tmp_path, landing) -> tuple[Path, Path]:
    main, branch = tmp_path / "main.duckdb", tmp_path / "branch.duckdb"
    with duckdb.connect(str(main)) as con:
        con.execute("create schema sales")
        con.execute(ORDERS.format(path=landing))
        con.execute(DAILY.format(type="bigint"))
        con.execute(LINES.format(quantity="quantity"))
    shutil.copyfile(main, branch)
    with duckdb.connect(str(branch)) as con:
        con.execute("create table sales.orders_kept as select * from sales.orders")
        con.execute(DROP_REFUNDED.format(base="sales.orders_kept"))
        con.execute("drop table sales.orders_kept")
        con.execute(DAILY.format(type="double"))
        con.execute(LINES.format(quantity=BRANCH_QUANTITY))
    return main, branch


def frame(path: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"select * from {table}").df()


def diff(branch: Path, main: Path, table: str, key: list[str]):
    with duckdb.connect(str(branch)) as con:
        con.execute(f"attach '{main}' as mesh_main (read_only)")
        session = DuckDBSession(con)
        return diff_tables(
            session, f"sales/{table}", Table("sales", table, "mesh_main"),
            Table("sales", table, "branch"), key,
        )  # fmt: skip


def test_a_filter_dropping_refunded_orders_shows_the_removed_rows_per_tenant(warehouses):
    main, branch = warehouses
    report = diff(branch, main, "orders", ["order_id"])

    before, after = frame(main, "sales.orders"), frame(branch, "sales.orders")
    gone = before[~before["order_id"].isin(after["order_id"])]
    assert len(gone) > 0 and set(gone["status"]) == {"refunded"}
    assert (report.base_rows, report.head_rows) == (len(before), len(after))
    assert (report.added, report.removed, report.changed) == (0, len(gone), 0)
    expected = gone.groupby("tenant_id").size().to_dict()
    assert {t: c["removed"] for t, c in report.by_tenant.items()} == expected
    assert all(c["added"] == c["changed"] == 0 for c in report.by_tenant.values())
    # The status column lost a value; quantity's sum dropped by the removed rows' quantities.
    stats = {c.column: c for c in report.columns}
    assert stats["status"].head.distinct == after["status"].nunique()
    assert stats["status"].base.distinct == before["status"].nunique()
    assert stats["quantity"].base.sum - stats["quantity"].head.sum == gone["quantity"].sum()
    assert report.samples and all(s["change"] == "removed" for s in report.samples)
    sampled = {s["order_id"] for s in report.samples}
    assert sampled == set(sorted(gone["order_id"])[: len(sampled)])
    assert (report.added_columns, report.removed_columns, report.retyped_columns) == ([], [], [])


def test_a_retyped_column_shows_in_the_schema_diff(warehouses):
    main, branch = warehouses
    report = diff(branch, main, "daily", ["tenant_id", "day"])
    assert report.retyped_columns == ["orders: BIGINT -> DOUBLE"]
    before, after = frame(main, "sales.daily"), frame(branch, "sales.daily")
    merged = before.merge(after, on=["tenant_id", "day"], suffixes=("_main", "_branch"))
    changed = int((merged["orders_main"] != merged["orders_branch"]).sum())
    assert report.changed == changed > 0  # fewer orders on days that had refunds
    vanished = len(before) - len(merged)  # days whose only orders were refunded
    assert (report.added, report.removed) == (len(after) - len(merged), vanished)
    assert len(after) == len(merged)
    text = render_text([report])
    assert "retyped: orders: BIGINT -> DOUBLE" in text


def test_a_table_without_a_key_is_matched_by_whole_rows(warehouses):
    main, branch = warehouses
    report = diff(branch, main, "order_lines", [])

    def rows(path: Path) -> Counter:
        return Counter(frame(path, "sales.order_lines").itertuples(index=False, name=None))

    before, after = rows(main), rows(branch)
    gone, new = before - after, after - before  # multiset differences
    assert gone and new
    assert report.row_match == "whole row"
    assert report.row_columns == ["tenant_id", "product_id", "quantity"]
    assert (report.added, report.removed, report.changed) == (
        sum(new.values()), sum(gone.values()), None,
    )  # fmt: skip
    expected = {
        tenant: {
            "added": sum(n for row, n in new.items() if row[0] == tenant),
            "removed": sum(n for row, n in gone.items() if row[0] == tenant),
        }
        for tenant in {row[0] for row in gone} | {row[0] for row in new}
    }
    assert report.by_tenant == expected
    assert len(report.samples) == 5
    for sample in report.samples:
        row = (sample["tenant_id"], sample["product_id"], sample["quantity"])
        assert row in (gone if sample["change"] == "removed" else new), sample
    text = render_text([report])
    assert "by whole row (no row key)" in text and "changed" not in text.split("tenant")[1]


def test_the_markdown_renders_as_tables(warehouses):
    main, branch = warehouses
    reports = [diff(branch, main, "orders", ["order_id"]), diff(branch, main, "daily", [])]
    markdown = render_markdown(reports)
    html = MarkdownIt("commonmark").enable("table").render(markdown)
    assert html.count("<table>") >= 3  # summary, per tenant, column statistics
    assert "<code>sales/orders</code>" in html
    assert "| `sales/daily` |" in markdown and "by whole row (no row key)" in markdown
    removed = reports[0].removed
    assert f"0 added, {removed:,} removed, 0 changed" in markdown


def test_the_diff_sql_transpiles_to_snowflake_and_parses():
    queries = DiffQueries(Table("sales", "orders__base"), Table("sales", "orders"), "snowflake")
    for sql in (
        queries.key_counts(["order_id"], ["order_id", "status"], by_tenant=True),
        queries.samples(["order_id"], ["order_id", "status"], 5),
        queries.row_counts(["tenant_id", "status"], by_tenant=True),
        queries.row_samples(["tenant_id", "status"], 5),
    ):
        parsed = sqlglot.parse_one(sql, read="snowflake")
        assert {t.name for t in parsed.find_all(sqlglot.exp.Table)} == {"orders__base", "orders"}
        assert all(not t.catalog for t in parsed.find_all(sqlglot.exp.Table))


class RecordingConnection:
    """The connector connection, recording every statement its cursors send."""

    def __init__(self, connection, sent: list[str]) -> None:
        self._connection, self._sent = connection, sent

    def cursor(self):
        cursor = self._connection.cursor()
        execute, sent = cursor.execute, self._sent

        def recording(sql, *args, **kwargs):
            sent.append(sql)
            return execute(sql, *args, **kwargs)

        cursor.execute = recording
        return cursor


def test_in_a_branch_clone_the_baseline_is_the_clone_and_production_is_never_named(
    monkeypatch, clean_environment, fakesnow_server, landing
):
    import snowflake.connector
    from platform_core.environment import current_environment
    from platform_core.warehouse import SnowflakeWarehouse

    monkeypatch.setenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "1")
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "16")
    monkeypatch.setenv("SNOWFLAKE_DATABASE", "diffprod")
    clone = current_environment().warehouse_database
    assert clone == "DIFFPROD_CLONE_16"
    # Outside the branch (as `meshctl clone create` does): the clone with production's data.
    # fakesnow's CREATE DATABASE ... CLONE makes an empty database, so the rows are loaded.
    orders = pd.read_parquet(landing)
    with snowflake.connector.connect(
        account="fakesnow", user="u", password="p", host=fakesnow_server["SNOWFLAKE_HOST"],
        port=int(fakesnow_server["SNOWFLAKE_PORT"]), protocol="http",
    ) as con:  # fmt: skip
        con.cursor().execute(f"create database if not exists {clone}")
        con.cursor().execute(f"use database {clone}")
        con.cursor().execute("create schema if not exists sales")
        con.cursor().execute(
            "create or replace table sales.orders (order_id integer, tenant_id varchar, "
            "quantity integer, status varchar)"
        )
        rows = orders[["order_id", "tenant_id", "quantity", "status"]].itertuples(index=False)
        con.cursor().executemany(
            "insert into sales.orders values (%s, %s, %s, %s)",
            [(int(a), b, int(c), d) for a, b, c, d in rows],
        )
        con.cursor().execute(BIG_ORDERS.format(quantity=2))

    settings = {
        "account": "fakesnow", "user": "mesh_test", "password": "not-a-secret",
        "host": "127.0.0.1", "port": int(fakesnow_server["SNOWFLAKE_PORT"]), "protocol": "http",
    }  # fmt: skip
    sent: list[str] = []
    with SnowflakeWarehouse(**settings).session() as session:
        session.connection = RecordingConnection(session.connection, sent)
        assert session.scalar("select current_database()") == clone
        tables, views = [("sales", "orders"), ("sales", "big_orders")], {("sales", "big_orders")}
        kept = keep_baselines(session, tables, views)
        assert [t.name for t in kept] == ["orders__base", "big_orders__base"]
        # The rebuild of the changed products, in the clone: a table and a view over it.
        session.replace_table(
            "sales", "orders", "select * from sales.orders__base where status <> 'refunded'"
        )
        session.execute(BIG_ORDERS.format(quantity=3))
        # A later push keeps the first baseline (production's rows), not the last build.
        keep_baselines(session, tables, views)
        assert session.scalar("select count(*) from sales.orders__base") == len(orders)
        report, big = diff_in_clone(
            session, tables, {"sales/orders": ["order_id"], "sales/big_orders": ["order_id"]}
        )
        whole_rows, _ = diff_in_clone(session, tables, {})  # no key: whole rows, same counts

    gone = orders[orders["status"] == "refunded"]
    assert (report.base_rows, report.head_rows) == (len(orders), len(orders) - len(gone))
    assert (report.added, report.removed, report.changed) == (0, len(gone), 0)
    assert {t: c["removed"] for t, c in report.by_tenant.items()} == (
        gone.groupby("tenant_id").size().to_dict()
    )
    # The view: its result before the rebuild against its result after, by pandas.
    big_before = orders[orders["quantity"] >= 2]
    big_after = orders[(orders["quantity"] >= 3) & (orders["status"] != "refunded")]
    assert (big.base_rows, big.head_rows) == (len(big_before), len(big_after))
    assert (big.added, big.removed, big.changed) == (0, len(big_before) - len(big_after), 0)
    assert big.removed > 0
    assert whole_rows.row_match == "whole row"
    assert (whole_rows.added, whole_rows.removed) == (0, len(gone))
    assert {t: c["removed"] for t, c in whole_rows.by_tenant.items()} == (
        gone.groupby("tenant_id").size().to_dict()
    )
    assert {s["change"] for s in whole_rows.samples} == {"removed"}
    assert {s["order_id"] for s in whole_rows.samples} <= set(gone["order_id"])
    assert sent, "the session sent nothing"
    for sql in sent:
        for statement in sqlglot.parse(sql, read="snowflake"):
            named = {t.catalog.upper() for t in statement.find_all(sqlglot.exp.Table) if t.catalog}
            assert named <= {clone} and "DIFFPROD" not in named, sql
        assert "diffprod." not in sql.lower() and "use " not in sql.lower(), sql
