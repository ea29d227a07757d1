"""Benchmark: Kafka -> DuckDB through the micro-batch sensor and runs, against a plain loop.

For each (max batch size, tick interval) it measures, on a real noida-db broker:
- drain: N messages produced up front, landed by sensor ticks + runs -> sustained msg/s;
- steady: a producer at RATE msg/s for SECONDS -> p50/p95 latency from the Kafka message
  timestamp (producer clock) to the landing transaction (same machine clock).
The baseline, measured in the same run on the same broker and the same DuckDB file layout: a
plain confluent-kafka consume -> parse (same EventSchema) -> insert -> commit loop.

Ticks are evaluated with Dagster's sensor API and runs executed in process on a real (temporary)
Dagster instance, one at a time as the local run queue allows; a daemon adds its per-run process
start on top. Prints figures and ratios; never passes or fails on time.

    uv run python bench/bench_stream.py [--messages 100000] [--rate 5000] [--seconds 8]
        [--batch-sizes 5000 20000 50000] [--ticks 1 5] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MESH_HOME", tempfile.mkdtemp(prefix="bench-stream-"))

import dagster as dg  # noqa: E402
import duckdb  # noqa: E402
from confluent_kafka import Consumer  # noqa: E402
from mesh_marketing.streams import CLICK_EVENT  # noqa: E402
from mesh_tooling.sample.clicks import produce_clicks  # noqa: E402
from mesh_tooling.servers.kafka_broker import local_broker  # noqa: E402
from platform_core.streaming import StreamKnobs  # noqa: E402
from platform_core.streaming.events import RawMessage  # noqa: E402
from platform_core.streaming.sensor import leave_groups  # noqa: E402

from tests.support.processes import free_port  # noqa: E402
from tests.support.streaming import StreamRig  # noqa: E402

PARTITIONS = 4


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def mesh_latencies(rig: StreamRig) -> list[float]:
    """Seconds from each event's Kafka timestamp to its batch's landing."""
    with duckdb.connect(str(rig.warehouse_path), read_only=True) as con:
        rows = con.sql(
            "select epoch_ms(b.landed_at) - epoch_ms(e.produced_at) "
            "from marketing.click_events e join marketing.click_events_batches b "
            "on e.source_partition = b.source_partition "
            "and e.source_offset between b.start_offset and b.end_offset"
        ).fetchall()
    return [r[0] / 1000 for r in rows]


def run_mesh(rig: StreamRig, tick_seconds: float, expected: int, start_producing):
    """Tick the sensor every `tick_seconds` and run what it asks, until `expected` landed.

    The instance and the sensor's group membership exist before the clock starts (a deployed
    sensor has joined its group long before messages arrive): one tick with nothing to do,
    then `start_producing()`, then the clock. Returns (seconds until the last row landed,
    seconds until its offsets were committed too, runs).
    """
    defs = rig.definitions()
    runs = 0
    with tempfile.TemporaryDirectory() as home, dg.DagsterInstance.from_config(home) as instance:
        assert not rig.tick(defs, instance, "clicks_stream_0")  # joins the group
        started_producing = start_producing()
        producing = started_producing if isinstance(started_producing, threading.Thread) else None
        started = time.perf_counter()
        landed_at = started
        deadline = started + 120 + expected / 500  # a stalled stream fails the bench, loudly
        while True:
            tick_started = time.perf_counter()
            if tick_started > deadline:
                raise AssertionError(f"stream did not drain {expected:,} messages in time: "
                                     f"lag {rig.lag_summary()}, producer alive: "
                                     f"{producing is not None and producing.is_alive()}")  # fmt: skip
            for request in rig.tick(defs, instance, "clicks_stream_0"):
                assert rig.launch(defs, instance, request).success
                runs += 1
                landed_at = time.perf_counter()
            done = producing is None or not producing.is_alive()
            # All offsets committed (a fresh topic starts at 0): the last tick only committed,
            # landing finished with the last run.
            if (
                done
                and sum(p.committed or 0 for p in rig.kafka.lag(rig.topic, "clicks")) >= expected
            ):
                break
            time.sleep(max(0.0, tick_seconds - (time.perf_counter() - tick_started)))
        committed_at = time.perf_counter()
    if producing is not None:
        producing.join()
    with duckdb.connect(str(rig.warehouse_path), read_only=True) as con:
        landed = con.sql("select count(*) from marketing.click_events").fetchall()[0][0]
    assert landed == expected, (landed, expected)
    leave_groups()
    return landed_at - started, committed_at - started, runs


def run_plain(
    bootstrap: str, topic: str, db: Path, batch: int, expected: int
) -> tuple[float, list[float]]:
    """Baseline: subscribe, consume up to `batch`, parse, insert, commit; no orchestration."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"plain.{topic}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    con = duckdb.connect(str(db))
    con.execute("create schema if not exists marketing")
    empty = CLICK_EVENT.arrow_schema.empty_table()  # noqa: F841 (read by DuckDB by name)
    con.execute("create or replace table marketing.click_events as select * from empty")
    landed, latencies = 0, []
    started = time.perf_counter()
    while landed < expected:
        messages = consumer.consume(num_messages=batch, timeout=0.5)
        if not messages:
            continue
        raw = [RawMessage(m.partition(), m.offset(), m.timestamp()[1], m.value()) for m in messages]
        parsed = CLICK_EVENT.parse(raw)
        rows = parsed.rows  # noqa: F841 (read by DuckDB by name)
        con.execute("begin transaction")
        con.execute("insert into marketing.click_events select * from rows")
        con.execute("commit")
        now_ms = time.time() * 1000
        latencies.extend((now_ms - m.timestamp_ms) / 1000 for m in raw)
        consumer.commit(asynchronous=False)
        landed += parsed.rows.num_rows + parsed.dead_letters.num_rows
    elapsed = time.perf_counter() - started
    consumer.close()
    con.close()
    return elapsed, latencies


