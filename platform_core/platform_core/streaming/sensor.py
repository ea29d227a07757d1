"""The micro-batch sensor: turns a Kafka topic into runs that each own offset ranges.

Each replica is a consumer in the stream's consumer group; Kafka's group protocol decides
which partitions it owns. On a tick a replica, for each owned partition:

1. reads the group's committed offset (the durable truth of what has landed) and the
   watermarks;
2. reads the ranges of the stream's recent runs from the Dagster instance (every replica
   shares it): in flight and succeeded ranges are *covered*, failed ones are not;
3. commits the offset up to which succeeded ranges are contiguous (so an offset is committed
   only after its run's write succeeded);
4. plans new ranges for the uncovered gaps (a failed run's range is a gap: it is retried, never
   skipped) and requests one run per wave of ranges, repeating while full batches are waiting
   and the tick's time allows.

Runs get offsets (topic, partition, start, end) in their run config and tags, never messages:
run storage stays small and any range can be replayed.

The consumer stays open between ticks in the code server (the process that evaluates
sensors), so group membership and assignments persist; a replica that stops ticking leaves the
group after `max.poll.interval.ms` and its partitions move to the others.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import dagster as dg
from confluent_kafka import Consumer, KafkaException, TopicPartition

from platform_core.errors import ConfigurationError
from platform_core.streaming.ranges import (
    OffsetRange,
    commit_frontier,
    format_ranges,
    parse_ranges,
    plan_ranges,
    waves,
)
from platform_core.streaming.resource import OFFSET_INVALID, KafkaResource

STREAM_TAG = "mesh/stream"
RANGES_TAG = "mesh/stream/ranges"
ACTIVE_STATUSES = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
}


@dataclass(frozen=True)
class StreamKnobs:
    """How a stream is turned into runs. Defaults suit a laptop; see the README's table."""

    max_batch_size: int = 20_000
    """Most messages per partition in one run's range: bigger batches amortise the run's fixed
    cost (throughput), smaller ones land sooner (latency)."""
    max_tick_runtime_seconds: float = 20.0
    """A tick keeps planning full batches until this much time passed (the daemon's sensor
    timeout is 60 s)."""
    tick_interval_seconds: int = 5
    """Minimum time between two ticks of a replica: the floor of produce-to-landed latency."""
    replicas: int = 1
    """Sensor replicas, each a consumer in the stream's group; partitions are shared out."""
    max_open_ranges: int = 4
    """Per partition: ranges planned, in flight or landed but not yet committed. Bounds the
    queue behind a slow or stuck run."""
    run_timeout_seconds: int = 900
    """`dagster/max_runtime` of each run: run monitoring fails a stuck run, so its range is
    planned again."""
    join_timeout_seconds: float = 15.0
    """How long a replica's first tick waits for the group to assign it partitions."""
    recent_runs: int = 500
    """How many of the stream's latest runs a tick inspects for covered ranges."""


KNOBS_ENV_PREFIX = "MESH_STREAM_"


def knobs_from_env(stream: str, knobs: StreamKnobs, environ: Mapping[str, str]) -> StreamKnobs:
    """`knobs` with a deployment's overrides from its environment, one variable per knob:
    `MESH_STREAM_<STREAM>_<KNOB>` (e.g. MESH_STREAM_CLICKS_RUN_TIMEOUT_SECONDS=600), set where
    the location runs (Helm values, compose), so a deployment tunes a stream without a code
    change. Values must be positive numbers; a misspelt knob is an error, never ignored."""
    prefix = f"{KNOBS_ENV_PREFIX}{stream.upper()}_"
    known = {f.name.upper(): f.name for f in dataclasses.fields(StreamKnobs)}
    overrides: dict[str, int | float] = {}
    for variable in sorted(v for v in environ if v.startswith(prefix)):
        rest = variable[len(prefix) :]
        if rest not in known:
            if any(rest.endswith(f"_{k}") for k in known):
                continue  # a knob of another stream whose name starts like this one's
            raise ConfigurationError(
                f"{variable} is not a knob of stream '{stream}'. Fix: use one of "
                f"{', '.join(prefix + k for k in sorted(known))}, or unset it."
            )
        name = known[rest]
        kind = type(getattr(knobs, name))
        raw = environ[variable].strip()
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or value <= 0:
            expected = "a whole number >= 1" if kind is int else "a number > 0"
            raise ConfigurationError(
                f"{variable}={raw!r} must be {expected} (stream '{stream}', knob {name}). "
                "Fix: correct or unset it."
            )
        overrides[name] = value
    return dataclasses.replace(knobs, **overrides)


