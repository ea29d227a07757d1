"""Small tenants synced as Dagster runs through the queued run coordinator (bench_tenant_sync's
`--tenants-queue N`).

Real parts: the local instance file as shipped (`deployment/local/dagster.yaml`: its run queue,
the per-tenant tag limit `mesh/tenant` = 1), a `dagster-daemon` that dequeues and launches, a
`dagster-webserver` taking the launches over GraphQL (as the UI's Launch button does; the
tenants' runs carry the product's run tags), the `tenant_sync` location with the tenants'
PostgreSQL databases. Timestamps come from the runs' own records: created (queued), dequeued,
started, ended. From them: whether runs waited on the queue (a free slot while runs were
queued) or on work (every slot busy).
"""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml
from dagster_graphql import DagsterGraphQLClient
from mesh_tooling.sample.data import Scale
from mesh_tooling.sample.tenant_databases import seed_tenant_databases
from mesh_tooling.servers.postgres import LocalPostgres
from platform_core.tenancy.registry import load_registry
from platform_core.tenancy.scheduling import run_tags

from tests.support.oss_stack import _locations_loaded, tenant_registry
from tests.support.processes import BIN, background, free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
LOCATION, JOB, PARTITIONS = "tenant_sync", "tenant_sync_job", "tenants"


@dataclass(frozen=True)
class RunTimes:
    tenant: str
    status: str
    created: float
    dequeued: float
    started: float
    ended: float


@dataclass(frozen=True)
class QueueReport:
    runs: list[RunTimes]
    slots: int  # the instance's max_concurrent_runs
    dequeue_interval: float
    submitted_in: float  # seconds to submit every run
    urls: dict[str, str]  # tenant id -> its database
    unfinished: int = 0  # runs not finished by the deadline (not in `runs`)

    @property
    def makespan(self) -> float:
        return max(r.ended for r in self.runs) - min(r.created for r in self.runs)

    def waiting_on_queue(self) -> float:
        """Seconds during which a run was queued while a slot was free (the queue, not the
        work, held it back)."""
        events = sorted({t for r in self.runs for t in (r.created, r.dequeued, r.ended)})
        idle = 0.0
        for start, end in itertools.pairwise(events):
            middle = (start + end) / 2
            queued = sum(r.created <= middle < r.dequeued for r in self.runs)
            busy = sum(r.dequeued <= middle < r.ended for r in self.runs)
            if queued and busy < self.slots:
                idle += end - start
        return idle

    def lines(self) -> list[str]:
        runs = self.runs
        waits = sorted(r.dequeued - r.created for r in runs)
        launch = [r.started - r.dequeued for r in runs]
        work = [r.ended - r.started for r in runs]
        span = max(r.dequeued for r in runs) - min(r.dequeued for r in runs)
        peak = max(
            sum(o.dequeued <= r.dequeued < o.ended for o in runs) for r in runs
        )  # in flight when each run was dequeued (itself included)
        failed = [r.tenant for r in runs if r.status != "SUCCESS"]
        return [
            f"{len(runs) + self.unfinished} runs submitted in {self.submitted_in:.1f} s; "
            + (
                f"DEADLINE: only {len(runs)} finished, "
                if self.unfinished
                else f"all {len(runs)} finished "
            )
            + f"{self.makespan:.1f} s after the first was queued ({len(failed)} not SUCCESS"
            + (f": {failed[:5]}" if failed else "")
            + ")",
            f"slots {self.slots} (max_concurrent_runs), peak in flight {peak}; daemon dequeue "
            f"interval {self.dequeue_interval:g} s",
            f"dequeue rate {len(runs) / max(span, 1e-9):.2f} runs/s over {span:.1f} s; "
            f"completion rate {len(runs) / self.makespan:.2f} runs/s",
            f"per run: queued {statistics.median(waits):.1f} s median ({waits[-1]:.1f} s max), "
            f"dequeue->started {statistics.median(launch):.2f} s median (process + location "
            f"load), started->ended {statistics.median(work):.2f} s median",
            f"a run queued while a slot was free: {self.waiting_on_queue():.1f} s of "
            f"{self.makespan:.1f} s ({self.waiting_on_queue() / self.makespan:.0%}: the queue's "
            "share; the rest of the time every slot was busy or nothing was queued)",
        ]


