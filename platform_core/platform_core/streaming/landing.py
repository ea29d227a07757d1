"""Read exactly a run's offset ranges from Kafka, and land them idempotently in the warehouse.

Landing is delete-then-insert keyed on (source_partition, source_offset), for the events, the
dead letters and the batch log, in one transaction: a re-run of the same range replaces rows
with identical rows, a run killed half-way leaves nothing behind.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

from confluent_kafka import KafkaError, TopicPartition

from platform_core.errors import MeshError
from platform_core.identifiers import qualified, safe_identifier
from platform_core.streaming.events import EventSchema, Parsed, RawMessage, dead_letter_schema
from platform_core.streaming.ranges import OffsetRange
from platform_core.streaming.resource import KafkaResource
from platform_core.warehouse.base import WarehouseSession

if TYPE_CHECKING:  # pyarrow is imported by the run that lands, not at the location's load
    import pyarrow as pa


class RangeUnavailable(MeshError):
    """A range's messages cannot be read (expired by retention, or beyond the topic's end)."""


@cache
def batch_log_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("source_partition", pa.int32()),
            ("start_offset", pa.int64()),
            ("end_offset", pa.int64()),
            ("landed_rows", pa.int64()),
            ("dead_letters", pa.int64()),
            ("run_id", pa.string()),
            ("landed_at", pa.timestamp("us")),
        ]
    )


@dataclass(frozen=True)
class LandingTables:
    """Where a stream lands: events, dead letters and the batch log, in one schema."""

    schema: str
    events: str

    @property
    def dead_letters(self) -> str:
        return f"{self.events}_dead_letters"

    @property
    def batches(self) -> str:
        return f"{self.events}_batches"

    def qualified(self, table: str) -> str:
        return qualified(self.schema, table)


def read_ranges(
    kafka: KafkaResource, stream: str, ranges: Sequence[OffsetRange], idle_timeout: float = 10.0
) -> list[RawMessage]:
    """Every message of `ranges` (offsets start..end inclusive), nothing outside them."""
    if not ranges:
        return []
    consumer = kafka.reader(stream)
    wanted = {r.partition: r for r in ranges}
    messages: list[RawMessage] = []
    try:
        for r in ranges:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(r.topic, r.partition), timeout=kafka.request_timeout_seconds
            )
            if r.start < low or r.end >= high:
                raise RangeUnavailable(
                    f"Offsets {r.label()} of topic '{r.topic}' are not readable: the partition "
                    f"holds {low}..{high - 1}. Fix: if they expired, raise the topic's retention "
                    "and land the gap from a replay; the range is retried, never skipped."
                )
        consumer.assign([TopicPartition(r.topic, r.partition, r.start) for r in ranges])
        remaining = set(wanted)
        # Ask for what is still unread: librdkafka's batch consume waits out its timeout until
        # it has `num_messages`, so asking for more than the ranges hold cost 0.5 s per run.
        unread = {r.partition: r.end - r.start + 1 for r in ranges}
        last_progress = time.monotonic()
        while remaining:
            wanted_now = min(10_000, max(1, sum(unread[p] for p in remaining)))
            batch = consumer.consume(num_messages=wanted_now, timeout=0.5)
            if not batch and time.monotonic() - last_progress > idle_timeout:
                raise RangeUnavailable(
                    f"No message for {idle_timeout:.0f} s while reading partitions "
                    f"{sorted(remaining)} of '{ranges[0].topic}'. Fix: check the broker."
                )
            for message in batch:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RangeUnavailable(f"Kafka error while reading: {error}")
                partition, offset = message.partition(), message.offset()
                r = wanted[partition]
                if partition not in remaining or offset > r.end:
                    continue
                _, timestamp = message.timestamp()
                messages.append(RawMessage(partition, offset, timestamp, message.value()))
                unread[partition] = r.end - offset
                last_progress = time.monotonic()
                if offset >= r.end:
                    remaining.discard(partition)
                    consumer.pause([TopicPartition(r.topic, partition)])
        return messages
    finally:
        consumer.close()


def _range_predicate(ranges: Sequence[OffsetRange], offset_column: str) -> str:
    return " or ".join(
        f"(source_partition = {int(r.partition)} and {offset_column} between "
        f"{int(r.start)} and {int(r.end)})"
        for r in ranges
    )


def _create_if_missing(session: WarehouseSession, tables: LandingTables, name: str, data: pa.Table):
    if not session.columns(tables.schema, name):
        session.write_arrow(tables.schema, name, data.slice(0, 0))


def ensure_tables(session: WarehouseSession, tables: LandingTables, schema: EventSchema) -> None:
    session.ensure_schema(tables.schema)
    _create_if_missing(session, tables, tables.events, schema.arrow_schema.empty_table())
    _create_if_missing(session, tables, tables.dead_letters, dead_letter_schema().empty_table())
    _create_if_missing(session, tables, tables.batches, batch_log_schema().empty_table())


def land(
    session: WarehouseSession,
    tables: LandingTables,
    schema: EventSchema,
    ranges: Sequence[OffsetRange],
    parsed: Parsed,
    run_id: str,
) -> None:
    """Replace whatever the warehouse holds for `ranges` with `parsed`, in one transaction."""
    import pyarrow as pa

    ensure_tables(session, tables, schema)
    if not ranges:
        return
    landed_at = datetime.now(UTC).replace(tzinfo=None)
    landed = Counter(parsed.rows["source_partition"].to_pylist())
    dead = Counter(parsed.dead_letters["source_partition"].to_pylist())
    log = pa.table(
        {
            "source_partition": [r.partition for r in ranges],
            "start_offset": [r.start for r in ranges],
            "end_offset": [r.end for r in ranges],
            "landed_rows": [landed[r.partition] for r in ranges],
            "dead_letters": [dead[r.partition] for r in ranges],
            "run_id": [run_id] * len(ranges),
            "landed_at": [landed_at] * len(ranges),
        },
        schema=batch_log_schema(),
    )
    # Stage outside the transaction (the Snowflake path loads through a stage), then swap the
    # range's rows in one transaction. Stage names are unique per attempt: concurrent runs on
    # other ranges never share one.
    suffix = uuid.uuid4().hex[:10]
    staged = {}
    for table, data in (
        (tables.events, parsed.rows),
        (tables.dead_letters, parsed.dead_letters),
        (tables.batches, log),
    ):
        stage = safe_identifier(f"{table[:40]}__stage_{suffix}", "table")
        session.write_arrow(tables.schema, stage, data)
        staged[table] = stage
    events_where = _range_predicate(ranges, "source_offset")
    batches_where = " or ".join(
        f"(source_partition = {int(r.partition)} and start_offset = {int(r.start)} "
        f"and end_offset = {int(r.end)})"
        for r in ranges
    )
    try:
        with session.transaction():
            for table, where in (
                (tables.events, events_where),
                (tables.dead_letters, events_where),
                (tables.batches, batches_where),
            ):
                session.execute(f"delete from {tables.qualified(table)} where {where}")
                session.execute(
                    f"insert into {tables.qualified(table)} "
                    f"select * from {tables.qualified(staged[table])}"
                )
    finally:
        for stage in staged.values():
            session.execute(f"drop table if exists {tables.qualified(stage)}")
