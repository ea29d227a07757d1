"""Load every code location of workspace.yaml the way a Dagster code server does, and turn
the definitions into the serialisable `MeshGraph`.

In-process by design (measured in bench/bench_governance.py): a code server per location
costs a Python start and `import dagster` each, which a 50-location mesh on 2 cores cannot
afford. The steps are Dagster's own: find the loadable targets of the module
(`loadable_targets_from_python_module`), then `initialize_repository_def_from_pointer`, which
resolves and validates the Definitions exactly as `dagster definitions validate` does.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from platform_core.workspace import read_locations

from governance.model import AssetRecord, Column, LocationRecord, MeshGraph

PASSTHROUGH_METADATA = ("declared_in", "deprecation_date", "product_version")


@dataclass(frozen=True)
class WorkspaceEntry:
    location: str
    module: str
    working_directory: str | None


def read_workspace_entries(root: Path) -> list[WorkspaceEntry]:
    """The python_module entries of workspace.yaml (what `dagster dev -w` loads)."""
    data = yaml.safe_load((root / "workspace.yaml").read_text()) or {}
    entries = []
    for item in data.get("load_from", []) or []:
        target = item.get("python_module") if isinstance(item, dict) else None
        if isinstance(target, str):
            target = {"module_name": target}
        if isinstance(target, dict):
            directory = target.get("working_directory")
            entries.append(
                WorkspaceEntry(
                    location=target.get("location_name") or target["module_name"],
                    module=target["module_name"],
                    working_directory=str(root / directory) if directory else None,
                )
            )
    return entries


def _load_repository(entry: WorkspaceEntry) -> dg.RepositoryDefinition:
    from dagster._core.code_pointer import CodePointer
    from dagster._core.definitions.reconstruct import initialize_repository_def_from_pointer
    from dagster._core.workspace.autodiscovery import loadable_targets_from_python_module

    targets = loadable_targets_from_python_module(entry.module, entry.working_directory)
    if len(targets) != 1:
        raise ValueError(
            f"module {entry.module} defines {len(targets)} Definitions; a location has exactly one"
        )
    pointer = CodePointer.from_module(entry.module, targets[0].attribute, entry.working_directory)
    return initialize_repository_def_from_pointer(pointer)


def _source_of(assets_def: dg.AssetsDefinition, root: Path) -> tuple[str, int]:
    """File and line of the function that computes the asset (for SARIF annotations)."""
    try:
        function = assets_def.node_def.compute_fn.decorated_fn  # type: ignore[union-attr]
        function = inspect.unwrap(function)
        file = Path(inspect.getsourcefile(function) or "")
        line = function.__code__.co_firstlineno
    except (AttributeError, TypeError):
        return "", 0
    try:
        return str(file.resolve().relative_to(root)), line
    except ValueError:
        return str(file), line


def _columns(metadata: dict[str, Any]) -> list[Column] | None:
    schema = metadata.get("dagster/column_schema")
    schema = getattr(schema, "schema", schema)  # TableSchemaMetadataValue -> TableSchema
    if not isinstance(schema, dg.TableSchema):
        return None
    return [Column(c.name, c.type, c.description or "") for c in schema.columns]


def _plain(value: Any) -> str:
    return str(getattr(value, "value", value))


def records_of(location: str, repo: dg.RepositoryDefinition, root: Path) -> list[AssetRecord]:
    graph = repo.asset_graph
    checks: dict[dg.AssetKey, list[tuple[str, bool]]] = {}
    for assets_def in graph.assets_defs:
        for spec in assets_def.check_specs:
            checks.setdefault(spec.asset_key, []).append((spec.name, spec.blocking))
    records = []
    for assets_def in graph.assets_defs:
        if assets_def.is_auto_created_stub:
            continue  # a dependency on another location's key, not a definition here
        file, line = _source_of(assets_def, root) if assets_def.is_executable else ("", 0)
        for spec in assets_def.specs:
            metadata = dict(spec.metadata)
            declared_in = metadata.get("declared_in")
            record_file = file
            if declared_in:
                record_file = _relative(Path(_plain(declared_in)), root)
            key_checks = checks.get(spec.key, [])
            records.append(
                AssetRecord(
                    key=spec.key.to_user_string(),
                    location=location,
                    description=spec.description or "",
                    owners=list(spec.owners),
                    tags=dict(spec.tags),
                    kinds=sorted(spec.kinds),
                    group=spec.group_name or "",
                    deps=sorted(dep.asset_key.to_user_string() for dep in spec.deps),
                    materializable=assets_def.is_materializable,
                    columns=_columns(metadata),
                    freshness=spec.freshness_policy is not None,
                    checks=sorted(name for name, _ in key_checks),
                    blocking_checks=sorted(name for name, blocking in key_checks if blocking),
                    metadata={
                        k: _plain(metadata[k])
                        for k in PASSTHROUGH_METADATA
                        if k in metadata and k != "declared_in"
                    },
                    source_file=record_file,
                    source_line=0 if declared_in else line,
                    code_version=spec.code_version or "",
                )
            )
    return records


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


@dataclass
class LoadTimings:
    loading: float = 0.0


def load_mesh(root: Path, timings: LoadTimings | None = None) -> MeshGraph:
    """Every location of `root`/workspace.yaml, loaded in this process."""
    started = time.perf_counter()
    root = root.resolve()
    paths = {}
    with contextlib.suppress(Exception):  # GOV070 reports a broken dg.toml; loading goes on
        paths = {loc.name: loc.path for loc in read_locations(root)}
    graph = MeshGraph(root=str(root))
    entries = read_workspace_entries(root)
    _forget_modules({entry.module.split(".")[0] for entry in entries})
    for entry in entries:
        path = paths.get(entry.location)
        record = LocationRecord(
            name=entry.location,
            module=entry.module,
            path=_relative(path, root) if path else "",
        )
        graph.locations[entry.location] = record
        if entry.working_directory is None and path is not None:
            # As `dagster dev` with a working_directory: the project folder goes on sys.path
            # only while its module imports (fixtures and base trees are not installed; 50
            # folders left on sys.path would slow every later import).
            entry = WorkspaceEntry(entry.location, entry.module, str(path))
        try:
            repo = _load_repository(entry)
        except Exception as exc:
            record.load_error = _short_error(exc)
            continue
        record.jobs = sorted(j for j in repo.job_names if not j.startswith("__"))
        record.schedules = sorted(s.name for s in repo.schedule_defs)
        record.sensors = sorted(s.name for s in repo.sensor_defs)
        for asset in records_of(entry.location, repo, root):
            graph.add(asset)
    if timings is not None:
        timings.loading = time.perf_counter() - started
    return graph


def _forget_modules(packages: set[str]) -> None:
    """Drop already-imported location packages so a second load in one process (tests, a
    long-lived tool) sees the files as they are now, as a fresh code server would."""
    for name in list(sys.modules):
        if name.split(".")[0] in packages:
            del sys.modules[name]


def _short_error(exc: BaseException) -> str:
    """The user's error, not Dagster's wrapping (DagsterImportError etc. chain the cause)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = traceback.format_exception_only(type(exc), exc)
    return " ".join(line.strip() for line in lines)[:800]
