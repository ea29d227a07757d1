"""Monitoring parts on real servers and a real warehouse: channel delivery (a local SMTP server,
a local HTTP endpoint for Slack), incident de-duplication, routing, budgets and throttling."""

import json
import time
from pathlib import Path

import dagster as dg
import pytest
from platform_core.declaration_yaml import data_products_document
from platform_core.environment import current_environment
from platform_core.errors import ConfigurationError, ProductDeclarationError
from platform_core.monitoring import (
    Alert,
    AlertKind,
    AlertRouter,
    EmailChannel,
    IncidentStore,
    LocationMonitor,
    LogChannel,
    MonitoredAsset,
    SlackApiChannel,
    SlackWebhookChannel,
    StaticTenantDirectory,
    TenantProfile,
    channels_from_env,
)
from platform_core.monitoring.budgets import check_budgets
from platform_core.monitoring.cost import RunCost, current_month, record_cost
from platform_core.monitoring.run_failures import alert_run_failure
from platform_core.products.checks import evaluate_null_fraction
from platform_core.products.declaration import load_domain_products
from platform_core.warehouse.duckdb import DuckDBWarehouse
from pytest_httpserver import HTTPServer

from tests.support.mail import smtp_server

ALERT = Alert(
    incident_key="run_failure:sales:sales/orders",
    kind=AlertKind.RUN_FAILURE,
    title="sales/orders: run failed in sales",
    recipients=("team:sales", "ana@shop.example"),
    scope="domain:sales",
    link="http://dagster.test/runs/abc",
    details={"Failing step": "sales__orders", "Error": "boom"},
)


@pytest.fixture
def smtp_inbox():
    with smtp_server() as (port, inbox):
        yield port, inbox


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


def test_slack_webhook_gets_the_alert_text(httpserver: HTTPServer):
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    SlackWebhookChannel(httpserver.url_for("/hook")).deliver(ALERT)
    text = json.loads(httpserver.log[0][0].get_data())["text"]
    assert "*sales/orders: run failed in sales*" in text
    assert "`team:sales`" in text and "*Failing step:* sales__orders" in text
    assert "<http://dagster.test/runs/abc|Open in Dagster>" in text


def test_slack_api_through_dagster_slack(httpserver: HTTPServer):
    httpserver.expect_oneshot_request("/api/chat.postMessage", method="POST").respond_with_json(
        {"ok": True, "channel": "C1", "ts": "1.0"}
    )
    SlackApiChannel("xoxb-test", "#data-alerts", httpserver.url_for("/api/")).deliver(ALERT)
    request = httpserver.log[0][0]
    assert request.headers["Authorization"] == "Bearer xoxb-test"
    body = request.get_data(as_text=True)
    assert "data-alerts" in body and "sales%2Forders" in body.replace("/", "%2F")


def test_slack_refusal_is_an_error(httpserver: HTTPServer):
    httpserver.expect_oneshot_request("/hook").respond_with_data("no_service", status=404)
    with pytest.raises(RuntimeError, match="404"):
        SlackWebhookChannel(httpserver.url_for("/hook")).deliver(ALERT)


def test_email_goes_to_owner_addresses_and_team_aliases(smtp_inbox):
    port, inbox = smtp_inbox
    channel = EmailChannel("127.0.0.1", port, "mesh@platform.example", team_domain="example.com")
    channel.deliver(ALERT)
    [(to, body)] = inbox.messages
    assert sorted(to) == ["ana@shop.example", "sales-alerts@example.com"]
    assert "Subject: [mesh alert] sales/orders: run failed in sales" in body
    assert "Failing step: sales__orders" in body and "Link: http://dagster.test/runs/abc" in body


def test_channels_from_environment():
    assert [c.name for c in channels_from_env({})] == ["log"]
    names = [
        c.name
        for c in channels_from_env(
            {
                "MESH_SLACK_WEBHOOK_URL": "http://127.0.0.1:1/hook",
                "MESH_SMTP_HOST": "127.0.0.1",
                "MESH_ALERT_EMAIL_FROM": "mesh@platform.example",
            }
        )
    ]
    assert names == ["log", "slack", "email"]
    with pytest.raises(ConfigurationError, match="MESH_ALERT_EMAIL_FROM"):
        channels_from_env({"MESH_SMTP_HOST": "127.0.0.1"})
    with pytest.raises(ConfigurationError, match="MESH_SMTP_PORT='twenty-five'"):
        channels_from_env(
            {
                "MESH_SMTP_HOST": "h",
                "MESH_SMTP_PORT": "twenty-five",
                "MESH_ALERT_EMAIL_FROM": "a@b.example",
            }
        )


