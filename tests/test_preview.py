"""Changed-asset detection against a git base, and `meshctl preview` on a copy of the mesh."""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
from mesh_tooling.preview.branch import branch_slug, prepare_branch_home
from mesh_tooling.preview.changes import detect_changes
from platform_core.environment import detect_environment
from platform_core.errors import ConfigurationError
from platform_core.workspace import read_locations

from tests.support.mesh_copy import copy_mesh, edit, git, python_path
from tests.support.processes import BIN


@pytest.fixture
def mesh_copy(repo_root, tmp_path) -> Path:
    repo = copy_mesh(repo_root, tmp_path / "mesh")
    git(repo, "checkout", "-q", "-b", "feature/x")
    return repo


LAST_TOUCH = "dbt_project/models/marketing/intermediate/int_marketing__last_touch_orders.sql"
WINDOW = 'var("attribution_window_days", 7)'
ORDERS = "dbt_project/models/sales/marts/orders_v2.sql"


def test_a_code_change_touches_its_location_only(mesh_copy):
    edit(
        mesh_copy / "domains/marketing/mesh_marketing/defs/products/campaigns.py",
        "landed with Arrow",
        "landed",
    )
    changes = detect_changes(mesh_copy, "main")
    assert changes.files == ["domains/marketing/mesh_marketing/defs/products/campaigns.py"]
    assert (changes.everything, changes.code_changed, changes.locations) == (
        False, {"marketing"}, {"marketing"},
    )  # fmt: skip


def test_a_dbt_model_change_belongs_to_its_groups_location(mesh_copy):
    edit(mesh_copy / LAST_TOUCH, WINDOW, 'var("attribution_window_days", 3)')
    changes = detect_changes(mesh_copy, "main")
    assert (changes.everything, changes.code_changed, changes.locations) == (
        False, {"marketing"}, {"marketing"},
    )  # fmt: skip
    # Project-wide dbt files shape every location's slice of the shared manifest.
    edit(mesh_copy / "dbt_project/dbt_project.yml", "name:", "name: ")
    assert detect_changes(mesh_copy, "main").everything


def test_a_declaration_change_touches_the_product_and_redeploys_its_consumers(mesh_copy):
    declarations = mesh_copy / "domains/platform/mesh_platform/defs/products/defs.yaml"
    edit(declarations, "tier: 1", "tier: 2")  # the first product: platform/tenants
    changes = detect_changes(mesh_copy, "main")
    assert changes.products_changed == {"platform/tenants"}
    assert changes.code_changed == set()
    # finance's dbt tenant_billing reads source('platform', 'tenants'); sales reads other
    # platform products only.
    assert changes.locations == {"platform", "finance"}


def test_platform_core_or_the_lock_changes_everything_and_docs_nothing(mesh_copy):
    (mesh_copy / "NOTES.md").write_text("docs only\n")
    assert detect_changes(mesh_copy, "main").locations == set()
    edit(mesh_copy / "platform_core/platform_core/errors.py", "Errors users see.", "Errors.")
    changes = detect_changes(mesh_copy, "main")
    assert changes.everything
    assert changes.locations == {loc.name for loc in read_locations(mesh_copy)}


def test_an_unknown_base_ref_is_a_clear_error(mesh_copy):
    with pytest.raises(ConfigurationError, match="pass an existing --base ref"):
        detect_changes(mesh_copy, "no-such-branch")


def test_preview_needs_a_main_warehouse_and_a_usable_branch_name(tmp_path):
    env = detect_environment({"MESH_HOME": str(tmp_path)})
    with pytest.raises(ConfigurationError, match=r"Fix: run `\./mesh materialize`"):
        prepare_branch_home(env, "feature")
    assert branch_slug("feature/new attribution!") == "feature-new-attribution"
    with pytest.raises(ConfigurationError, match="--branch"):
        branch_slug("///")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def attributed_orders(warehouse: Path) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select sum(attributed_orders) from marketing.revenue_attribution"
        ).fetchone()[0]


