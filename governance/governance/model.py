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
    module: str
    path: str = ""  # repo-relative project folder (from dg.toml), "" if unknown
    load_error: str = ""
    jobs: list[str] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)
    sensors: list[str] = field(default_factory=list)


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
        graph.locations = {k: LocationRecord(**v) for k, v in data["locations"].items()}
        for records in data["assets"].values():
            for raw in records:
                columns = raw.pop("columns")
                graph.add(
                    AssetRecord(
                        **raw,
                        columns=None if columns is None else [Column(**c) for c in columns],
                    )
                )
        return graph

    def relative(self, path: str) -> str:
        try:
            return str(Path(path).resolve().relative_to(Path(self.root).resolve()))
        except ValueError:
            return path
