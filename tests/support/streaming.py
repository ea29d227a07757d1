"""Drive a stream the way the daemon does: evaluate sensor ticks, launch the requested runs."""

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import mesh_marketing
from mesh_marketing.defs.products import campaigns as products
from mesh_marketing.defs.products import sessions as click_products
from mesh_marketing.streams import CLICK_EVENT
from platform_core.streaming import KafkaResource, Stream, StreamKnobs
from platform_core.streaming.ranges import parse_ranges
from platform_core.streaming.sensor import RANGES_TAG
from platform_core.warehouse import DuckDBWarehouse

from platform_core import build_domain_definitions

PRODUCTS_FILE = Path(mesh_marketing.__file__).parent / "defs" / "products" / "defs.yaml"


@dataclass
class StreamRig:
    """One stream on its own topic, consumer group and DuckDB file, in marketing's definitions."""

    bootstrap: str
    warehouse_path: Path
    topic: str
    knobs: StreamKnobs
    group_prefix: str
    cursors: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def create(cls, bootstrap: str, folder: Path, knobs: StreamKnobs, partitions: int = 4):
        suffix = uuid.uuid4().hex[:8]
        rig = cls(bootstrap, folder / "warehouse.duckdb", f"clicks_{suffix}", knobs, f"t{suffix}.")
        rig.kafka.ensure_topic(rig.topic, partitions)
        return rig

    @property
    def kafka(self) -> KafkaResource:
        return KafkaResource(bootstrap_servers=self.bootstrap, group_prefix=self.group_prefix)

    @property
    def stream(self) -> Stream:
        return Stream("clicks", self.topic, "marketing/click_events", CLICK_EVENT, self.knobs)

    def definitions(self) -> dg.Definitions:
        stream = self.stream
        return build_domain_definitions(
            PRODUCTS_FILE,
            [
                products.campaigns,
                products.ad_spend,
                products.clicks,
                stream.product_implementation(),
                click_products.click_sessions,
                click_products.click_touchpoints,
            ],
            jobs=[stream.job()],
            sensors=stream.sensors(),
            resources={
                "kafka": self.kafka,
                "warehouse": DuckDBWarehouse(path=str(self.warehouse_path)),
            },
        )

    def tick(self, defs: dg.Definitions, instance: dg.DagsterInstance, sensor: str):
        definition = defs.resolve_sensor_def(sensor)
        with dg.build_sensor_context(
            instance=instance,
            cursor=self.cursors.get(sensor),
            sensor_name=sensor,
            resources={"kafka": self.kafka},
            definitions=defs,
        ) as context:
            data = definition.evaluate_tick(context)
        self.cursors[sensor] = data.cursor
        return list(data.run_requests or [])

    def launch(self, defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest):
        job = defs.resolve_job_def(f"{self.stream.name}_ingest")
        return job.execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags
        )

    def drive(
        self,
        defs: dg.Definitions,
        instance: dg.DagsterInstance,
        sensors: list[str],
        ticks: int = 30,
    ) -> dict[str, list[int]]:
        """Tick every replica and run what it asks for, until a round launches nothing and the
        group's lag is zero. Returns the partitions each replica launched ranges for."""
        launched: dict[str, list[int]] = {s: [] for s in sensors}
        for _ in range(ticks):
            requested = 0
            for sensor in sensors:
                for request in self.tick(defs, instance, sensor):
                    requested += 1
                    launched[sensor] += [
                        r.partition for r in parse_ranges(self.topic, request.tags[RANGES_TAG])
                    ]
                    assert self.launch(defs, instance, request).success
            if not requested and sum(p.lag for p in self.kafka.lag(self.topic, "clicks")) == 0:
                return launched
        raise AssertionError(f"lag did not reach zero in {ticks} rounds: {self.lag_summary()}")

    def lag_summary(self) -> str:
        return ", ".join(f"{p.partition}:{p.lag}" for p in self.kafka.lag(self.topic, "clicks"))