def test_an_open_incident_alerts_once_and_resolves_once(warehouse, httpserver: HTTPServer):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    router = AlertRouter(
        warehouse, [LogChannel(), SlackWebhookChannel(httpserver.url_for("/hook"))]
    )
    assert router.raise_incident(ALERT) is True
    assert router.raise_incident(ALERT) is False  # the same open incident: no second message
    assert [i.key for i in router.open_incidents()] == [ALERT.incident_key]
    assert router.resolve_incident(ALERT.incident_key, "materialized since") is True
    assert router.resolve_incident(ALERT.incident_key) is False
    with warehouse.session() as session:
        deliveries = IncidentStore(session).deliveries(ALERT.incident_key)
    assert [(d["state"], d["channels"]) for d in deliveries] == [
        ("open", "log,slack"),
        ("resolved", "log,slack"),
    ]
    assert "materialized since" in deliveries[1]["message"]
    assert len(httpserver.log) == 2
    # Reopening after resolution is a new incident: it alerts again.
    assert router.raise_incident(ALERT) is True


def test_a_broken_channel_does_not_silence_the_others(warehouse, httpserver: HTTPServer):
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    router = AlertRouter(
        warehouse, [SlackWebhookChannel(httpserver.url_for("/hook")), LogChannel()]
    )
    router.raise_incident(ALERT)
    with warehouse.session() as session:
        [delivery] = IncidentStore(session).deliveries()
    assert delivery["channels"] == "slack:failed,log"


def test_text_with_quotes_round_trips_through_sql(warehouse):
    tricky = Alert(
        "k:it's",
        AlertKind.PLATFORM,
        "O'Brien's table; drop table x --",
        ("a@b.example",),
        "domain:x",
    )
    router = AlertRouter(warehouse, [])
    router.raise_incident(tricky)
    assert router.open_incidents()[0].title == tricky.title


def _monitor(warehouse, tenants, channels=None) -> LocationMonitor:
    return LocationMonitor(
        location="shop",
        assets={
            dg.AssetKey(["shop", "orders"]): MonitoredAsset(
                dg.AssetKey(["shop", "orders"]), ("team:shop",)
            )
        },
        mesh_assets={},
        tenants=tenants,
        env=current_environment(),
        warehouse=warehouse,
        channels=channels if channels is not None else [LogChannel()],
    )


def test_a_tenant_run_failure_goes_to_the_tenant_contacts_only(warehouse):
    tenants = StaticTenantDirectory([TenantProfile("acme", ("ops@acme.example",))])
    monitor = _monitor(warehouse, tenants)
    run = dg.DagsterRun(job_name="shop_products", run_id="r1", tags={"mesh/tenant": "acme"})
    assert alert_run_failure(monitor, run, "failed", [("shop__orders", "boom")])
    [incident] = monitor.router().open_incidents()
    assert incident.recipients == ("ops@acme.example",)
    assert incident.scope == "tenant:acme"
    domain_run = dg.DagsterRun(job_name="shop_products", run_id="r2")
    alert_run_failure(monitor, domain_run, "failed", [("shop__orders", "boom")])
    # Same asset, same open incident: no second alert (and never to the other audience).
    assert len(monitor.router().open_incidents()) == 1


def _spend(warehouse, tenant: str, usd: float) -> None:
    with warehouse.session() as session:
        record_cost(
            session,
            RunCost(f"run-{tenant}-{usd}", "shop", tenant, current_month(), 60.0, 10, 0.0, usd),
        )


