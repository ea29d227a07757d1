"""The OSS topology serving the mesh (tests/support/oss_stack.py: PostgreSQL storage from the
shipped deployment/dagster.yaml, the daemon, the webserver, a code server per location, the
warehouse on fakesnow, a Kafka-protocol broker) and the daemon's guarantees observed on it:
queue limits per code location, per tenant and per stream, a failed tenant run retried once then
one alert to its owners with the root cause, over-budget tenants throttled behind their limit
while another tenant is not, a stuck stream run stopped by run monitoring at its
dagster/max_runtime and its offset range planned again by the stream's sensor.

Runs are held inside their execution, deterministically: a tenant's by locking its source tables
in PostgreSQL (the sync blocks on its first read), a stream's by holding its landed table in the
warehouse (`OssStack.hold_table`); releasing lets them finish. So a limit is seen reached (runs
STARTED together while another waits QUEUED) and never exceeded (the run records' start/end
times). The tests share one stack and run in file order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import adbc_driver_postgresql.dbapi as adbc
import dagster as dg
import pytest
import yaml
from mesh_tooling.sample.clicks import produce_clicks
from platform_core.monitoring.tenants import THROTTLED_TAG, THROTTLED_TENANTS
from platform_core.streaming.sensor import RANGES_TAG, STREAM_TAG
from platform_core.tenancy.registry import load_registry_file
from platform_core.tenancy.scheduling import run_tags

from tests.support.oss_stack import OssStack
from tests.support.processes import wait_for
from tests.support.ticks import wait_for_ticks

pytestmark = pytest.mark.slow

TENANTS = ["t001", "t002", "t003", "t004", "t005", "t006"]
FAILING = "t003"  # its database refuses connections in the failure scenario
OVER_BUDGET = ["t005", "t006"]  # their first sync costs more than their budget
LOCATION = "tenant_sync"
JOB = "tenant_sync_job"
RUNS_PER_LOCATION, RUNS_PER_TENANT, THROTTLED_RUNS = 4, 1, 1  # as deployment/dagster.yaml
RUNS_PER_STREAM = 2  # as deployment/dagster.yaml
STREAM, TOPIC, SENSOR = "clicks", "clicks", "clicks_stream_0"  # marketing's click-stream
# The stream's knobs on this deployment (messages, seconds). The timeout is above what a
# micro-batch run takes on a loaded 2-core machine (start included), so only held runs hit it.
BATCH, RUN_TIMEOUT = 50, 45
SECOND = 10 * BATCH  # over 4 partitions: 3 waves, more runs than the stream's limit


@pytest.fixture(scope="session")
def oss_scenario() -> dict:
    return {
        "tenants": TENANTS,
        "owners": {t: ["team:platform", f"ops@{t}.example.com"] for t in TENANTS},
        "budgets": {**{t: 1000.0 for t in TENANTS}, **{t: 0.000001 for t in OVER_BUDGET}},
        # Set in marketing's environment, as a deployment tunes a stream (knobs_from_env).
        "environment": {
            "MESH_STREAM_CLICKS_MAX_BATCH_SIZE": str(BATCH),
            "MESH_STREAM_CLICKS_RUN_TIMEOUT_SECONDS": str(RUN_TIMEOUT),
            "MESH_STREAM_CLICKS_TICK_INTERVAL_SECONDS": "2",
        },
    }


def shipped_limits(stack: OssStack) -> dict[str, int]:
    config = yaml.safe_load((stack.repo / "deployment" / "dagster.yaml").read_text())
    limits = config["run_coordinator"]["config"]["tag_concurrency_limits"]
    return {limit["key"]: limit["limit"] for limit in limits}


def tenant_tags(stack: OssStack, tenant: str) -> dict[str, str]:
    """What the tenant_sync_schedules sensor puts on a tenant's run (the product's helpers)."""
    from platform_core.monitoring import throttle_tags

    entry = load_registry_file(stack.registry_file, stack.env).get(tenant)
    return {"dagster/partition": tenant, **run_tags(entry), **throttle_tags(stack.instance, tenant)}


@contextmanager
def held(stack: OssStack, tenants: list[str]) -> Iterator[dict]:
    """Lock each tenant's source tables: its sync starts, then blocks on its first read.
    Yields {tenant: release()}."""
    connections = {}
    for tenant in tenants:
        con = adbc.connect(stack.postgres.url(f"tenant_{tenant}"))  # superuser, in a transaction
        with con.cursor() as cur:
            cur.execute("lock table customers, products, orders in access exclusive mode")
        connections[tenant] = con

    def release(tenant: str) -> None:
        con = connections.pop(tenant, None)
        if con is not None:
            con.rollback()
            con.close()

    try:
        yield {t: (lambda t=t: release(t)) for t in tenants}
    finally:
        for tenant in list(connections):
            release(tenant)


def statuses(stack: OssStack, run_ids: list[str]) -> dict[str, dg.DagsterRunStatus]:
    return {r.run_id: r.status for r in stack.instance.get_runs(dg.RunsFilter(run_ids=run_ids))}


def max_overlap(records: list[dg.RunRecord]) -> int:
    """Most runs ever running at once, from their start and end times."""
    events = sorted(
        [(r.start_time, 1) for r in records] + [(r.end_time, -1) for r in records],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_the_stack_runs_on_the_shipped_instance(oss_stack: OssStack):
    instance = oss_stack.instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert shipped_limits(oss_stack) == {
        "dagster/code_location": RUNS_PER_LOCATION,
        "mesh/tenant": RUNS_PER_TENANT,
        "mesh/stream": RUNS_PER_STREAM,
        THROTTLED_TAG: THROTTLED_RUNS,
    }
    # The daemon's sensors tick on this instance (the tenant registry sensor adds partitions).
    wait_for(
        lambda: set(instance.get_dynamic_partitions("tenants")) == set(TENANTS),
        120,
        "the registry sensor to add the tenants' partitions",
    )


def test_runs_are_concurrent_within_the_location_and_tenant_limits(oss_stack: OssStack):
    stack = oss_stack
    first = ["t001", "t002", "t004", "t005"]
    with held(stack, [*first, "t006"]) as release:
        ids = {t: stack.launch(LOCATION, JOB, tenant_tags(stack, t)) for t in first}
        ids["t006"] = stack.launch(LOCATION, JOB, tenant_tags(stack, "t006"))
        ids["t001-again"] = stack.launch(LOCATION, JOB, tenant_tags(stack, "t001"))
        run_ids = list(ids.values())

        # The location limit is reached: four runs STARTED (each blocked on its lock), the
        # two others wait in the queue.
        def four_started():
            now = statuses(stack, run_ids)
            started = [r for r, s in now.items() if s == dg.DagsterRunStatus.STARTED]
            return len(started) == RUNS_PER_LOCATION and now

        now = wait_for(four_started, 180, "four tenant runs to start")
        assert now[ids["t006"]] == now[ids["t001-again"]] == dg.DagsterRunStatus.QUEUED
        # A slot frees up: the queue skips t001's second run (its tenant has one running) and
        # starts t006, which was queued after it.
        release["t002"]()
        wait_for(
            lambda: statuses(stack, [ids["t006"]])[ids["t006"]] == dg.DagsterRunStatus.STARTED,
            120,
            "t006 to take the free slot",
        )
        assert statuses(stack, [ids["t001-again"]])[ids["t001-again"]] == dg.DagsterRunStatus.QUEUED
        for tenant in [*first, "t006"]:
            release[tenant]()
    records = stack.wait_finished(run_ids)
    assert {r.dagster_run.status for r in records} == {dg.DagsterRunStatus.SUCCESS}, [
        (r.dagster_run.tags.get("dagster/partition"), r.dagster_run.status) for r in records
    ]
    # Never more running than the limits, from the run records' start and end times.
    assert max_overlap(records) == RUNS_PER_LOCATION
    t001 = [r for r in records if r.dagster_run.tags["mesh/tenant"] == "t001"]
    assert len(t001) == 2 and max_overlap(t001) == RUNS_PER_TENANT
    assert all(r.dagster_run.tags["dagster/code_location"] == LOCATION for r in records)


def test_a_failed_tenant_run_is_retried_once_then_its_owners_get_one_alert(oss_stack: OssStack):
    stack = oss_stack
    admin = stack.postgres.url()
    with adbc.connect(admin, autocommit=True) as con, con.cursor() as cur:
        cur.execute(f"alter database tenant_{FAILING} with allow_connections false")
    try:
        first = stack.launch(LOCATION, JOB, tenant_tags(stack, FAILING))
        runs = wait_for(
            lambda: (
                len(group := stack.retries_of(first)) == 2
                and all(r.is_finished for r in group)
                and group
            ),
            240,
            "the failed run and the daemon's one retry",
        )
    finally:
        with adbc.connect(admin, autocommit=True) as con, con.cursor() as cur:
            cur.execute(f"alter database tenant_{FAILING} with allow_connections true")
    assert [r.status for r in runs] == [dg.DagsterRunStatus.FAILURE] * 2
    assert runs[1].tags["dagster/retry_number"] == "1"
    assert runs[1].tags["dagster/partition"] == FAILING

    owner = f"ops@{FAILING}.example.com"
    title = f"tenant {FAILING}: sync failed after 2 attempt(s)"
    try:
        wait_for(lambda: stack.mails(title), 120, "the owners' alert")
    except TimeoutError:
        raise AssertionError(f"no alert; mails: {stack.mails('')}") from None
    # Both failure sensors of the location have looked at the retry's failure twice since.
    wait_for_ticks(stack.instance, ["tenant_sync_failure_alerts", "tenant_sync_run_failure_alerts"])
    mails = stack.mails(f"tenant {FAILING}: sync failed")
    assert len(mails) == 1, [body[:200] for _, body in mails]
    recipients, body = mails[0]
    assert owner in recipients and "platform-alerts@example.com" in recipients
    # The root cause, from the failed step, and the fix.
    assert f"Tenant '{FAILING}': its database is unreachable" in body
    assert runs[1].run_id in body
    assert "meshctl tenants backfill-failed" in body
    assert not [to for to, _ in stack.mails("") if "ops@t001.example.com" in to]


def test_over_budget_tenants_wait_behind_the_throttled_limit_another_tenant_does_not(
    oss_stack: OssStack,
):
    stack = oss_stack
    # Their first syncs (previous test) were costed by tenant_sync's monitoring sensor.
    for tenant in OVER_BUDGET:
        wait_for(
            lambda t=tenant: stack.mails(f"Tenant {t} is over its monthly budget"),
            120,
            f"the over-budget alert of {tenant}",
        )
    wait_for(
        lambda: set(stack.instance.get_dynamic_partitions(THROTTLED_TENANTS)) == set(OVER_BUDGET),
        60,
        "the throttled set",
    )
    paying = "t004"
    assert not stack.mails(f"Tenant {paying} is over")

    with held(stack, [*OVER_BUDGET, paying]) as release:
        ids = {
            t: stack.launch(LOCATION, JOB, tenant_tags(stack, t)) for t in [*OVER_BUDGET, paying]
        }
        for tenant in OVER_BUDGET:
            assert stack.run(ids[tenant]).tags[THROTTLED_TAG] == "true"
        assert THROTTLED_TAG not in stack.run(ids[paying]).tags

        # The paying tenant's run, launched last, starts; of the two throttled runs one starts
        # and the other waits, though the location has free slots.
        def settled():
            now = statuses(stack, list(ids.values()))
            started = {t for t, r in ids.items() if now[r] == dg.DagsterRunStatus.STARTED}
            return paying in started and len(started & set(OVER_BUDGET)) == 1 and started

        started = wait_for(settled, 180, "the paying run and one throttled run to start")
        (waiting,) = set(OVER_BUDGET) - started
        assert statuses(stack, [ids[waiting]])[ids[waiting]] == dg.DagsterRunStatus.QUEUED
        for tenant in [paying, *(started - {paying})]:
            release[tenant]()
        # Once the throttled run finished, the waiting one goes.
        wait_for(
            lambda: statuses(stack, [ids[waiting]])[ids[waiting]] == dg.DagsterRunStatus.STARTED,
            120,
            "the waiting throttled run to start",
        )
        release[waiting]()
    records = {
        r.dagster_run.tags["mesh/tenant"]: r for r in stack.wait_finished(list(ids.values()))
    }
    throttled = [records[t] for t in OVER_BUDGET]
    assert max_overlap(throttled) == THROTTLED_RUNS
    assert max_overlap([records[paying], *throttled]) == 2  # the paying run ran alongside


def stream_runs(stack: OssStack, exclude: set[str] = frozenset()) -> list[dg.RunRecord]:
    records = stack.instance.get_run_records(dg.RunsFilter(tags={STREAM_TAG: STREAM}))
    return [r for r in records if r.dagster_run.run_id not in exclude]


def stream_drained(stack: OssStack, exclude: set[str]) -> list[dg.RunRecord] | None:
    """Every run finished and the group's committed offsets at the end of each partition."""
    records = stream_runs(stack, exclude)
    lag = stack.kafka.lag(TOPIC, STREAM)
    done = records and all(r.dagster_run.is_finished for r in records)
    return records if done and all(p.lag == 0 for p in lag) else None


