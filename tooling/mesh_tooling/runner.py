"""Headless materialization of the whole mesh, across locations, in dependency order.

A Dagster run never spans code locations, so the mesh is cut into batches: each batch is one
location's assets whose upstreams are done, executed as one run of that location's asset job
(checks ride along). CI, tests and benchmarks use this; people use `meshctl materialize`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from governance.model import AssetRecord, MeshGraph
from platform_core.errors import ConfigurationError
from platform_core.products.checks import ROW_COUNT
from platform_core.workspace import read_locations

# Events still go to the instance (and the UI); only the console echo is reduced.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class LoadedMesh:
    """Every location's loaded Definitions, and the mesh's graph (governance.model.MeshGraph,
    the one graph model) built from them; `producer` and `parents` are its AssetKey views."""

    graph: MeshGraph
    definitions: dict[str, dg.Definitions]

    @cached_property
    def producer(self) -> dict[dg.AssetKey, str]:
        return {_key(k): r.location for k, r in self.graph.producers().items()}

    @cached_property
    def parents(self) -> dict[dg.AssetKey, set[dg.AssetKey]]:
        return {_key(k): {_key(d) for d in r.deps} for k, r in self.graph.producers().items()}

    def downstream_closure(self, keys: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
        closure = self.graph.downstream_of(k.to_user_string() for k in keys)
        return {_key(k) for k in closure}


def _key(ref: str) -> dg.AssetKey:
    return dg.AssetKey.from_user_string(ref)


def load_mesh_graph(root: Path, only: Collection[str] | None = None) -> LoadedMesh:
    """Every location's Definitions; with `only`, just those locations (a rebuild of their
    assets needs no other: an upstream in another location is read as a table)."""
    graph = MeshGraph(root=str(root))
    producer: dict[dg.AssetKey, str] = {}
    definitions = {}
    locations = read_locations(root)
    if only is not None:
        unknown = set(only) - {location.name for location in locations}
        if unknown:
            raise ConfigurationError(
                f"No location named {sorted(unknown)} in {root / 'dg.toml'}. "
                "Fix: name a location dg.toml lists."
            )
        locations = tuple(location for location in locations if location.name in only)
    for location in locations:
        defs = location.load_definitions()
        definitions[location.name] = defs
        asset_graph = defs.resolve_asset_graph()
        for key in asset_graph.materializable_asset_keys:
            if key in producer:
                raise ConfigurationError(
                    f"Asset '{key.to_user_string()}' is defined in locations '{producer[key]}' "
                    f"and '{location.name}'. Fix: keep it in the domain that owns it."
                )
            producer[key] = location.name
            deps = sorted(p.to_user_string() for p in asset_graph.get(key).parent_keys)
            graph.add(AssetRecord(key=key.to_user_string(), location=location.name, deps=deps))
    return LoadedMesh(graph, definitions)


def plan_batches(
    producer: Mapping[dg.AssetKey, str],
    parents: Mapping[dg.AssetKey, set[dg.AssetKey]],
    selected: set[dg.AssetKey],
) -> list[tuple[str, list[dg.AssetKey]]]:
    """Order `selected` into (location, keys) runs; each key runs after all its upstreams."""
    done: set[dg.AssetKey] = set()
    remaining = set(selected)

    def ready(key: dg.AssetKey, batch: set[dg.AssetKey]) -> bool:
        return all(p in done or p in batch or p not in remaining for p in parents.get(key, ()))

    def grow(location: str) -> set[dg.AssetKey]:
        batch: set[dg.AssetKey] = set()
        grew = True
        while grew:  # take everything of this location that becomes ready within the batch
            new = {k for k in remaining - batch if producer[k] == location and ready(k, batch)}
            batch |= new
            grew = bool(new)
        return batch

    batches = []
    while remaining:
        candidates = sorted((k for k in remaining if ready(k, set())), key=lambda k: k.path)
        if not candidates:
            cycle = ", ".join(sorted(k.to_user_string() for k in remaining))
            raise ConfigurationError(f"Dependency cycle among {cycle}. Fix: break the cycle.")
        # Each run costs Dagster's run and step events and, for dbt, a dbt process and its
        # adapter: run next a location that can finish all its remaining keys in one run, so
        # no location is cut in two when waiting would keep it whole (a location that can
        # only do part now waits while another can run). Among those, or if there is none,
        # the one that can do the most now (ties: the first ready key's location).
        options = {producer[k]: grow(producer[k]) for k in candidates}
        left = {loc: sum(producer[k] == loc for k in remaining) for loc in options}
        whole = [loc for loc in options if len(options[loc]) == left[loc]]
        location = max(whole or options, key=lambda loc: len(options[loc]))
        batch = options[location]
        batches.append((location, sorted(batch, key=lambda k: k.path)))
        done |= batch
        remaining -= batch
    return batches


def _topological(
    keys: list[dg.AssetKey], parents: Mapping[dg.AssetKey, set[dg.AssetKey]]
) -> list[dg.AssetKey]:
    ordered: list[dg.AssetKey] = []
    pending = list(keys)
    while pending:
        waiting = set(pending)
        ready = [k for k in pending if not (parents.get(k, set()) & (waiting - {k}))]
        ordered.extend(ready)
        pending = [k for k in pending if k not in ready]
    return ordered


def held_back(
    keys: list[dg.AssetKey],
    parents: Mapping[dg.AssetKey, set[dg.AssetKey]],
    broken: set[dg.AssetKey],
) -> set[dg.AssetKey]:
    """The keys of a batch downstream of a broken asset, also through other keys of the batch
    (a run must not build a model whose upstream in the same run is left out)."""
    held: set[dg.AssetKey] = set()
    for key in _topological(keys, parents):
        if parents.get(key, set()) & (broken | held):
            held.add(key)
    return held


@dataclass
class AssetOutcome:
    key: str
    location: str
    status: str  # materialized | failed | skipped
    rows: int | None = None
    seconds: float | None = None
    failed_checks: list[str] = field(default_factory=list)


@dataclass
class MeshRunSummary:
    outcomes: list[AssetOutcome]
    seconds: float
    runs: int

    @property
    def success(self) -> bool:
        return all(o.status == "materialized" and not o.failed_checks for o in self.outcomes)

    def render(self) -> str:
        width = max((len(o.key) for o in self.outcomes), default=10)
        lines = [f"{'asset':<{width}}  {'location':<10} {'status':<12} {'rows':>10} {'seconds':>8}"]
        for o in self.outcomes:
            rows = "" if o.rows is None else f"{o.rows:,}"
            secs = "" if o.seconds is None else f"{o.seconds:.2f}"
            lines.append(f"{o.key:<{width}}  {o.location:<10} {o.status:<12} {rows:>10} {secs:>8}")
            lines.extend(f"{'':<{width}}    failed check: {check}" for check in o.failed_checks)
        materialized = sum(o.status == "materialized" for o in self.outcomes)
        total_rows = sum(o.rows or 0 for o in self.outcomes)
        lines.append(
            f"{materialized}/{len(self.outcomes)} assets, {total_rows:,} rows, "
            f"{self.runs} runs, {self.seconds:.1f} s"
        )
        return "\n".join(lines)


def _partition_keys(
    root: Path, defs: dg.Definitions, keys: list[dg.AssetKey], instance: dg.DagsterInstance
) -> list[str | None]:
    """[None] for unpartitioned assets; else every partition (tenants: from the registry)."""
    graph = defs.resolve_asset_graph()
    partitions_def = next(
        (graph.get(k).partitions_def for k in keys if graph.get(k).partitions_def), None
    )
    if partitions_def is None:
        return [None]
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition) and partitions_def.name:
        from platform_core.tenancy.partitions import reconcile_tenant_partitions

        reconcile_tenant_partitions(instance, partitions_def.name, root)
    return list(partitions_def.get_partition_keys(dynamic_partitions_store=instance))


def _merge_rows(materialized: dict[dg.AssetKey, Any], key: dg.AssetKey, metadata: Any) -> None:
    """Keep the metadata of an asset's materialization; partitions add up their row counts."""
    if key not in materialized:
        materialized[key] = dict(metadata)
        return
    previous, current = materialized[key].get(ROW_COUNT), metadata.get(ROW_COUNT)
    if previous is not None and current is not None:
        materialized[key][ROW_COUNT] = dg.IntMetadataValue(int(previous.value) + int(current.value))


