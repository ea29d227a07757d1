"""The mesh's one graph model: a plain, serialisable picture of every location's definitions.
The gate's rules read it (on the working tree and on a base ref's snapshot), and the headless
runner and branch preview plan on it (mesh_tooling.runner.LoadedMesh)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str = ""
    required: bool = False  # TableColumnConstraints(nullable=False)


@dataclass(frozen=True)
class CrossImport:
    """A module of another domain that a location imported while it loaded."""

    module: str
    domain: str
    file: str = ""  # repo-relative importing file ("" when no frame of it was on the stack)
    line: int = 0


@dataclass
class AssetRecord:
    key: str  # "domain/name", as AssetKey.to_user_string() writes it
    location: str
    description: str = ""
    owners: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)
    group: str = ""
    deps: list[str] = field(default_factory=list)
    materializable: bool = True
    columns: list[Column] | None = None  # None: no dagster/column_schema at all
    freshness: bool = False
    checks: list[str] = field(default_factory=list)
    blocking_checks: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)  # declared_in, deprecation_date, ...
    source_file: str = ""  # repo-relative file that declares it
    source_line: int = 0
    code_version: str = ""  # Dagster's code_version (Python products: declaration-code hashes)

    @classmethod
    def from_dict(cls, raw: dict) -> AssetRecord:
        raw = dict(raw)
        columns = raw.pop("columns")
        return cls(**raw, columns=None if columns is None else [Column(**c) for c in columns])

    @property
    def visibility(self) -> str:
        return self.tags.get("visibility", "")

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"

    @property
    def domain(self) -> str:
        return self.tags.get("domain", "")


@dataclass
class LocationRecord:
    name: str
    module: str  # module, package or file the entry names
    kind: str = "python_module"  # python_file | python_module | python_package | ...
    source: str = "workspace.yaml"  # the manifest that declares it (or dg.toml)
    line: int = 0  # its line there
    path: str = ""  # repo-relative folder of its code, "" if unknown
    entry_file: str = ""  # repo-relative file of its Definitions
    load_error: str = ""
    load_fix: str = ""
    jobs: list[str] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)
    sensors: list[str] = field(default_factory=list)
    asset_count: int = 0
    check_count: int = 0
    cross_imports: list[CrossImport] = field(default_factory=list)

    @property
    def loaded(self) -> bool:
        return not self.load_error

    @classmethod
    def from_dict(cls, raw: dict) -> LocationRecord:
        raw = dict(raw)
        imports = [CrossImport(**c) for c in raw.pop("cross_imports", [])]
        return cls(**raw, cross_imports=imports)


@dataclass
class LocationLoad:
    """One location's part of the graph, and the files it was built from (what the loader
    builds and the incremental cache keeps)."""

    record: LocationRecord
    assets: list[AssetRecord] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)  # absolute repo files it imported
    reads: set[str] = field(default_factory=set)  # absolute repo files it read (declarations)


@dataclass
class MeshGraph:
    root: str
    locations: dict[str, LocationRecord] = field(default_factory=dict)
    # key -> every definition of it (a key in two locations shows up twice)
    assets: dict[str, list[AssetRecord]] = field(default_factory=dict)

    def add(self, asset: AssetRecord) -> None:
        self.assets.setdefault(asset.key, []).append(asset)

    def producers(self) -> dict[str, AssetRecord]:
        """key -> the (first) materializable definition."""
        out: dict[str, AssetRecord] = {}
        for key, records in self.assets.items():
            for record in records:
                if record.materializable and key not in out:
                    out[key] = record
        return out

    def all_records(self) -> list[AssetRecord]:
        return [r for records in self.assets.values() for r in records]

    def consumers_of(self, key: str) -> list[AssetRecord]:
        return [r for r in self.all_records() if r.materializable and key in r.deps]

    def downstream_of(self, keys: Iterable[str]) -> set[str]:
        """`keys` and every materializable asset that depends on them, transitively."""
        children: dict[str, set[str]] = {}
        for record in self.all_records():
            if record.materializable:
                for dep in record.deps:
                    children.setdefault(dep, set()).add(record.key)
        result: set[str] = set()
        stack = list(keys)
        while stack:
            key = stack.pop()
            if key not in result:
                result.add(key)
                stack.extend(children.get(key, ()))
        return result

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MeshGraph:
        data = json.loads(text)
        graph = cls(root=data["root"])
        graph.locations = {k: LocationRecord.from_dict(v) for k, v in data["locations"].items()}
        for records in data["assets"].values():
            for raw in records:
                graph.add(AssetRecord.from_dict(raw))
        return graph

    def examined(self) -> dict[str, int]:
        """What the gate looked at: the figures of its summary line."""
        loaded = [loc for loc in self.locations.values() if loc.loaded]
        return {
            "locations": len(loaded),
            "assets": sum(len(records) for records in self.assets.values()),
            "checks": sum(loc.check_count for loc in loaded),
            "jobs": sum(len(loc.jobs) for loc in loaded),
            "schedules": sum(len(loc.schedules) for loc in loaded),
            "sensors": sum(len(loc.sensors) for loc in loaded),
        }

    def relative(self, path: str) -> str:
        try:
            return str(Path(path).resolve().relative_to(Path(self.root).resolve()))
        except ValueError:
            return path
