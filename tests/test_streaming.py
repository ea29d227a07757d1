"""Kafka micro-batch ingestion against a real broker (noida-db), a real Dagster instance and
DuckDB: sensors plan offset ranges, runs land them; no loss, no duplicates, lag reaches zero.

A stuck run stopped by run monitoring and its ranges planned again is observed on the OSS stack
with the real daemon (tests/test_oss_stack.py), not here."""

import os

import dagster as dg
import duckdb
import pytest
from mesh_tooling.sample.clicks import produce_clicks
from platform_core.streaming import StreamKnobs
from platform_core.streaming.sensor import STREAM_TAG, group_member, leave_groups

from tests.support.processes import run_meshctl, wait_for
from tests.support.streaming import StreamRig

pytestmark = pytest.mark.slow
SENSOR = "clicks_stream_0"


@pytest.fixture(autouse=True)
def _leave_groups():
    yield
    leave_groups()  # each test's replicas leave their group, as a stopped code server would


def landed(rig: StreamRig, sql: str):
    with duckdb.connect(str(rig.warehouse_path), read_only=True) as con:
        return con.sql(sql).fetchall()


def counts(rig: StreamRig) -> tuple[int, int, int]:
    """(rows, distinct (partition, offset) keys, dead letters)."""
    (rows, keys), = landed(
        rig, "select count(*), count(distinct (source_partition, source_offset)) "
        "from marketing.click_events",
    )  # fmt: skip
    (dead,) = landed(rig, "select count(*) from marketing.click_events_dead_letters")[0]
    return rows, keys, dead


def test_malformed_messages_are_dead_lettered_the_rest_lands_once_and_lag_reaches_zero(
    kafka_broker, tmp_path, repo_root
):
    rig = StreamRig.create(kafka_broker, tmp_path, StreamKnobs(max_batch_size=700))
    report = produce_clicks(rig.kafka, rig.topic, 6_000, malformed_every=37)
    assert report.malformed == 6_000 // 37
    assert sum(p.lag for p in rig.kafka.lag(rig.topic, "clicks")) == 6_000

    defs = rig.definitions()
    with dg.DagsterInstance.ephemeral() as instance:
        rig.drive(defs, instance, [SENSOR])

        assert counts(rig) == (6_000 - report.malformed, 6_000 - report.malformed, report.malformed)
        reasons = dict(
            landed(
                rig, "select reason, count(*) from marketing.click_events_dead_letters group by 1"
            )
        )
        assert sum(reasons.values()) == report.malformed
        assert any(r.startswith("not JSON") for r in reasons)
        assert "missing field 'clicked_at'" in reasons
        assert "field 'click_id' is 'three', expected an integer" in reasons
        raw = landed(rig, "select raw from marketing.click_events_dead_letters limit 1")[0][0]
        assert isinstance(raw, bytes) and raw

        # Each micro-batch run is one step: it lands its ranges and evaluates the product's
        # checks itself. Its row-count check compares with the batch before (not the one before
        # that: its own materialization is not stored while it checks).
        runs = sorted(
            instance.get_runs(filters=dg.RunsFilter(tags={STREAM_TAG: "clicks"})),
            key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp,
        )
        assert len(runs) >= 2
        counted = []
        for run in runs:
            steps = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
            assert [e.step_key for e in steps] == ["marketing__click_events"]
            evaluations = {
                e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
                for e in instance.all_logs(
                    run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
                )
            }
            assert set(evaluations) == {"schema_contract", "row_count_drop", "not_null"}
            assert all(e.passed for e in evaluations.values())
            row_count = evaluations["row_count_drop"].metadata
            counted.append((row_count["previous_rows"].value, row_count["current_rows"].value))
        assert counted[0][0] is None
        assert [previous for previous, _ in counted[1:]] == [c for _, c in counted[:-1]]
        assert counted[-1][1] == 6_000 - report.malformed

        # Lag is zero for every partition, in the CLI and in the last run's metadata.
        assert {p.lag for p in rig.kafka.lag(rig.topic, "clicks")} == {0}
        env = {**os.environ, "MESH_KAFKA_BOOTSTRAP_SERVERS": kafka_broker,
               "MESH_KAFKA_GROUP_PREFIX": rig.group_prefix}  # fmt: skip
        table = run_meshctl(["lag", "--topic", rig.topic], env, repo_root).stdout
        assert table.splitlines()[-1].split() == ["total", "0"], table
        event = instance.get_latest_materialization_event(rig.stream.key)
        assert "stream/lag" in event.asset_materialization.metadata

        # Re-running a landed range changes nothing.
        before = landed(rig, "select * from marketing.click_events order by 6, 7")
        run = instance.get_runs(filters=dg.RunsFilter(tags={STREAM_TAG: "clicks"}), limit=1)[0]
        again = dg.RunRequest(run_config=run.run_config, tags=dict(run.tags))
        assert rig.launch(defs, instance, again).success
        assert landed(rig, "select * from marketing.click_events order by 6, 7") == before

        # The downstream products are built on every landed event.
        keys = [dg.AssetKey(["marketing", n]) for n in ("click_sessions", "click_touchpoints")]
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=keys
        )
        assert result.success
        for table in ("click_sessions", "click_touchpoints"):
            (clicks,) = landed(rig, f"select sum(clicks) from marketing.{table}")[0]
            assert clicks == 6_000 - report.malformed


def test_two_replicas_share_the_partitions_of_one_consumer_group(kafka_broker, tmp_path):
    knobs = StreamKnobs(max_batch_size=500, replicas=2)
    rig = StreamRig.create(kafka_broker, tmp_path, knobs, partitions=4)
    defs = rig.definitions()
    replicas = ["clicks_stream_0", "clicks_stream_1"]
    members = [group_member(rig.kafka, "clicks", rig.topic, r, knobs) for r in replicas]

    def balanced():
        owned = [set(m.owned_partitions(0.2)) for m in members]
        return all(owned) and not owned[0] & owned[1] and owned[0] | owned[1] == {0, 1, 2, 3}

    wait_for(balanced, 90, "the group to give each replica its share", interval=0.1)
    report = produce_clicks(rig.kafka, rig.topic, 4_000, malformed_every=50)

    with dg.DagsterInstance.ephemeral() as instance:
        launched = rig.drive(defs, instance, replicas)

    first, second = (set(launched[r]) for r in replicas)
    assert first and second, launched
    assert not first & second, f"a partition was consumed by both replicas: {launched}"
    assert first | second == {0, 1, 2, 3}
    assert counts(rig) == (4_000 - report.malformed, 4_000 - report.malformed, report.malformed)