def landed(stack: OssStack) -> tuple[int, int, int]:
    """(rows, distinct (partition, offset) keys, dead letters) of marketing.click_events."""
    with stack.warehouse() as cur:
        rows = cur.execute("select count(*) from marketing.click_events").fetchone()[0]
        keys = cur.execute(
            "select count(*) from (select distinct source_partition, source_offset "
            "from marketing.click_events)"
        ).fetchone()[0]
        dead = cur.execute("select count(*) from marketing.click_events_dead_letters").fetchone()
    return rows, keys, dead[0]


def test_a_stream_waits_behind_its_limit_and_a_stuck_run_is_stopped_then_planned_again(
    oss_stack: OssStack,
):
    stack = oss_stack
    # The daemon runs marketing's stream sensor: a first few clicks land and are committed
    # (the landing tables exist from here on).
    first = produce_clicks(stack.kafka, TOPIC, 40, malformed_every=9)
    records = wait_for(lambda: stream_drained(stack, set()), 300, "the first clicks to land")
    assert {r.dagster_run.status for r in records} == {dg.DagsterRunStatus.SUCCESS}
    assert {r.dagster_run.tags["dagster/sensor_name"] for r in records} == {SENSOR}
    earlier = {r.dagster_run.run_id for r in records}

    with stack.hold_table("click_events"):
        # Two to three batches a partition arrive: the sensor plans a run per wave of ranges.
        second = produce_clicks(stack.kafka, TOPIC, SECOND, malformed_every=13)

        # The stream's limit is reached: two runs STARTED (each waiting on the held table),
        # the others QUEUED though the location and the instance have free slots.
        def limit_reached():
            runs = [r.dagster_run for r in stream_runs(stack, earlier)]
            started = [r for r in runs if r.status == dg.DagsterRunStatus.STARTED]
            queued = [r for r in runs if r.status == dg.DagsterRunStatus.QUEUED]
            return len(started) == RUNS_PER_STREAM and queued and started

        stuck = wait_for(limit_reached, 300, "two stream runs to start while others queue")
        assert all(r.tags["dagster/max_runtime"] == str(RUN_TIMEOUT) for r in stuck)
        # Run monitoring stops both at their dagster/max_runtime.
        stopped = stack.wait_finished([r.run_id for r in stuck], timeout=RUN_TIMEOUT + 120)
    for record in stopped:
        run = record.dagster_run
        assert run.status in {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
        messages = [e.message for e in stack.instance.all_logs(run.run_id) if e.message]
        assert any(f"exceeding maximum runtime of {RUN_TIMEOUT} seconds" in m for m in messages), (
            messages
        )
        assert record.end_time - record.start_time >= RUN_TIMEOUT

    records = wait_for(lambda: stream_drained(stack, earlier), 360, "the stream to drain")
    by_label: dict[str, list[dg.RunRecord]] = {}
    for record in records:
        by_label.setdefault(record.dagster_run.tags[RANGES_TAG], []).append(record)
    for record in stopped:
        run = record.dagster_run
        # While it was in flight its ranges were not handed out again; once it was stopped the
        # sensor planned exactly those ranges again, in a new run (a new run key, no retry).
        (again,) = [r for r in by_label[run.tags[RANGES_TAG]] if r.dagster_run.run_id != run.run_id]
        assert again.start_time >= record.start_time + RUN_TIMEOUT
        assert again.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert again.dagster_run.tags["dagster/sensor_name"] == SENSOR
        assert again.dagster_run.tags["dagster/run_key"] == f"{STREAM}:{run.tags[RANGES_TAG]}:2"
        assert "dagster/retry_number" not in again.dagster_run.tags
    others = [
        r for r in records if r.dagster_run.run_id not in {s.dagster_run.run_id for s in stopped}
    ]
    assert {r.dagster_run.status for r in others} == {dg.DagsterRunStatus.SUCCESS}
    # Never more than the stream's limit running, from the run records.
    assert max_overlap(records) == RUNS_PER_STREAM

    # Every message landed exactly once, and the group's offsets are committed to the end.
    good = 40 - first.malformed + SECOND - second.malformed
    assert landed(stack) == (good, good, first.malformed + second.malformed)
    lag = stack.kafka.lag(TOPIC, STREAM)
    assert sum(p.committed for p in lag) == sum(p.high for p in lag) == 40 + SECOND
    with stack.warehouse() as cur:
        stuck_ids = ", ".join(f"'{r.dagster_run.run_id}'" for r in stopped)
        batches = (
            f"select count(*) from marketing.click_events_batches where run_id in ({stuck_ids})"
        )
        assert cur.execute(batches).fetchone()[0] == 0  # the stopped runs landed nothing
