"""A click-stream producer for local runs, tests and benchmarks, at a target rate.

Events are the sample data's clicks (same tenants, customers and campaigns as the rest of the
mesh), so the landed stream joins with sales orders. Every `malformed_every`-th message is
deliberately broken in one of four ways, to exercise the dead-letter path.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

from platform_core.streaming.resource import KafkaResource

from mesh_tooling.sample.data import Scale, generate

MALFORMED = (
    b'{"click_id": 1, "tenant_id": "t001", ',  # cut off: not JSON
    b'{"click_id": 2, "tenant_id": "t001", "campaign_id": 1, "customer_id": 1}',  # no clicked_at
    b'{"click_id": "three", "tenant_id": "t001", "campaign_id": 1, "customer_id": 1, '
    b'"clicked_at": "2026-01-02T03:04:05"}',  # wrong type
    b'["not", "an", "object"]',
)


def click_messages(scale: Scale) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs forever: the sample clicks, then again with fresh click ids."""
    clicks = generate(scale)["clicks"].to_pylist()
    for cycle in itertools.count():
        for click in clicks:
            event = {
                **click,
                "click_id": click["click_id"] + cycle * len(clicks),
                "clicked_at": click["clicked_at"].isoformat(),
            }
            # Keyed by tenant: one tenant's clicks stay in order on one partition.
            yield click["tenant_id"].encode(), json.dumps(event).encode()


@dataclass(frozen=True)
class ProduceReport:
    sent: int
    malformed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def produce_clicks(
    kafka: KafkaResource,
    topic: str,
    count: int | None,
    rate: float = 0.0,
    malformed_every: int = 0,
    scale: Scale | None = None,
) -> ProduceReport:
    """Send `count` messages (None: until interrupted) at `rate` msg/s (0: as fast as possible).

    Message timestamps are the producer's clock at send time, which the benchmark uses for
    produce-to-landed latency.
    """
    producer = kafka.producer()
    messages = click_messages(scale or Scale(tenants=5, orders_per_tenant=2_000))
    sent = malformed = 0
    started = time.perf_counter()
    try:
        while count is None or sent < count:
            if rate > 0:
                due = int((time.perf_counter() - started) * rate) + 1
                if sent >= due:
                    # max(): the clock moved on since `due`; a negative sleep is an error
                    time.sleep(
                        max(0.0, min(0.01, (sent + 1) / rate - (time.perf_counter() - started)))
                    )
                    continue
                burst = due - sent
            else:
                burst = 10_000
            if count is not None:
                burst = min(burst, count - sent)
            for _ in range(burst):
                key, value = next(messages)
                if malformed_every and (sent + 1) % malformed_every == 0:
                    value = MALFORMED[malformed % len(MALFORMED)]
                    malformed += 1
                while True:
                    try:
                        producer.produce(topic, value=value, key=key)
                        break
                    except BufferError:  # local queue full: let deliveries drain
                        producer.poll(0.05)
                sent += 1
            producer.poll(0)
    except KeyboardInterrupt:
        pass
    finally:
        producer.flush(30)
    return ProduceReport(sent, malformed, time.perf_counter() - started)
