"""Streaming: Kafka topics landed into data products by micro-batch runs of offset ranges."""

from platform_core.streaming.events import EventSchema
from platform_core.streaming.ingest import Stream, StreamBatchConfig
from platform_core.streaming.ranges import OffsetRange
from platform_core.streaming.resource import (
    KafkaResource,
    PartitionLag,
    kafka_client_from_env,
    kafka_resource_from_env,
)
from platform_core.streaming.sensor import StreamKnobs

__all__ = [
    "EventSchema",
    "KafkaResource",
    "OffsetRange",
    "PartitionLag",
    "Stream",
    "StreamBatchConfig",
    "StreamKnobs",
    "kafka_client_from_env",
    "kafka_resource_from_env",
]
