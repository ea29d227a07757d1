"""Monitoring with a real Dagster daemon, real runs and real channels (a local SMTP server and
a local HTTP endpoint standing in for Slack's webhook): each failure is injected for real and
we assert who was alerted, with what, exactly once, plus the hold and the release.

The tests share one daemon and run in file order (a scenario per test)."""

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest
from platform_core.monitoring.incidents import IncidentStore
from platform_core.warehouse.duckdb import DuckDBWarehouse
from pytest_httpserver import HTTPServer

from tests.support.mail import Inbox, smtp_server
from tests.support.monitoring_mesh import write_monitoring_mesh
from tests.support.processes import BIN, background, run_meshctl, wait_for
from tests.support.ticks import wait_for_ticks

pytestmark = pytest.mark.slow

SUMMARY = dg.AssetKey(["insight", "summary"])
PRICES = dg.AssetKey(["shop", "prices"])


@dataclass
class Mesh:
    root: Path
    home: Path
    env: dict[str, str]
    instance: dg.DagsterInstance
    slack: HTTPServer
    inbox: Inbox
    knobs: dict = field(default_factory=dict)

    def set_knobs(self, **products: dict) -> None:
        self.knobs.update(products)
        (self.home / "knobs.json").write_text(json.dumps(self.knobs))

    def launch(self, request_id: str, assets: list[str], tags: dict | None = None) -> None:
        with (self.home / "requests.jsonl").open("a") as requests:
            requests.write(json.dumps({"id": request_id, "assets": assets, "tags": tags or {}}))
            requests.write("\n")

    def runs(self, request_id: str) -> list[dg.DagsterRun]:
        """The run launched for `request_id` and its automatic retries, oldest first."""
        first = self.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": request_id}))
        if not first:
            return []
        group = self.instance.get_run_group(first[0].run_id)
        return sorted(group[1], key=lambda r: int(r.tags.get("dagster/retry_number", "0")))

    def finished(self, request_id: str, count: int) -> list[dg.DagsterRun] | None:
        runs = self.runs(request_id)
        return runs if len(runs) == count and all(r.is_finished for r in runs) else None

    def deliveries(self, incident_prefix: str, state: str | None = None) -> list[dict]:
        with DuckDBWarehouse(path=str(self.home / "mesh_monitoring.duckdb")).session() as session:
            rows = IncidentStore(session).deliveries()
        return [
            d
            for d in rows
            if d["incident_key"].startswith(incident_prefix)
            and (state is None or d["state"] == state)
        ]

    def slack_texts(self, needle: str) -> list[str]:
        texts = [json.loads(request.get_data())["text"] for request, _ in self.slack.log]
        return [t for t in texts if needle in t]

    def mails_to(self, address: str, needle: str) -> list[str]:
        return [body for to, body in self.inbox.messages if address in to and needle in body]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, make_httpserver: HTTPServer) -> Iterator[Mesh]:
    root = tmp_path_factory.mktemp("monitoring-mesh")
    workspace = write_monitoring_mesh(root)
    home, dagster_home = root / ".mesh", root / "dagster_home"
    home.mkdir()
    dagster_home.mkdir()
    # The local instance as `./mesh up` ships it (one run at a time, retries, run monitoring
    # every 30 s): the guarantees are observed with the shipped settings, not sped-up ones.
    shutil.copy(Path(__file__).parents[1] / "deployment/local/dagster.yaml", dagster_home)

    make_httpserver.expect_request("/slack-webhook", method="POST").respond_with_data("ok")
    with smtp_server() as (smtp_port, inbox):
        env = {
            **os.environ,
            "MESH_HOME": str(home),
            "DAGSTER_HOME": str(dagster_home),
            "MESH_AUTOMATION_INTERVAL_SECONDS": "1",
            "MESH_SLACK_WEBHOOK_URL": make_httpserver.url_for("/slack-webhook"),
            "MESH_SMTP_HOST": "127.0.0.1",
            "MESH_SMTP_PORT": str(smtp_port),
            "MESH_ALERT_EMAIL_FROM": "mesh@platform.example",
            "MESH_ALERT_TEAM_EMAIL_DOMAIN": "example.com",
            "MESH_DAGSTER_URL": "http://dagster.test",
        }
        with (
            dg.DagsterInstance.from_config(str(dagster_home)) as instance,
            background(
                [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
                env, root, root / "daemon.log",
            ),
        ):  # fmt: skip
            state = Mesh(root, home, env, instance, make_httpserver, inbox)
            state.set_knobs(orders={"rows": 100}, payments={}, rates={"rows": 100})
            state.launch("setup", ["shop/orders", "shop/payments", "shop/rates"])
            wait_for(lambda: state.finished("setup", 1), 240, "the setup run")
            assert state.runs("setup")[0].status == dg.DagsterRunStatus.SUCCESS
            # insight/summary reacts to shop/orders through automation (another location).
            wait_for(lambda: instance.get_latest_materialization_event(SUMMARY), 120, "summary")
            yield state


def test_failing_asset_alerts_its_owners_once_after_the_retry(mesh: Mesh):
    mesh.set_knobs(payments={"fail": True})
    mesh.launch("pay-fail", ["shop/payments"])

    runs = wait_for(lambda: mesh.finished("pay-fail", 2), 240, "the run and its one retry")
    assert [r.status for r in runs] == [dg.DagsterRunStatus.FAILURE] * 2
    assert runs[1].tags["dagster/retry_number"] == "1"
    alerts = wait_for(lambda: mesh.deliveries("run_failure:shop:shop/payments"), 60, "the alert")
    # The failure sensor and the monitoring sensor (which resolves) have looked twice more.
    wait_for_ticks(mesh.instance, ["shop_run_failure_alerts", "shop_monitoring"])
    alerts = mesh.deliveries("run_failure:shop:shop/payments")
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert alert["recipients"] == "lead@shop.example,team:payments"
    assert alert["channels"] == "log,slack,email"
    message = alert["message"]
    assert "Failing step: shop__payments" in message
    assert "payments source unreachable (injected failure)" in message
    assert f"http://dagster.test/runs/{runs[1].run_id}" in message  # the last try's run
    assert "Attempt: 2 (retries exhausted)" in message

    assert len(mesh.slack_texts("shop/payments: run failed")) == 1
    assert len(mesh.mails_to("lead@shop.example", "shop/payments: run failed")) == 1
    assert len(mesh.mails_to("payments-alerts@example.com", "shop/payments: run failed")) == 1
    # Nobody else was paged.
    assert not [m for m in mesh.inbox.messages if "ops@acme.example" in m[0]]

    mesh.set_knobs(payments={})
    mesh.launch("pay-fixed", ["shop/payments"])
    resolved = wait_for(
        lambda: mesh.deliveries("run_failure:shop:shop/payments", "resolved"), 180, "resolved"
    )
    assert len(resolved) == 1
    assert len(mesh.slack_texts("shop/payments: run failed")) == 2  # the alert + resolved
    assert ":white_check_mark:" in mesh.slack_texts("shop/payments: run failed")[1]


def test_shrinking_table_holds_downstream_until_waived(mesh: Mesh):
    summary_before = mesh.instance.get_latest_materialization_event(SUMMARY).run_id
    mesh.set_knobs(orders={"rows": 40})
    mesh.launch("shrink", ["shop/orders"])
    wait_for(lambda: mesh.finished("shrink", 2), 240, "the shrinking run and its retry")

    key = "check_failed:shop/orders:row_count_drop"
    wait_for(lambda: mesh.deliveries(key), 60, "the data quality alert")
    # insight's automation has evaluated twice since the alert: summary must stay held.
    wait_for_ticks(mesh.instance, ["insight_automation", "shop_monitoring"])
    assert mesh.instance.get_latest_materialization_event(SUMMARY).run_id == summary_before
    alerts = mesh.deliveries(key)
    assert len(alerts) == 1
    assert alerts[0]["recipients"] == "team:shop"
    assert "40 rows is 40% of the previous 100" in alerts[0]["message"]
    assert "meshctl waive shop/orders row_count_drop" in alerts[0]["message"]
    # The run failed only on the blocking check: no separate "run failed" alert.
    assert not mesh.deliveries("run_failure:shop:shop/orders")

    run_meshctl(
        ["waive", "shop/orders", "row_count_drop", "--reason", "tenant t9 offboarded", "--by", "ana"],
        mesh.env, mesh.root,
    )  # fmt: skip
    resolved = wait_for(lambda: mesh.deliveries(key, "resolved"), 60, "resolved after waiver")
    assert "waived by ana: tenant t9 offboarded" in resolved[0]["message"]
    released = wait_for(
        lambda: (
            (e := mesh.instance.get_latest_materialization_event(SUMMARY)).run_id != summary_before
            and e
        ),
        120,
        "summary to run once released",
    )
    run = mesh.instance.get_run_by_id(released.run_id)
    assert run.tags.get("dagster/from_automation_condition") == "true"


def test_slow_asset_alerts_long_running_then_is_stopped_at_its_hard_limit(mesh: Mesh):
    mesh.set_knobs(slow={"sleep": 120})
    mesh.launch("slow", ["shop/slow"], tags={"dagster/max_retries": "0"})

    long_running = wait_for(lambda: mesh.deliveries("long_running:shop:"), 120, "long-running")
    # Launched without a limit; the monitoring sensor gives it shop/slow's own 15 s.
    wait_for(lambda: mesh.runs("slow")[0].tags.get("dagster/max_runtime") == "15", 60, "the limit")
    stopped = wait_for(lambda: mesh.finished("slow", 1), 180, "run monitoring to stop the run")
    # Run monitoring cancels it; it ends FAILED or CANCELED depending on how the worker winds down.
    assert stopped[0].status in {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    assert len(mesh.runs("slow")) == 1  # dagster/max_retries=0 on the run: no retry
    alerts = wait_for(lambda: mesh.deliveries("max_runtime:shop:shop/slow"), 60, "hard-limit alert")
    wait_for_ticks(mesh.instance, ["shop_run_failure_alerts", "shop_monitoring"])
    assert len(mesh.deliveries("max_runtime:shop:shop/slow")) == 1
    assert "maximum runtime of 15 seconds" in alerts[0]["message"]
    assert alerts[0]["recipients"] == "team:shop"
    wait_for(lambda: mesh.deliveries("long_running:shop:", "resolved"), 60, "long-running resolved")
    assert len(mesh.deliveries("long_running:shop:", "open")) == 1
    assert "Expected: 3 s" in long_running[0]["message"]


def test_stale_product_alerts_and_reruns_once_its_upstream_is_healthy(mesh: Mesh):
    mesh.set_knobs(rates={"rows": 100}, prices={"rows": 10})
    mesh.launch("prices", ["shop/rates", "shop/prices"])
    wait_for(lambda: mesh.finished("prices", 1), 240, "prices to be built")
    # Its upstream turns unhealthy (a blocking check fails) before prices goes stale.
    mesh.set_knobs(rates={"rows": 10})
    mesh.launch("rates-shrink", ["shop/rates"], tags={"dagster/max_retries": "0"})
    wait_for(lambda: mesh.finished("rates-shrink", 1), 240, "rates to shrink")

    key = "stale:shop/prices"
    stale = wait_for(lambda: mesh.deliveries(key), 120, "the stale alert")
    assert stale[0]["recipients"] == "team:pricing"
    assert "waiting for shop/rates" in stale[0]["message"]
    wait_for_ticks(mesh.instance, "shop_monitoring")  # it would request the re-run
    freshness_runs = dg.RunsFilter(tags={"mesh/trigger": "freshness"})
    assert not mesh.instance.get_runs(filters=freshness_runs)  # held: upstream unhealthy
    assert len(mesh.deliveries(key)) == 1

    mesh.set_knobs(rates={"rows": 100})
    mesh.launch("rates-fixed", ["shop/rates"])
    resolved = wait_for(lambda: mesh.deliveries(key, "resolved"), 180, "prices fresh again")
    assert "fresh again" in resolved[0]["message"]
    reruns = wait_for(
        lambda: (
            (runs := mesh.instance.get_runs(filters=freshness_runs))
            and all(r.is_finished for r in runs)
            and runs
        ),
        120,
        "the freshness re-run to finish",
    )
    assert len(reruns) == 1
    assert reruns[0].status == dg.DagsterRunStatus.SUCCESS
    assert reruns[0].asset_selection == {PRICES}
    assert len(mesh.deliveries(key, "open")) == 1


def test_tenant_over_budget_is_alerted_and_throttled_alone(mesh: Mesh):
    mesh.set_knobs(usage={"rows": 5})
    mesh.launch("acme-usage", ["shop/usage"], tags={"mesh/tenant": "acme"})
    mesh.launch("globex-usage", ["shop/usage"], tags={"mesh/tenant": "globex"})
    for request in ("acme-usage", "globex-usage"):
        wait_for(lambda request=request: mesh.finished(request, 1), 240, request)

    alerts = wait_for(lambda: mesh.deliveries("over_budget:acme:"), 120, "over-budget alert")
    wait_for_ticks(mesh.instance, "shop_monitoring")
    assert len(mesh.deliveries("over_budget:acme:")) == 1
    assert alerts[0]["recipients"] == "ops@acme.example"
    assert "lowered to 2 (pool tenant_acme)" in alerts[0]["message"]
    assert len(mesh.mails_to("ops@acme.example", "over its monthly budget")) == 1
    assert not mesh.deliveries("over_budget:globex:")
    assert not mesh.deliveries("budget_warning:globex:")

    # acme's runs from now on carry mesh/throttled (the OSS queue's throttled limit; the local
    # instance runs one at a time anyway, tests/test_oss_stack.py shows the effect).
    assert mesh.instance.get_dynamic_partitions("mesh_throttled_tenants") == ["acme"]
    storage = mesh.instance.event_log_storage
    assert storage.get_concurrency_info("tenant_acme").slot_count == 2
    # globex's run is costed on its own tick: its pool is set to its normal limit, not lowered.
    wait_for(
        lambda: storage.get_concurrency_info("tenant_globex").slot_count == 4, 60, "globex pool"
    )
    assert storage.get_concurrency_info("tenant_acme").slot_count == 2

    acme_run = wait_for(
        lambda: "mesh/cost_usd" in (r := mesh.runs("acme-usage")[0]).tags and r, 60, "cost tags"
    )
    assert acme_run.tags["mesh/rows_processed"] == "5"
    assert float(acme_run.tags["mesh/compute_seconds"]) > 0
    assert float(acme_run.tags["mesh/cost_usd"]) > 0.000001
