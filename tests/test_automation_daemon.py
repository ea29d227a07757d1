"""With a real Dagster daemon: an upstream materialization in one location makes its
downstream products in other locations materialize through declarative automation."""

import os
import shutil
import time

import dagster as dg
import pytest

from tests.support.processes import BIN, background, run_meshctl, wait_for

ORDERS = dg.AssetKey(["sales", "orders"])
ATTRIBUTION = dg.AssetKey(["marketing", "revenue_attribution"])
BILLING = dg.AssetKey(["finance", "tenant_billing"])
SENSORS = {"platform_automation", "sales_automation", "marketing_automation", "finance_automation"}


def latest(instance: dg.DagsterInstance, key: dg.AssetKey):
    return instance.get_latest_materialization_event(key)


@pytest.mark.slow
def test_upstream_update_in_sales_triggers_marketing_and_finance(repo_root, tmp_path):
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(repo_root / "deployment" / "local" / "dagster.yaml", dagster_home)
    env = {
        **os.environ,
        "MESH_HOME": str(tmp_path / "mesh"),
        "DAGSTER_HOME": str(dagster_home),
        "MESH_AUTOMATION_INTERVAL_SECONDS": "1",
    }
    scale = ["--tenants", "2", "--orders-per-tenant", "200"]
    # The whole mesh, dbt builds included (one dbt invocation per location run).
    run_meshctl(["materialize", *scale], env, repo_root, timeout=900)

    with (
        dg.DagsterInstance.from_config(str(dagster_home)) as instance,
        background(
            [str(BIN / "dagster-daemon"), "run", "-w", str(repo_root / "workspace.yaml")],
            env, repo_root, tmp_path / "daemon.log",
        ),
    ):  # fmt: skip

        def sensors_ticked():
            states = instance.all_instigator_state()  # SENSORS names sensors only
            ticked = {
                s.instigator_name
                for s in states
                if instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=1)
            }
            return ticked >= SENSORS

        wait_for(sensors_ticked, 300, "the four automation sensors' first ticks")
        before = {key: latest(instance, key).run_id for key in (ATTRIBUTION, BILLING)}
        started = time.time()

        run_meshctl(["materialize", *scale, "--select", "sales/orders"], env, repo_root)
        orders_run = latest(instance, ORDERS).run_id

        for key in (ATTRIBUTION, BILLING):
            event = wait_for(
                lambda key=key: (e := latest(instance, key)) and e.run_id != before[key] and e,
                420,  # a chain of dbt runs: sales/daily_revenue, then marketing and finance
                f"{key.to_user_string()} to be materialized by automation",
            )
            run = instance.get_run_by_id(event.run_id)
            assert run.run_id != orders_run
            assert run.tags.get("dagster/from_automation_condition") == "true", run.tags
            assert event.timestamp > started
