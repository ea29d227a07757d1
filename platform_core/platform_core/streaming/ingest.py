"""A stream as a data product: the landing asset, its job and its sensor replicas.

A domain declares the landed table in its DataProducts defs.yaml like any product (contract,
owners, checks) and implements it with `stream.product_implementation()` beside it:

    CLICKS = Stream(name="clicks", topic="clicks", product="marketing/click_events",
                    schema=EventSchema({"click_id": "integer", ...}))
    click_events = CLICKS.product_implementation()      # defs/products/click_events.py

and a `KafkaStream` component (defs/click_stream/defs.yaml, `stream: <module>.CLICKS`) adds
the job, the sensor replicas and the Kafka resource.

Each run of the job lands exactly the offset ranges in its run config. Without ranges (a
headless `meshctl materialize`) it only makes sure the tables exist.
"""

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import dagster as dg

from platform_core.environment import Environment
from platform_core.errors import ConfigurationError, ProductDeclarationError
from platform_core.products.checks import ROW_COUNT, evaluate_product_checks
from platform_core.products.declaration import ProductDeclaration
from platform_core.products.factory import ProductImplementation
from platform_core.streaming.events import EventSchema
from platform_core.streaming.lag import lag_markdown
from platform_core.streaming.landing import LandingTables, land, read_ranges
from platform_core.streaming.ranges import OffsetRange
from platform_core.streaming.resource import BOOTSTRAP_ENV, KafkaResource
from platform_core.streaming.sensor import StreamKnobs, evaluate_stream_tick, knobs_from_env
from platform_core.warehouse.base import Warehouse


class RangeConfig(dg.Config):
    topic: str
    partition: int
    start: int
    end: int


class StreamBatchConfig(dg.Config):
    """Which offsets this run lands: one range (inclusive) per partition, set by the sensor."""

    ranges: list[RangeConfig] = []  # noqa: RUF012 (pydantic copies defaults)