@dataclass
class GroupMember:
    """One replica's long-lived consumer in the stream's group; it never fetches messages
    (assigned partitions are paused), it only holds partitions and commits offsets."""

    consumer: Consumer
    topic: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def join(cls, kafka: KafkaResource, stream: str, topic: str, name: str, knobs: StreamKnobs):
        poll_budget_ms = int(
            (3 * knobs.tick_interval_seconds + knobs.max_tick_runtime_seconds) * 1000
        )
        consumer = Consumer(
            kafka.consumer_config(
                kafka.group_id(stream),
                **{"client.id": name, "max.poll.interval.ms": max(60_000, poll_budget_ms)},
            )
        )

        def on_assign(c: Consumer, partitions: list[TopicPartition]) -> None:
            c.assign(partitions)
            c.pause(partitions)

        consumer.subscribe([topic], on_assign=on_assign)
        return cls(consumer, topic)

    def owned_partitions(self, wait_seconds: float) -> list[int]:
        deadline = time.monotonic() + wait_seconds
        while True:
            self.consumer.poll(0.05)  # serves rebalance callbacks; partitions are paused
            owned = sorted(tp.partition for tp in self.consumer.assignment())
            if owned or time.monotonic() >= deadline:
                return owned

    def committed(self, partitions: Iterable[int], timeout: float) -> dict[int, int | None]:
        tps = [TopicPartition(self.topic, p) for p in partitions]
        return {
            tp.partition: None if tp.offset == OFFSET_INVALID else tp.offset
            for tp in self.consumer.committed(tps, timeout=timeout)
        }

    def watermarks(self, partition: int, timeout: float) -> tuple[int, int]:
        return self.consumer.get_watermark_offsets(
            TopicPartition(self.topic, partition), timeout=timeout
        )

    def commit(self, offsets: dict[int, int]) -> None:
        self.consumer.commit(
            offsets=[TopicPartition(self.topic, p, o) for p, o in offsets.items()],
            asynchronous=False,
        )

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # already closed
            self.consumer.close()  # leaves the group at once, so partitions move now


_members: dict[tuple[str, str, str], GroupMember] = {}
_members_lock = threading.Lock()


def group_member(
    kafka: KafkaResource, stream: str, topic: str, name: str, knobs: StreamKnobs
) -> GroupMember:
    key = (kafka.bootstrap_servers, kafka.group_id(stream), name)
    with _members_lock:
        if key not in _members:
            _members[key] = GroupMember.join(kafka, stream, topic, name, knobs)
        return _members[key]


@atexit.register
def leave_groups() -> None:
    """Close every replica's consumer (tests call it to simulate a replica going away)."""
    with _members_lock:
        for member in _members.values():
            member.close()
        _members.clear()


def leave_group(name: str) -> None:
    with _members_lock:
        for key in [k for k in _members if k[2] == name]:
            _members.pop(key).close()


@dataclass
class RecentRanges:
    succeeded: list[OffsetRange] = field(default_factory=list)
    in_flight: list[OffsetRange] = field(default_factory=list)
    attempts: Counter = field(default_factory=Counter)


def recent_ranges(instance: dg.DagsterInstance, stream: str, topic: str, limit: int):
    recent = RecentRanges()
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={STREAM_TAG: stream}), limit=limit
    )
    for record in records:
        run = record.dagster_run
        label = run.tags.get(RANGES_TAG, "")
        recent.attempts[label] += 1
        ranges = parse_ranges(topic, label)
        if run.status == dg.DagsterRunStatus.SUCCESS:
            recent.succeeded.extend(ranges)
        elif run.status in ACTIVE_STATUSES:
            recent.in_flight.extend(ranges)
    return recent


@dataclass(frozen=True)
class TickPlan:
    runs: list[list[OffsetRange]]
    committed: dict[int, int]
    cursor: dict[str, dict[int, int]]
    attempts: Counter


