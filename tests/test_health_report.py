"""The mesh health report on the materialized mesh, checked in a real headless browser
(Debian's chromium driven by playwright), and `meshctl health` from the command line."""

import os
import shutil
from pathlib import Path

import pytest
from mesh_tooling.health_report import collect_health, render_text, write_html
from platform_core.catalog import load_catalog
from platform_core.environment import current_environment
from platform_core.monitoring import (
    Alert,
    AlertKind,
    AlertRouter,
    LogChannel,
    StaticTenantDirectory,
    TenantProfile,
    throttle_tenant,
)
from platform_core.monitoring.cost import RunCost, current_month, record_cost
from platform_core.monitoring.storage import monitoring_warehouse

from tests.support.browser import LAUNCH_ARGS, ensure_chromium
from tests.support.processes import run_meshctl

TENANTS = StaticTenantDirectory(
    [
        TenantProfile("t001", ("ops@t001.example",), monthly_budget_usd=5.0, max_concurrent_runs=4),
        TenantProfile("t002", ("data@t002.example",), monthly_budget_usd=100.0),
        TenantProfile("t003", ("it@t003.example",), monthly_budget_usd=50.0),
    ]
)


@pytest.fixture(scope="module")
def health_pages(materialized_mesh, repo_root, tmp_path_factory):
    _, instance = materialized_mesh
    env = current_environment()
    warehouse = monitoring_warehouse(env, "monitoring")
    router = AlertRouter(warehouse, [LogChannel()])
    router.raise_incident(
        Alert(
            "check_failed:sales/orders:row_count_drop",
            AlertKind.CHECK_FAILED,
            "sales/orders: blocking check row_count_drop failed",
            ("team:sales",),
            "domain:sales",
        )
    )
    router.raise_incident(
        Alert(
            f"over_budget:t001:{current_month()}",
            AlertKind.OVER_BUDGET,
            "Tenant t001 is over its monthly budget",
            ("ops@t001.example",),
            "tenant:t001",
        )
    )
    with warehouse.session() as session:
        for run, location, tenant, usd in [
            ("r1", "platform", "t001", 6.0),
            ("r2", "sales", "t002", 85.0),
            ("r3", "sales", None, 3.25),
        ]:
            record_cost(
                session, RunCost(run, location, tenant, current_month(), 42.0, 600, 0.0, usd)
            )
    throttle_tenant(instance, TENANTS.get("t001"), throttled=True)
    health = collect_health(instance, load_catalog(repo_root), warehouse, TENANTS)
    folder = tmp_path_factory.mktemp("health")
    return health, write_html(health, folder)


def test_text_report_lists_domains_tenants_and_problems(health_pages):
    health, _ = health_pages
    text = render_text(health)
    for domain in ("platform", "sales", "marketing", "finance"):
        assert f"domain {domain}" in text
    assert "domain sales  [attention]" in text
    assert "! check_failed: sales/orders: blocking check row_count_drop failed" in text
    assert "tenant t001  [over budget]" in text and "$6.00 of $5.00 (120%)" in text
    assert "tenant t002  [attention]" in text  # 85% of budget: warning
    assert "tenant t003  [healthy]" in text
    sales = next(d for d in health.domains if d.name == "sales")
    assert sales.cost_usd == pytest.approx(88.25)
    assert {p.freshness for p in sales.products} == {"fresh"}
    assert next(t for t in health.tenants if t.id == "t001").pool_limit == 2


def test_health_page_in_a_headless_browser(health_pages, tmp_path):
    from playwright.sync_api import sync_playwright

    _, pages = health_pages
    index = pages[0]
    assert {p.name for p in pages} >= {"index.html", "domain-sales.html", "tenant-t001.html"}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(ensure_chromium()), args=LAUNCH_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(index.as_uri())
            assert page.title() == "Mesh health"
            sales = page.locator("#domain-sales")
            assert "attention" in sales.locator("h2 .pill").inner_text()
            health, _ = health_pages
            listed = next(d for d in health.domains if d.name == "sales").products
            assert sales.locator("tbody tr").count() == len(listed) >= 3
            assert "sales/orders: blocking check row_count_drop failed" in sales.inner_text()
            assert page.locator("#tenant-t001 h2 .pill").inner_text() == "over budget"
            bar = page.locator("#tenant-t001 .bar span")
            assert "over" in (bar.get_attribute("class") or "")
            # Red for over budget, as the eye expects.
            color = bar.evaluate("e => getComputedStyle(e).backgroundColor")
            assert color == "rgb(192, 38, 45)"
            shot = tmp_path / "health.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("MESH_SCREENSHOT_DIR"):
                shutil.copy(shot, Path(os.environ["MESH_SCREENSHOT_DIR"]) / "health.png")
            # The summary links to each domain's own page.
            page.click("nav.summary a[href='domain-finance.html']")
            assert page.locator("header h1").inner_text() == "Domain finance"
        finally:
            browser.close()


def test_meshctl_health_prints_and_writes_pages(repo_root, tmp_path):
    env = {
        **os.environ,
        "MESH_HOME": str(tmp_path / "mesh"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()
    result = run_meshctl(["health", "--output", str(tmp_path / "pages")], env, repo_root)
    assert "domain sales  [healthy]" in result.stdout
    assert "sales/orders" in result.stdout and "never" in result.stdout
    assert (tmp_path / "pages" / "index.html").is_file()
    assert (tmp_path / "pages" / "domain-finance.html").is_file()
