"""Dagster's own floor for the full mesh: the same runs, steps and checks with no work in them.

Every location is loaded as `meshctl materialize` loads it; each asset and check definition is
then replaced by a no-op of the same shape (same keys, dependencies, partitions, check specs
and blocking flags, same op per definition, so the same steps and events), and the mesh is
run through the same runner on the same instance configuration. What this costs is what
Dagster costs for the mesh's shape: process start, imports, location loads, run creation,
events, steps. bench_mesh.py runs it in a fresh process next to the real mesh.

    python bench/mesh_floor.py   (DAGSTER_HOME and MESH_HOME set; prints the runner's summary)
"""

from collections.abc import Iterator
from collections.abc import Set as AbstractSet

import dagster as dg
from mesh_tooling.runner import LoadedMesh, load_mesh_graph, materialize_mesh
from platform_core.workspace import find_mesh_root


def _upstream_first(
    definition: dg.AssetsDefinition, keys: AbstractSet[dg.AssetKey]
) -> list[dg.AssetKey]:
    """`keys` in dependency order (a multi-asset yields an upstream before its downstream)."""
    deps = {spec.key: {dep.asset_key for dep in spec.deps} for spec in definition.specs}
    ordered: list[dg.AssetKey] = []
    pending = sorted(keys, key=lambda key: key.path)
    while pending:
        ready = [k for k in pending if not (deps.get(k, set()) & set(pending))]
        ordered.extend(ready)
        pending = [k for k in pending if k not in ready]
    return ordered


def _no_op_assets(definition: dg.AssetsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=definition.node_def.name,
        specs=list(definition.specs),
        check_specs=list(definition.check_specs),
        can_subset=True,
        partitions_def=definition.partitions_def,
    )
    def no_op(context: dg.AssetExecutionContext) -> Iterator[object]:
        for key in _upstream_first(definition, context.selected_asset_keys):
            yield dg.MaterializeResult(asset_key=key)
        for check in context.selected_asset_check_keys:
            yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.name, passed=True)

    return no_op


def _no_op_checks(definition: dg.AssetChecksDefinition) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=definition.node_def.name, specs=list(definition.check_specs), can_subset=True
    )
    def no_op(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        for check in context.selected_asset_check_keys:
            yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.name, passed=True)

    return no_op


def no_op_definitions(definitions: dg.Definitions) -> dg.Definitions:
    """`definitions`' executable assets and checks as no-ops of the same shape."""
    assets, checks = [], []
    for definition in definitions.resolve_asset_graph().assets_defs:
        if not definition.is_executable:
            continue
        if isinstance(definition, dg.AssetChecksDefinition):
            checks.append(_no_op_checks(definition))
        else:
            assets.append(_no_op_assets(definition))
    return dg.Definitions(assets=assets, asset_checks=checks)


def main() -> None:
    root = find_mesh_root()
    loaded = load_mesh_graph(root)
    floor = LoadedMesh(
        loaded.graph, {name: no_op_definitions(d) for name, d in loaded.definitions.items()}
    )
    with dg.DagsterInstance.get() as instance:
        summary = materialize_mesh(root, instance, graph=floor)
    print(summary.render(), flush=True)


if __name__ == "__main__":
    main()