def plan_tick(
    context: dg.SensorEvaluationContext,
    kafka: KafkaResource,
    stream: str,
    topic: str,
    replica: str,
    knobs: StreamKnobs,
) -> TickPlan | str:
    """Commit what landed and plan new ranges; a string says why there is nothing to do."""
    started = time.monotonic()
    timeout = kafka.request_timeout_seconds
    try:
        member = group_member(kafka, stream, topic, replica, knobs)
        with member.lock:
            owned = member.owned_partitions(knobs.join_timeout_seconds)
            if not owned:
                return f"{replica} owns no partition of '{topic}' (more replicas than partitions?)"
            recent = recent_ranges(context.instance, stream, topic, knobs.recent_runs)
            committed = member.committed(owned, timeout)
            marks = {p: member.watermarks(p, timeout) for p in owned}
            frontier: dict[int, int] = {}
            to_commit: dict[int, int] = {}
            for p in owned:
                low, _ = marks[p]
                base = committed[p] if committed[p] is not None else low
                if base < low:
                    context.log.warning(
                        f"{topic}[{p}]: offsets {base}..{low - 1} expired before they landed"
                    )
                    base = low
                frontier[p] = commit_frontier(
                    base, [r for r in recent.succeeded if r.partition == p]
                )
                if frontier[p] != committed[p]:
                    to_commit[p] = frontier[p]
            if to_commit:
                try:
                    member.commit(to_commit)
                except KafkaException as error:
                    # Harmless: the ranges stay succeeded in the instance; the next tick commits.
                    context.log.warning(f"commit of {to_commit} deferred: {error}")

            covered = {
                p: [r for r in recent.succeeded + recent.in_flight if r.partition == p]
                for p in owned
            }
            runs: list[list[OffsetRange]] = []
            full_only = False
            while True:
                planned = {
                    p: plan_ranges(
                        topic,
                        p,
                        frontier[p],
                        marks[p][1],
                        covered[p],
                        knobs.max_batch_size,
                        knobs.max_open_ranges,
                        full_only,
                    )
                    for p in owned
                }
                new_runs = waves(planned)
                runs.extend(new_runs)
                for p, ranges in planned.items():
                    covered[p].extend(ranges)
                if not new_runs or time.monotonic() - started > knobs.max_tick_runtime_seconds:
                    break
                full_only = True  # after the first pass, only full batches are worth a run
                marks = {p: member.watermarks(p, timeout) for p in owned}
    except KafkaException as error:
        raise kafka.unreachable(error) from error
    next_start = {p: max([frontier[p], *(r.end + 1 for r in covered[p])]) for p in owned}
    cursor = {"committed": frontier, "next_start": next_start}
    return TickPlan(runs, to_commit, cursor, recent.attempts)


def run_request(
    stream: str, op_name: str, ranges: list[OffsetRange], attempts: Counter, knobs: StreamKnobs
) -> dg.RunRequest:
    label = format_ranges(ranges)
    attempt = attempts[label] + 1  # a retried range needs a new run key, or Dagster drops it
    return dg.RunRequest(
        run_key=f"{stream}:{label}:{attempt}",
        run_config={
            "ops": {
                op_name: {
                    "config": {
                        "ranges": [
                            {
                                "topic": r.topic,
                                "partition": r.partition,
                                "start": r.start,
                                "end": r.end,
                            }
                            for r in ranges
                        ]
                    }
                }
            }
        },
        tags={
            STREAM_TAG: stream,
            RANGES_TAG: label,
            "dagster/max_runtime": str(knobs.run_timeout_seconds),
            # A failed range is planned again by this sensor, with a new run key; a retry by
            # the daemon would be a second run of the same range, holding it as in flight.
            "dagster/max_retries": "0",
        },
    )


def evaluate_stream_tick(
    context: dg.SensorEvaluationContext,
    kafka: KafkaResource,
    stream: str,
    topic: str,
    op_name: str,
    knobs: StreamKnobs,
) -> dg.SensorResult | dg.SkipReason:
    plan = plan_tick(context, kafka, stream, topic, context.sensor_name, knobs)
    if isinstance(plan, str):
        return dg.SkipReason(plan)
    requests = [run_request(stream, op_name, r, plan.attempts, knobs) for r in plan.runs]
    cursor = json.dumps(plan.cursor, sort_keys=True)
    if not requests:
        return dg.SensorResult(skip_reason="no new messages", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