@dataclass(frozen=True)
class Stream:
    """A Kafka topic landed into a declared data product by micro-batch runs."""

    name: str
    topic: str
    product: str  # "domain/name" of the landed table's declaration
    schema: EventSchema
    knobs: StreamKnobs = field(default_factory=StreamKnobs)

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(self.product.split("/"))

    @property
    def op_name(self) -> str:
        return "__".join(self.key.path)

    @property
    def tables(self) -> LandingTables:
        domain, name = self.product.split("/")
        return LandingTables(domain, name)

    def product_implementation(self) -> ProductImplementation:
        return ProductImplementation(
            self.product.split("/")[1], "stream", build_asset=self._build_asset
        )

    def configured(self, environ: Mapping[str, str]) -> "Stream":
        """This stream with the deployment's knob overrides (`knobs_from_env`)."""
        return replace(self, knobs=knobs_from_env(self.name, self.knobs, environ))

    def job(self):  # an unresolved asset job, bound when Definitions resolve
        return dg.define_asset_job(
            f"{self.name}_ingest",
            selection=dg.AssetSelection.assets(self.key),
            description=f"Lands offset ranges of Kafka topic '{self.topic}' into {self.product}.",
            tags={"mesh/stream": self.name},
            # A micro-batch is one step (landing and its checks); a process for it would
            # re-import the location, seconds against a ~1 s landing.
            executor_def=dg.in_process_executor,
        )

    def sensors(self) -> list[dg.SensorDefinition]:
        return [self._replica(i) for i in range(self.knobs.replicas)]

    def _replica(self, index: int) -> dg.SensorDefinition:
        stream = self
        # Running from the first deploy only where a broker is configured, so a mesh without
        # Kafka (CI's other tests, a fresh clone) does not tick against nothing.
        running = bool(os.environ.get(BOOTSTRAP_ENV))

        @dg.sensor(
            name=f"{self.name}_stream_{index}",
            job_name=f"{self.name}_ingest",
            minimum_interval_seconds=self.knobs.tick_interval_seconds,
            default_status=dg.DefaultSensorStatus.RUNNING
            if running
            else dg.DefaultSensorStatus.STOPPED,
            description=(
                f"Replica {index + 1} of {self.knobs.replicas}: a consumer in group "
                f"<prefix>{self.name} that turns offsets of '{self.topic}' into runs."
            ),
        )
        def replica(context: dg.SensorEvaluationContext, kafka: KafkaResource):
            return evaluate_stream_tick(
                context, kafka, stream.name, stream.topic, stream.op_name, stream.knobs
            )

        return replica

    def _build_asset(
        self,
        product: ProductDeclaration,
        deps: Sequence[dg.AssetKey],
        env: Environment,
        attributes: dict,
    ) -> dg.AssetsDefinition:
        if product.ref != self.product:
            raise ProductDeclarationError(
                f"Data product '{product.ref}'",
                f"is implemented by stream '{self.name}', which lands '{self.product}'",
                f"set product='{product.ref}' on the Stream, or implement '{self.product}'",
            )
        stream = self

        @dg.asset(**attributes)
        def land_stream(
            context: dg.AssetExecutionContext,
            config: StreamBatchConfig,
            kafka: KafkaResource,
            warehouse: Warehouse,
        ) -> dg.MaterializeResult:
            return stream.land_batch(context, config, kafka, warehouse, product)

        return land_stream

    def ranges_of(self, config: StreamBatchConfig) -> list[OffsetRange]:
        ranges = [OffsetRange(r.topic, r.partition, r.start, r.end) for r in config.ranges]
        wrong = sorted({r.topic for r in ranges} - {self.topic})
        partitions = [r.partition for r in ranges]
        if wrong or len(set(partitions)) != len(partitions):
            raise ConfigurationError(
                f"Run config of {self.product}: ranges must be of topic '{self.topic}' with at "
                f"most one range per partition (got topics {wrong}, partitions {partitions}). "
                "Fix: let the stream's sensor plan the ranges."
            )
        return ranges

    def land_batch(
        self,
        context: dg.AssetExecutionContext,
        config: StreamBatchConfig,
        kafka: KafkaResource,
        warehouse: Warehouse,
        product: ProductDeclaration,
    ) -> dg.MaterializeResult:
        """Land the run's ranges and evaluate the product's checks on the same session, in
        the same step: a micro-batch run pays one step's events, not two."""
        started = time.perf_counter()
        ranges = self.ranges_of(config)
        messages = read_ranges(kafka, self.name, ranges)
        read_seconds = time.perf_counter() - started
        parsed = self.schema.parse(messages)
        tables = self.tables
        with warehouse.session() as session:
            land(session, tables, self.schema, ranges, parsed, context.run_id)
            total = session.row_count(tables.schema, tables.events)
            checked = {key.name for key in context.selected_asset_check_keys}
            check_results = list(
                evaluate_product_checks(
                    product, session, context.instance, checked, in_materialization=True
                )
            )
        metadata: dict = {
            ROW_COUNT: total,
            "dagster/table_name": f"{warehouse.database}.{tables.schema}.{tables.events}",
            "stream/ranges": ", ".join(r.label() for r in ranges) or "none",
            "stream/messages": len(messages),
            "stream/landed_rows": parsed.rows.num_rows,
            "stream/dead_letters": parsed.dead_letters.num_rows,
            "stream/read_seconds": round(read_seconds, 3),
            "stream/seconds": round(time.perf_counter() - started, 3),
        }
        if ranges:
            # The group's lag as of this run (the sensor commits this run's ranges next tick).
            lag = kafka.lag(self.topic, self.name)
            metadata["stream/lag"] = sum(p.lag for p in lag)
            metadata["stream/lag_by_partition"] = dg.MetadataValue.md(lag_markdown(lag))
        if parsed.dead_letters.num_rows:
            context.log.warning(
                f"{parsed.dead_letters.num_rows} malformed messages went to "
                f"{tables.schema}.{tables.dead_letters}"
            )
        return dg.MaterializeResult(metadata=metadata, check_results=check_results)
