"""`KafkaStream`: a Kafka topic landed into a declared data product by micro-batch runs.

    type: platform_core.components.KafkaStream
    attributes:
      stream: mesh_marketing.streams.CLICKS

The landed product itself is declared with the domain's other products (`DataProducts`) and
implemented by `stream.product_implementation()`; this component adds the ingest job, the
sensor replicas that plan offset ranges, and the Kafka resource (from MESH_KAFKA_* variables).
The stream's knobs take the deployment's MESH_STREAM_<STREAM>_<KNOB> overrides here.
"""

from __future__ import annotations

import importlib
import os

import dagster as dg
from pydantic import Field

from platform_core.errors import ConfigurationError


class KafkaStream(dg.Component, dg.Resolvable, dg.Model):
    """The ingest job, sensors and Kafka resource of one platform_core.streaming.Stream."""

    stream: str = Field(description="Dotted path of the Stream, e.g. mesh_marketing.streams.CLICKS")

    def load_stream(self):
        from platform_core.streaming import Stream

        module_name, _, attribute = self.stream.rpartition(".")
        try:
            value = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigurationError(
                f"KafkaStream: stream '{self.stream}' cannot be imported ({exc}). Fix: give the "
                "dotted path of a platform_core.streaming.Stream."
            ) from None
        if not isinstance(value, Stream):
            raise ConfigurationError(
                f"KafkaStream: '{self.stream}' is a {type(value).__name__}, not a Stream."
            )
        return value

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from platform_core.streaming import kafka_resource_from_env

        stream = self.load_stream().configured(os.environ)
        return dg.Definitions(
            jobs=[stream.job()],
            sensors=stream.sensors(),
            resources={"kafka": kafka_resource_from_env()},
        )
