"""Load every code location the mesh declares the way a Dagster code server does, and turn
the definitions into the serialisable `MeshGraph`.

In-process by design (measured in bench/bench_governance.py): a code server per location
costs a Python start and `import dagster` each, which a 50-location mesh on 2 cores cannot
afford. The steps are a code server's, through public APIs: import the entry's module (or
file) with its working directory on sys.path, take its Definitions (the named attribute, else
`defs`, else the only one; `dg.load_defs` for an autoload_defs_module), then
`Definitions.get_repository_def()`, which resolves and validates them.

While a location loads, the loader watches what it really imports and reads (`LoadWatch`):
that catches a dynamic import of another domain's package (GOV050) and gives the incremental
cache (governance/cache.py) the files a location's graph depends on.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
from dagster.components.definitions import LazyDefinitions  # what @dg.definitions returns

from governance.cache import GraphCache
from governance.model import (
    AssetRecord,
    Column,
    CrossImport,
    LocationLoad,
    LocationRecord,
    MeshGraph,
)
from governance.watch import LoadWatch
from governance.workspace_entries import WorkspaceEntry, read_workspace_entries

__all__ = ["LoadTimings", "load_mesh", "read_workspace_entries"]

PASSTHROUGH_METADATA = ("declared_in", "deprecation_date", "product_version")


def _import_target(entry: WorkspaceEntry, working_directory: str | None) -> ModuleType:
    """The entry's module, imported as a code server imports it (public Python only)."""
    added = bool(working_directory) and working_directory not in sys.path
    if added:
        sys.path.insert(0, str(working_directory))
    try:
        if entry.kind != "python_file":
            return importlib.import_module(entry.target)
        # As Dagster loads a python_file: a module named after the file, in sys.modules.
        name = Path(entry.target).stem
        spec = importlib.util.spec_from_file_location(name, entry.target)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {entry.target} as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        if added:
            sys.path.remove(str(working_directory))


_DEFINITIONS_TYPES = (dg.Definitions, dg.RepositoryDefinition, LazyDefinitions)


def _definitions_of(module: ModuleType, entry: WorkspaceEntry) -> Any:
    """The one Definitions a module offers, found the way Dagster finds it: the `attribute`
    named in the entry, else `defs`, else the only Definitions object at the module's top."""
    if entry.attribute:
        if not hasattr(module, entry.attribute):
            raise ValueError(f"{entry.describe()} has no attribute '{entry.attribute}'")
        return getattr(module, entry.attribute)
    if isinstance(getattr(module, "defs", None), _DEFINITIONS_TYPES):
        return module.defs
    found = [v for v in vars(module).values() if isinstance(v, _DEFINITIONS_TYPES)]
    if len(found) != 1:
        raise ValueError(
            f"{entry.describe()} defines {len(found)} Definitions; a location has exactly "
            "one (name it with `attribute:` in workspace.yaml)"
        )
    return found[0]


def _load_repository(entry: WorkspaceEntry) -> dg.RepositoryDefinition:
    # As `dagster dev` with a working_directory: a project folder goes on sys.path only while
    # its module imports (50 folders left on sys.path would slow every later import).
    working_directory = entry.working_directory or entry.folder or None
    module = _import_target(entry, working_directory)
    if entry.kind == "autoload_defs_module":
        definitions: Any = dg.load_defs(module)
    else:
        definitions = _definitions_of(module, entry)
    if isinstance(definitions, LazyDefinitions):
        definitions = definitions()
    if isinstance(definitions, dg.RepositoryDefinition):
        return definitions
    if not isinstance(definitions, dg.Definitions):
        raise ValueError(f"{entry.describe()}: '{entry.attribute}' is not a Definitions object")
    # Resolves and validates the Definitions as a code server does when it loads them.
    return definitions.get_repository_def()


def _source_of(assets_def: dg.AssetsDefinition, root: Path) -> tuple[str, int]:
    """File and line of the function that computes the asset (for SARIF annotations)."""
    try:
        function = assets_def.node_def.compute_fn.decorated_fn  # type: ignore[union-attr]
        function = inspect.unwrap(function)
        file = Path(inspect.getsourcefile(function) or "")
        line = function.__code__.co_firstlineno
    except (AttributeError, TypeError):
        return "", 0
    return _relative(file, root), line