def producer_thread(rig_or_kafka, topic: str, count: int, rate: float) -> threading.Thread:
    thread = threading.Thread(target=produce_clicks, args=(rig_or_kafka, topic, count, rate))
    thread.start()
    return thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=5_000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[5_000, 20_000, 50_000])
    parser.add_argument("--ticks", type=float, nargs="+", default=[1, 5])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.messages, args.rate, args.seconds = 2_000, 1_000, 1
        args.batch_sizes, args.ticks = [1_000], [1]
    steady_count = int(args.rate * args.seconds)

    with (
        tempfile.TemporaryDirectory() as folder,
        local_broker(Path(folder) / "kafka", free_port()) as bootstrap,
    ):
        root = Path(folder)
        print(f"broker noida-db @ {bootstrap}; {PARTITIONS} partitions; drain {args.messages:,} "
              f"messages; steady {args.rate:,.0f} msg/s for {args.seconds:g} s")  # fmt: skip

        # Baseline, same broker, same parsing, same DuckDB; largest batch size.
        base = StreamRig.create(bootstrap, root / "plain-drain", StreamKnobs(), PARTITIONS)
        (root / "plain-drain").mkdir(exist_ok=True)
        produce_clicks(base.kafka, base.topic, args.messages)
        drain_s, _ = run_plain(bootstrap, base.topic, root / "plain-drain" / "w.duckdb",
                               max(args.batch_sizes), args.messages)  # fmt: skip
        plain_rate = args.messages / drain_s
        steady = StreamRig.create(bootstrap, root / "plain-steady", StreamKnobs(), PARTITIONS)
        (root / "plain-steady").mkdir(exist_ok=True)
        thread = producer_thread(steady.kafka, steady.topic, steady_count, args.rate)
        _, latencies = run_plain(bootstrap, steady.topic, root / "plain-steady" / "w.duckdb",
                                 max(args.batch_sizes), steady_count)  # fmt: skip
        thread.join()
        plain_p50, plain_p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        print("\n== plain confluent-kafka consume -> parse -> insert -> commit loop (baseline) ==")
        print(
            f"drain {plain_rate:10,.0f} msg/s   steady p50 {plain_p50:6.2f} s  p95 {plain_p95:6.2f} s"
        )

        print("\n== mesh: sensor ticks plan offset ranges, runs land them (one run at a time) ==")
        print(
            "(drain: until the last row landed; its offsets are committed by the next tick, "
            "committed = until then)"
        )
        print(f"{'batch':>7} {'tick s':>6} | {'drain msg/s':>11} {'runs':>5} {'x plain':>8} "
              f"{'committed':>9} | "
              f"{'p50 s':>6} {'p95 s':>6} {'x plain p50':>11} {'p95/tick':>8}")  # fmt: skip
        for batch in args.batch_sizes:
            for tick in args.ticks:
                knobs = StreamKnobs(max_batch_size=batch, tick_interval_seconds=int(tick))
                folder_name = f"mesh-{batch}-{tick:g}"
                drain = StreamRig.create(bootstrap, root / folder_name / "drain", knobs, PARTITIONS)
                (root / folder_name / "drain").mkdir(parents=True, exist_ok=True)
                seconds, committed, runs = run_mesh(
                    drain, tick, args.messages,
                    lambda rig=drain: produce_clicks(rig.kafka, rig.topic, args.messages),
                )  # fmt: skip
                rate = args.messages / seconds

                live = StreamRig.create(bootstrap, root / folder_name / "steady", knobs, PARTITIONS)
                (root / folder_name / "steady").mkdir(parents=True, exist_ok=True)
                run_mesh(
                    live, tick, steady_count,
                    lambda rig=live: producer_thread(rig.kafka, rig.topic, steady_count, args.rate),
                )  # fmt: skip
                lat = mesh_latencies(live)
                p50, p95 = percentile(lat, 0.5), percentile(lat, 0.95)
                committed_ratio = args.messages / committed / plain_rate
                print(f"{batch:>7} {tick:>6g} | {rate:>11,.0f} {runs:>5} {rate / plain_rate:>7.2f}x "
                      f"{committed_ratio:>8.2f}x | "
                      f"{p50:>6.2f} {p95:>6.2f} {p50 / plain_p50:>10.1f}x {p95 / tick:>8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
