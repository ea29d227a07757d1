"""`KafkaResource`: how every part of the mesh talks to Kafka (sensors, runs, producer, lag).

The code speaks only the Kafka protocol: locally it points at the noida-db broker, in
production at Kafka, Confluent Cloud, Redpanda or MSK. Addresses and credentials come from
environment variables only (`kafka_resource_from_env`); tuning knobs are plain fields.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import dagster as dg
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from pydantic import Field

from platform_core.errors import ConfigurationError

LOCAL_BOOTSTRAP = "127.0.0.1:19092"
# Environment variables read for the connection (never credentials in code or config).
BOOTSTRAP_ENV = "MESH_KAFKA_BOOTSTRAP_SERVERS"
KAFKA_SETTINGS_ENV = {
    "security_protocol": "MESH_KAFKA_SECURITY_PROTOCOL",
    "sasl_mechanism": "MESH_KAFKA_SASL_MECHANISM",
    "sasl_username": "MESH_KAFKA_SASL_USERNAME",
    "sasl_password": "MESH_KAFKA_SASL_PASSWORD",
    "group_prefix": "MESH_KAFKA_GROUP_PREFIX",
}
OFFSET_INVALID = -1001  # librdkafka: no committed offset


@dataclass(frozen=True)
class PartitionLag:
    """How far the consumer group is behind on one partition."""

    topic: str
    partition: int
    committed: int | None  # None: the group never committed on this partition
    low: int
    high: int

    @property
    def lag(self) -> int:
        return self.high - (self.committed if self.committed is not None else self.low)


class KafkaResource(dg.ConfigurableResource):
    """Connection and tuning for Kafka clients. Each sensor replica is one consumer of the
    group `<group_prefix><stream>`; runs read their offset ranges with `assign` (no group)."""

    bootstrap_servers: str = Field(default=LOCAL_BOOTSTRAP, description="host:port[,host:port]")
    security_protocol: str | None = Field(default=None, description="e.g. SASL_SSL")
    sasl_mechanism: str | None = Field(default=None, description="e.g. PLAIN, SCRAM-SHA-512")
    sasl_username: str | None = None
    sasl_password: str | None = None
    group_prefix: str = Field(default="mesh.", description="Consumer groups are <prefix><stream>.")
    fetch_min_bytes: int = Field(
        default=1, description="Broker waits for this many bytes (or fetch_wait_max_ms) per fetch."
    )
    fetch_wait_max_ms: int = Field(default=100, description="Upper bound of that wait.")
    max_partition_fetch_bytes: int = Field(default=4 * 1024 * 1024)
    request_timeout_seconds: float = Field(default=10.0, description="Metadata/commit timeout.")

    def _common(self) -> dict[str, Any]:
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers}
        optional = {
            "security.protocol": self.security_protocol,
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
        }
        config.update({k: v for k, v in optional.items() if v})
        return config

    def group_id(self, stream: str) -> str:
        return f"{self.group_prefix}{stream}"

    def consumer_config(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        return {
            **self._common(),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.min.bytes": self.fetch_min_bytes,
            "fetch.wait.max.ms": self.fetch_wait_max_ms,
            "max.partition.fetch.bytes": self.max_partition_fetch_bytes,
            **overrides,
        }

    def producer(self, **overrides: Any) -> Producer:
        return Producer({**self._common(), "linger.ms": 5, "acks": "all", **overrides})

    def admin(self) -> AdminClient:
        return AdminClient({**self._common(), "log_level": 4})  # no info noise on close

    def reader(self, stream: str) -> Consumer:
        """A consumer for reading assigned ranges: it never subscribes nor commits."""
        return Consumer(self.consumer_config(f"{self.group_id(stream)}.reader"))

    def partitions(self, topic: str) -> list[int]:
        try:
            metadata = self.admin().list_topics(topic, timeout=self.request_timeout_seconds)
        except KafkaException as error:
            raise self.unreachable(error) from error
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            raise ConfigurationError(
                f"Kafka topic '{topic}' does not exist at {self.bootstrap_servers}. "
                f"Fix: create it (`meshctl produce` creates it locally) or correct the topic name."
            )
        return sorted(described.partitions)

    def ensure_topic(self, topic: str, partitions: int) -> None:
        """Create `topic` if missing (local runs, tests and benchmarks)."""
        admin = self.admin()  # keep the handle alive until the futures resolve
        if topic in admin.list_topics(timeout=self.request_timeout_seconds).topics:
            return
        futures = admin.create_topics([NewTopic(topic, num_partitions=partitions)])
        for future in futures.values():
            try:
                future.result()
            except KafkaException as error:
                if "TOPIC_ALREADY_EXISTS" not in str(error):
                    raise

    def lag(self, topic: str, stream: str) -> list[PartitionLag]:
        """Per partition: the group's committed offset, the watermarks, and the lag."""
        consumer = Consumer(self.consumer_config(self.group_id(stream)))
        try:
            partitions = [TopicPartition(topic, p) for p in self.partitions(topic)]
            committed = consumer.committed(partitions, timeout=self.request_timeout_seconds)
            result = []
            for tp in committed:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, tp.partition), timeout=self.request_timeout_seconds
                )
                offset = None if tp.offset == OFFSET_INVALID else tp.offset
                result.append(PartitionLag(topic, tp.partition, offset, low, high))
            return result
        except KafkaException as error:
            raise self.unreachable(error) from error
        finally:
            consumer.close()

    def unreachable(self, error: Exception) -> ConfigurationError:
        return ConfigurationError(
            f"Kafka at {self.bootstrap_servers} did not answer ({error}). Fix: start the local "
            f"broker (`meshctl broker`) or set {BOOTSTRAP_ENV} to a reachable broker."
        )


def _settings(environ: dict[str, str], resolve: bool) -> dict[str, Any]:
    variables = {"bootstrap_servers": BOOTSTRAP_ENV, **KAFKA_SETTINGS_ENV}
    return {
        field: environ[var] if resolve else dg.EnvVar(var)
        for field, var in variables.items()
        if environ.get(var)
    }


def kafka_resource_from_env(environ: dict[str, str] | None = None) -> KafkaResource:
    """The resource for Definitions: set variables become `dg.EnvVar`s, read where the resource
    is used and never stored in run config or the instance. Unset ones keep the local defaults."""
    return KafkaResource(**_settings(dict(os.environ) if environ is None else environ, False))


def kafka_client_from_env(environ: dict[str, str] | None = None) -> KafkaResource:
    """The same settings with values resolved now, for use outside Dagster (CLI, benchmarks)."""
    return KafkaResource(**_settings(dict(os.environ) if environ is None else environ, True))