def _line_naming(path: Path, name: str) -> int:
    """First line that spells the asset's name in quotes (an AssetSpec has no function)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return 0
    pattern = re.compile(rf"""["']{re.escape(name)}["']""")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line):
            return number
    return 0


def _columns(metadata: dict[str, Any]) -> list[Column] | None:
    schema = metadata.get("dagster/column_schema")
    schema = getattr(schema, "schema", schema)  # TableSchemaMetadataValue -> TableSchema
    if not isinstance(schema, dg.TableSchema):
        return None
    return [
        Column(c.name, c.type, c.description or "", not c.constraints.nullable)
        for c in schema.columns
    ]


def _plain(value: Any) -> str:
    return str(getattr(value, "value", value))


def records_of(
    location: str, repo: dg.RepositoryDefinition, root: Path, entry_file: str = ""
) -> list[AssetRecord]:
    """Every asset the location defines, materializable or external (an AssetSpec it observes);
    not the stubs Dagster creates for another location's keys it depends on."""
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
            record_file, record_line = file, line
            if declared_in:
                record_file, record_line = _relative(Path(_plain(declared_in)), root), 0
            elif not record_file and entry_file:  # an external AssetSpec: where it is written
                record_file = entry_file
                record_line = _line_naming(root / entry_file, spec.key.path[-1])
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
                    source_line=record_line,
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
    loaded: list[str] = field(default_factory=list)  # locations imported in this run
    cached: list[str] = field(default_factory=list)  # locations taken from the cache


def _entry_file(entry: WorkspaceEntry, root: Path) -> str:
    if entry.kind == "python_file":
        return _relative(Path(entry.target), root)
    module = sys.modules.get(entry.target)
    file = getattr(module, "__file__", None)
    return _relative(Path(file), root) if file else ""


def load_location(entry: WorkspaceEntry, root: Path, entries: list[WorkspaceEntry]) -> LocationLoad:
    """Import one location fresh (no module of any location left over from an earlier load)
    and record its definitions, what it imported and read, and imports of other domains."""
    record = LocationRecord(
        name=entry.location, module=entry.target, kind=entry.kind, source=entry.source,
        line=entry.line, path=_relative(Path(entry.folder), root) if entry.folder else "",
    )  # fmt: skip
    load = LocationLoad(record)
    if entry.error:
        record.load_error = entry.error
        record.load_fix = entry.fix
        return load
    others = [e for e in entries if e.location != entry.location and not e.error]
    watch = LoadWatch(
        root=root,
        own_folder=entry.folder,
        other_packages={_top(e): e.location for e in others if _top(e)},
        other_folders={e.folder: e.location for e in others if e.folder},
    )
    forget_location_modules(entries)
    with watch:
        try:
            repo = _load_repository(entry)
        except Exception as exc:
            record.load_error = _short_error(exc)
            record.load_fix = (
                "fix the error above; `dagster definitions validate -w workspace.yaml` shows "
                "the full traceback"
            )
            load.modules, load.reads = watch.files()
            record.cross_imports = _cross_imports(watch, root)
            return load
    if not entry.folder:
        module_file = getattr(sys.modules.get(entry.target), "__file__", None)
        if module_file:  # a module's package folder, once it is imported
            package = Path(module_file).resolve().parent
            record.path = _relative(package, root)
    record.entry_file = _entry_file(entry, root)
    record.jobs = sorted(j for j in repo.job_names if not j.startswith("__"))
    record.schedules = sorted(s.name for s in repo.schedule_defs)
    record.sensors = sorted(s.name for s in repo.sensor_defs)
    record.cross_imports = _cross_imports(watch, root)
    load.assets = records_of(entry.location, repo, root, record.entry_file)
    record.asset_count = len(load.assets)
    record.check_count = sum(len(a.checks) for a in load.assets)
    load.modules, load.reads = watch.files()
    return load


def _cross_imports(watch: LoadWatch, root: Path) -> list[CrossImport]:
    return [
        CrossImport(module, domain, _relative(Path(file), root) if file else "", line)
        for module, domain, file, line in watch.cross_imports()
    ]


def _top(entry: WorkspaceEntry) -> str:
    if entry.kind == "python_file":
        return Path(entry.target).stem
    return entry.target.split(".")[0] if entry.target else ""


def load_mesh(
    root: Path, timings: LoadTimings | None = None, *, use_cache: bool = False
) -> MeshGraph:
    """Every location of the mesh, loaded in this process; with `use_cache`, a location whose
    inputs did not change since the last run comes from the cache (governance/cache.py)."""
    from platform_core.catalog import load_catalog

    started = time.perf_counter()
    root = root.resolve()
    load_catalog.cache_clear()  # as in a fresh code server: declarations are read as they are now
    timings = timings if timings is not None else LoadTimings()
    entries = read_workspace_entries(root)
    graph = MeshGraph(root=str(root))
    cache = GraphCache.open(root, entries) if use_cache else None
    for entry in entries:
        load = cache.get(entry) if cache else None
        if load is None:
            load = load_location(entry, root, entries)
            timings.loaded.append(entry.location)
            if cache:
                cache.put(entry, load)
        else:
            timings.cached.append(entry.location)
        graph.locations[entry.location] = load.record
        for asset in load.assets:
            graph.add(asset)
    if cache:
        cache.save()
    timings.loading = time.perf_counter() - started
    return graph


def forget_location_modules(entries: list[WorkspaceEntry]) -> None:
    """Drop every imported module of any location, so each location imports on its own, as a
    fresh code server would: then another domain's package it imports shows up as imported
    by it, and a second load in one process sees the files as they are now."""
    packages = {_top(e) for e in entries if _top(e)}
    folders = tuple(f + "/" for f in {e.folder for e in entries if e.folder})
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None) or ""
        if name.split(".")[0] in packages or (folders and file.startswith(folders)):
            del sys.modules[name]


def _short_error(exc: BaseException) -> str:
    """The user's error, not Dagster's wrapping (DagsterImportError etc. chain the cause)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = traceback.format_exception_only(type(exc), exc)
    return " ".join(line.strip() for line in lines)[:800]