def test_budget_warning_at_80_percent_then_over_budget_throttles_that_tenant(warehouse, tmp_path):
    acme = TenantProfile(
        "acme", ("ops@acme.example",), monthly_budget_usd=10.0, max_concurrent_runs=4
    )
    globex = TenantProfile("globex", ("data@globex.example",), 10.0, max_concurrent_runs=4)
    monitor = _monitor(warehouse, StaticTenantDirectory([acme, globex]))
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        _spend(warehouse, "acme", 8.5)
        _spend(warehouse, "globex", 1.0)
        check_budgets(monitor, instance, {"acme", "globex"}, [])
        open_ = monitor.router().open_incidents()
        assert [(i.kind, i.recipients) for i in open_] == [
            ("budget_warning", ("ops@acme.example",))
        ]
        assert "85%" in open_[0].title
        storage = instance.event_log_storage
        assert storage.get_concurrency_info("tenant_acme").slot_count == 4  # not throttled yet

        _spend(warehouse, "acme", 2.0)  # 10.50 of 10.00
        check_budgets(monitor, instance, {"acme"}, monitor.router().open_incidents())
        kinds = sorted(i.kind for i in monitor.router().open_incidents())
        assert kinds == ["budget_warning", "over_budget"]
        assert storage.get_concurrency_info("tenant_acme").slot_count == 2
        assert storage.get_concurrency_info("tenant_globex").slot_count == 4

        # The budget is raised: both incidents resolve and the pool limit is restored.
        raised = TenantProfile("acme", ("ops@acme.example",), 100.0, max_concurrent_runs=4)
        monitor.tenants = StaticTenantDirectory([raised, globex])
        check_budgets(monitor, instance, set(), monitor.router().open_incidents())
        assert monitor.router().open_incidents() == []
        assert storage.get_concurrency_info("tenant_acme").slot_count == 4


def _products_yaml(tmp_path: Path, sla: str, column: str = "{name: id, type: integer}") -> Path:
    path = tmp_path / "defs.yaml"
    path.write_text(
        data_products_document(
            "domain: shop\nproducts:\n  - name: orders\n    description: Orders.\n"
            f"    owners: [team:shop]\n    visibility: public\n    sla: {sla}\n"
            f"    columns:\n      - {column}\n"
        )
    )
    return path


def test_runtime_sla_and_freshness_floor_are_validated(tmp_path):
    with pytest.raises(ProductDeclarationError, match=r"expected_runtime must be shorter"):
        load_domain_products(_products_yaml(tmp_path, "{expected_runtime: 2h, max_runtime: 1h}"))
    with pytest.raises(ProductDeclarationError, match=r"fail_after must be at least 1m"):
        load_domain_products(_products_yaml(tmp_path, "{fail_after: 30s}"))
    product = load_domain_products(
        _products_yaml(tmp_path, "{expected_runtime: 5m, max_runtime: 20m}")
    ).products[0]
    assert (product.sla.expected_runtime_seconds, product.sla.max_runtime_seconds) == (300, 1200)


def test_null_fraction_check_on_real_data(tmp_path, warehouse):
    product = load_domain_products(
        _products_yaml(tmp_path, "{}", "{name: email, type: string, max_null_fraction: 0.25}")
    ).products[0]
    with warehouse.session() as session:
        session.replace_table(
            "shop", "orders", "select * from (values ('a'), (null), ('c'), ('d')) t(email)"
        )
        assert evaluate_null_fraction(session, product).passed  # 25% is the limit
        session.replace_table(
            "shop", "orders", "select * from (values ('a'), (null), (null)) t(email)"
        )
        result = evaluate_null_fraction(session, product)
    assert not result.passed
    assert "email" in result.description and "66.7% > 25.0%" in result.description


def test_incident_timestamps_are_recorded(warehouse):
    router = AlertRouter(warehouse, [])
    before = time.time()
    router.raise_incident(ALERT)
    [incident] = router.open_incidents()
    assert before <= incident.opened_at <= time.time()


def test_a_run_stopped_at_its_hard_limit_says_so(warehouse):
    monitor = _monitor(warehouse, StaticTenantDirectory())
    run = dg.DagsterRun(job_name="shop_products", run_id="r9")
    interrupted = [("shop__orders", "DagsterExecutionInterruptedError")]
    alert_run_failure(monitor, run, "Exceeded maximum runtime of 15 seconds.", interrupted)
    [incident] = monitor.router().open_incidents()
    assert incident.kind == "max_runtime"
    assert incident.title == "shop/orders: run stopped at its hard time limit"
    with warehouse.session() as session:
        [delivery] = IncidentStore(session).deliveries()
    assert "Error: Exceeded maximum runtime of 15 seconds." in delivery["message"]
    assert "Failing step: shop__orders" in delivery["message"]