@pytest.mark.slow
def test_preview_runs_the_branch_on_a_copy_and_leaves_main_byte_identical(mesh_copy, tmp_path):
    home = tmp_path / "home"
    # The copy's code, not the installed worktree's, is what the branch changes.
    env = {
        **os.environ, "MESH_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
        "PYTHONPATH": python_path(mesh_copy),
    }  # fmt: skip
    (home / "dagster_home").mkdir(parents=True)

    def meshctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "meshctl"), *args], cwd=mesh_copy, env=env, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip

    git(mesh_copy, "checkout", "-q", "main")
    base = meshctl("materialize", "--tenants", "2", "--orders-per-tenant", "300")
    assert base.returncode == 0, base.stdout + base.stderr
    main_warehouse = home / "warehouse.duckdb"
    main_attributed = attributed_orders(main_warehouse)
    before = sha256(main_warehouse)

    git(mesh_copy, "checkout", "-q", "feature/x")
    # A narrower attribution window (a dbt model), a filter that drops refunded orders (the
    # public sales/orders) and a re-tiered declaration of a product another domain reads.
    edit(mesh_copy / LAST_TOUCH, WINDOW, 'var("attribution_window_days", 1)')
    edit(mesh_copy / ORDERS, "from {{ ref('int_sales__priced_orders') }}",
         "from {{ ref('int_sales__priced_orders') }}\nwhere status <> 'refunded'")  # fmt: skip
    edit(mesh_copy / "domains/platform/mesh_platform/defs/products/defs.yaml", "tier: 1", "tier: 2")
    preview = meshctl("preview", "--base", "main", "--format", "json")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    report = json.loads(preview.stdout)

    # Exactly the edited assets changed; everything below them is downstream.
    assert report["changed"] == [
        "marketing/int_marketing__last_touch_orders", "platform/tenants", "sales/orders",
    ]  # fmt: skip
    assert {"marketing/revenue_attribution", "sales/daily_revenue", "finance/tenant_billing"} <= (
        set(report["downstream"])
    )
    assert "marketing/campaign_spend" not in report["downstream"]
    assert report["success"], report

    assert sha256(main_warehouse) == before, "the main warehouse changed"
    branch_warehouse = home / "branches" / "feature-x" / "warehouse.duckdb"
    assert attributed_orders(branch_warehouse) < main_attributed  # the branch's code ran there
    assert attributed_orders(main_warehouse) == main_attributed

    # The data diff, recomputed with pandas over both warehouses.
    diffs = {d["key"]: d for d in report["diffs"]}
    main_orders = frame(main_warehouse, "sales.orders")
    branch_orders = frame(branch_warehouse, "sales.orders")
    gone = main_orders[~main_orders["order_id"].isin(branch_orders["order_id"])]
    assert set(gone["status"]) == {"refunded"}
    orders = diffs["sales/orders"]
    assert (orders["base_rows"], orders["head_rows"]) == (len(main_orders), len(branch_orders))
    assert (orders["added"], orders["removed"], orders["changed"]) == (0, len(gone), 0)
    assert {t: c["removed"] for t, c in orders["by_tenant"].items()} == (
        gone.groupby("tenant_id").size().to_dict()
    )
    revenue = diffs["sales/daily_revenue"]  # downstream and public: diffed too
    main_daily = frame(main_warehouse, "sales.daily_revenue")
    branch_daily = frame(branch_warehouse, "sales.daily_revenue")
    merged = main_daily.merge(branch_daily, on=["tenant_id", "order_date"], how="left")
    assert revenue["row_key"] == ["tenant_id", "order_date"]
    assert revenue["removed"] == int(merged["orders_y"].isna().sum())
    refunds = next(c for c in revenue["columns"] if c["column"] == "refunds")
    assert refunds["head"]["sum"] == 0
    assert refunds["base"]["sum"] == pytest.approx(float(main_daily["refunds"].sum()))
    # A changed view is diffed too: its result before the rebuild (main's) against after.
    touches = diffs["marketing/int_marketing__last_touch_orders"]
    view = "marketing.int_marketing__last_touch_orders"
    main_touches, branch_touches = frame(main_warehouse, view), frame(branch_warehouse, view)
    kept = main_touches["order_id"].isin(branch_touches["order_id"])
    assert touches["row_key"] == ["order_id"]
    assert (touches["base_rows"], touches["head_rows"]) == (len(main_touches), len(branch_touches))
    assert touches["removed"] == int((~kept).sum()) > 0  # a narrower window: fewer orders
    assert touches["added"] == int(
        (~branch_touches["order_id"].isin(main_touches["order_id"])).sum()
    )
    with duckdb.connect(str(branch_warehouse), read_only=True) as con:  # no baseline left over
        names = con.execute("select table_name from information_schema.tables").fetchall()
    assert not [n for (n,) in names if n.endswith("__base")]
    markdown = meshctl("preview", "--base", "main", "--format", "markdown")
    assert "### Data diff (branch against main)" in markdown.stdout, markdown.stderr
    assert "| `sales/orders` |" in markdown.stdout and "## Data mesh impact" in markdown.stdout


def frame(warehouse: Path, table: str):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select * from {table}").df()