def materialize_mesh(
    root: Path,
    instance: dg.DagsterInstance,
    select: Iterable[dg.AssetKey] | None = None,
    graph: LoadedMesh | None = None,
) -> MeshRunSummary:
    """Materialize `select` (default: every asset) across locations; returns the summary.

    A failed asset or failed blocking check skips everything downstream of it; independent
    branches still run.
    """
    started = time.perf_counter()
    graph = graph or load_mesh_graph(root)
    selected = set(select) if select is not None else set(graph.producer)
    unknown = selected - set(graph.producer)
    if unknown:
        raise ConfigurationError(
            f"No location produces {sorted(k.to_user_string() for k in unknown)}. "
            "Fix: check the keys with `meshctl products`."
        )
    outcomes: dict[dg.AssetKey, AssetOutcome] = {}
    broken: set[dg.AssetKey] = set()
    runs = 0
    batches = plan_batches(graph.producer, graph.parents, selected)
    for location, keys in batches:
        held = held_back(keys, graph.parents, broken)
        runnable = [k for k in keys if k not in held]
        for key in held:
            outcomes[key] = AssetOutcome(key.to_user_string(), location, "skipped")
            broken.add(key)
        if not runnable:
            continue
        job = graph.definitions[location].resolve_implicit_global_asset_job_def()
        materialized: dict[dg.AssetKey, Any] = {}
        failed_checks: dict[dg.AssetKey, list[str]] = {}
        # A partitioned batch (tenant sync) runs once per partition; a failed partition fails
        # the asset for the summary, the other partitions still run.
        partition_keys = _partition_keys(root, graph.definitions[location], runnable, instance)
        partial: set[dg.AssetKey] = set()
        for partition_key in partition_keys:
            result = job.execute_in_process(
                instance=instance,
                asset_selection=runnable,
                raise_on_error=False,
                run_config=QUIET_CONSOLE,
                tags={"mesh/runner": "materialize_mesh"},
                partition_key=partition_key,
            )
            runs += 1
            done = set()
            for event in result.get_asset_materialization_events():
                mat = event.step_materialization_data.materialization
                done.add(mat.asset_key)
                _merge_rows(materialized, mat.asset_key, mat.metadata)
            partial |= set(runnable) - done
            for evaluation in result.get_asset_check_evaluations():
                if not evaluation.passed:
                    failed_checks.setdefault(evaluation.asset_key, []).append(
                        f"{evaluation.check_name}: {evaluation.description or ''}".strip()
                    )
        for key in partial:
            materialized.pop(key, None)
        for key in _topological(runnable, graph.parents):
            metadata = materialized.get(key)
            if metadata is None:
                # Not materialized: failed itself, or held back by a broken upstream in the run.
                held = bool(graph.parents.get(key, set()) & broken)
                status = "skipped" if held else "failed"
                outcomes[key] = AssetOutcome(key.to_user_string(), location, status)
                broken.add(key)
                continue
            rows = metadata.get(ROW_COUNT)
            seconds = metadata.get("compute_seconds")
            outcomes[key] = AssetOutcome(
                key.to_user_string(),
                location,
                "materialized",
                rows=int(rows.value) if rows is not None else None,
                seconds=float(seconds.value) if seconds is not None else None,
                failed_checks=failed_checks.get(key, []),
            )
            if key in failed_checks:
                broken.add(key)
    ordered = [outcomes[k] for _, keys in batches for k in _topological(keys, graph.parents)]
    return MeshRunSummary(ordered, time.perf_counter() - started, runs)