def _instance_file(dagster_home: Path, dequeue_interval: int | None) -> tuple[int, float]:
    """The local instance file as `meshctl` installs it; optionally another dequeue interval."""
    config = yaml.safe_load((ROOT / "deployment" / "local" / "dagster.yaml").read_text())
    if dequeue_interval is not None:
        config["run_queue"]["dequeue_interval_seconds"] = dequeue_interval
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    queue = config["run_queue"]
    return int(queue["max_concurrent_runs"]), float(queue.get("dequeue_interval_seconds", 5))


def _times(instance: dg.DagsterInstance, record: dg.RunRecord) -> RunTimes:
    """The run's moments; "dequeued" is its RUN_STARTING event, which the daemon reports when
    it takes the run off the queue, just before launching it."""
    run = record.dagster_run
    events = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.RUN_STARTING
    ).records
    return RunTimes(
        run.tags["mesh/tenant"],
        run.status.value,
        record.create_timestamp.timestamp(),
        events[0].event_log_entry.timestamp,
        float(record.start_time or 0.0),
        float(record.end_time or 0.0),
    )


def measure_queue(
    server: LocalPostgres,
    folder: Path,
    tenants: int,
    orders: int,
    dequeue_interval: int | None = None,
    deadline: float | None = None,
) -> QueueReport:
    """Seed `tenants` databases, launch one sync run per tenant at once, wait for all; with a
    `deadline` (seconds after the launches), report the runs finished by then."""
    folder.mkdir(parents=True, exist_ok=True)
    dagster_home, mesh_home = folder / "dagster_home", folder / "mesh"
    dagster_home.mkdir()
    mesh_home.mkdir()
    slots, interval = _instance_file(dagster_home, dequeue_interval)
    environ: dict[str, str] = {}
    urls = seed_tenant_databases(
        server, Scale(tenants=tenants, orders_per_tenant=orders, seed=9), environ
    )
    registry_file = folder / "tenants.yaml"
    registry_file.write_text(tenant_registry(urls, {}, {}))
    workspace = folder / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {"load_from": [{"python_module": {
                "module_name": "mesh_tenant_sync.definitions", "location_name": LOCATION}}]}
        )
    )  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TENANT_", "DAGSTER_"))}
    env = {
        **base, **environ, "DAGSTER_HOME": str(dagster_home), "MESH_HOME": str(mesh_home),
        "MESH_TENANT_REGISTRY_FILE": str(registry_file), "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    port = free_port()
    # The storage is created here first: three processes creating SQLite tables at once race.
    with (
        dg.DagsterInstance.from_config(str(dagster_home)) as instance,
        background([str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
                    "-w", str(workspace)], env, ROOT, folder / "webserver.log"),
        background([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
                   env, ROOT, folder / "daemon.log"),
    ):  # fmt: skip
        wait_for(lambda: _locations_loaded(port, {LOCATION}), 300, "the location to load")
        instance.add_dynamic_partitions(PARTITIONS, sorted(urls))
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        os.environ.update(environ)  # the registry checks each tenant's source variable
        registry = load_registry(registry_file)
        submitting = time.monotonic()
        run_ids = [
            client.submit_job_execution(
                JOB,
                repository_location_name=LOCATION,
                repository_name="__repository__",
                tags={**run_tags(registry.get(tenant)), "dagster/partition": tenant},
            )
            for tenant in sorted(urls)
        ]
        submitted_in = time.monotonic() - submitting

        def done() -> list[dg.RunRecord]:
            records = instance.get_run_records(dg.RunsFilter(run_ids=run_ids))
            return [r for r in records if r.dagster_run.is_finished]

        try:
            records = wait_for(
                lambda: (found := done()) and len(found) == len(run_ids) and found,
                deadline or 120 + 30 * tenants, "every tenant run to finish", 1.0,
            )  # fmt: skip
        except TimeoutError:
            if deadline is None:
                raise
            records = done()
        runs = [_times(instance, record) for record in records]
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(dagster_home, ignore_errors=True)
    return QueueReport(runs, slots, interval, submitted_in, urls, len(run_ids) - len(runs))
