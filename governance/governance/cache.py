"""The incremental gate: each location's part of the graph, kept between runs and reused only
while everything it was built from is unchanged.

A location's entry is valid while
- the run-wide key holds: uv.lock (every third-party package), the loader's own code, the
  Python version and the MESH_*/DAGSTER_* environment;
- every *shared* file is unchanged: repo modules some location imported outside any
  location's folder (platform_core, ...), and every non-module file any location read (the
  dbt manifest, a component's defs.yaml). Reads are shared because platform_core caches
  them per process, so which location depends on one cannot be told;
- no DataProducts declaration it depends on changed. The product catalog reads every
  domain's declarations once per process, but another location sees a domain's products only
  through the keys it depends on (platform_core.products.catalog.depend_on_product): an edit
  of a declaration file reloads its own location and every location with a dependency on a
  product the file declared. Whatever could reach further reloads everything: a declaration
  file that is new, unparseable, or declares a product it did not declare before (a new key,
  a duplicate: the catalog then fails for every location);
- every dbt project whose prepared manifest a location read has the same sources (models,
  macros, seeds, config: a model edit makes the manifest stale, and only a load re-parses it);
- its own folder is unchanged (every file under it, so a new file in an autoloaded `defs/`
  counts), and so is every module of another location it imported;
- its workspace entry is declared the same way.
Failed loads are never cached. `meshctl check --no-cache` ignores and rewrites nothing; CI
runs cold.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from pathlib import Path

from governance.model import LocationLoad
from governance.workspace_entries import WorkspaceEntry

# Pickle, not JSON: 10,000 assets load in ~0.1 s instead of ~1 s. The file is the gate's own
# output under the repo's untracked .mesh/, read back only by the gate (like .pyc files).
# One index (keys and digests) plus one file per location's graph, so a re-check rewrites
# only what it reloaded.
CACHE_FILE = Path(".mesh") / "governance" / "graph-cache.pickle"
FORMAT = 5
_SKIPPED_DIRS = {"__pycache__", ".venv", ".git", "target", "logs", "dbt_packages"}


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_digest(path: Path) -> str:
    try:
        return digest(path.read_bytes())
    except OSError:
        return "missing"


def folder_digest(folder: Path) -> str:
    """Every file under a location's folder, by relative path and content."""
    h = hashlib.blake2b(digest_size=16)
    for directory, dirs, files in sorted(os.walk(folder)):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(directory) / name
            h.update(str(path.relative_to(folder)).encode() + b"\0")
            h.update(file_digest(path).encode())
    return h.hexdigest()


def dbt_sources_digest(project_dir: Path) -> str:
    """The files `dbt parse` reads in a dbt project (what makes its manifest stale)."""
    from platform_core.dbt.project import MeshDbtProject

    h = hashlib.blake2b(digest_size=16)
    for path in sorted(MeshDbtProject(project_dir, "").source_files()):
        h.update(str(path.relative_to(project_dir)).encode() + b"\0")
        h.update(file_digest(path).encode())
    return h.hexdigest()


def _dbt_project_of(path: Path) -> Path | None:
    """The dbt project whose target/ folder holds `path` (a prepared manifest), if any."""
    parts = path.parts
    for index in range(len(parts) - 1, 0, -1):
        if parts[index] == "target" and (Path(*parts[:index]) / "dbt_project.yml").is_file():
            return Path(*parts[:index])
    return None


def declared_refs(path: Path, domain: str) -> list[str] | None:
    """ "domain/name" of every product a DataProducts file declares (None: unreadable)."""
    from platform_core.declaration_yaml import declaration_documents

    try:
        documents = declaration_documents(path.read_text())
    except FileNotFoundError:
        return []
    except Exception:
        return None
    refs = []
    for data in documents:
        owner = str(data.get("domain") or domain)
        for product in data.get("products") or []:
            if not isinstance(product, dict) or "name" not in product:
                return None
            refs.append(f"{owner}/{product['name']}")
    return sorted(refs)


def _duplicates(refs: list[str]) -> set[str]:
    seen: set[str] = set()
    return {ref for ref in refs if ref in seen or seen.add(ref)}


def declaration_owners(root: Path) -> dict[str, str]:
    """Repo-relative DataProducts declaration file -> the location that declares it."""
    from platform_core.workspace import read_locations

    try:
        locations = read_locations(root)
    except Exception:
        return {}  # a broken dg.toml: GOV070 reports it, every declaration read stays shared
    return {
        str(path.relative_to(root)): location.name
        for location in locations
        for path in location.declaration_files
        if path.is_relative_to(root)
    }


def run_key(root: Path) -> str:
    here = Path(__file__).parent
    parts = [f"format={FORMAT}", sys.version, file_digest(root / "uv.lock")]
    parts += [file_digest(here / n) for n in ("loader.py", "watch.py", "model.py",
                                               "workspace_entries.py", "cache.py")]  # fmt: skip
    parts += sorted(
        f"{k}={v}" for k, v in os.environ.items() if k.startswith(("MESH_", "DAGSTER_"))
    )
    return digest("\n".join(parts).encode())


class GraphCache:
    def __init__(self, root: Path, data: dict, folders: list[str]) -> None:
        self.root = root
        self.folders = tuple(f + "/" for f in folders)
        self.path = root / CACHE_FILE
        key = run_key(root)
        shared, dbt = data.get("shared", {}), data.get("dbt", {})
        self.valid = (
            data.get("key") == key
            and all(file_digest(root / f) == d for f, d in shared.items())
            and all(dbt_sources_digest(root / f) == d for f, d in dbt.items())
        )  # fmt: skip
        self.owners = declaration_owners(root)
        self.affected: set[str] = set()  # product keys whose declaration changed
        if self.valid:
            affected = self._changed_declarations(data)
            self.valid = affected is not None
            self.affected = affected or set()
        empty = {"key": key, "shared": {}, "dbt": {}, "declarations": {}, "locations": {}}
        self.data = data if self.valid else empty
        self.data["key"] = key
        for file in self._preloaded():
            self.data["shared"][file] = file_digest(root / file)

    def _changed_declarations(self, data: dict) -> set[str] | None:
        """The product keys of declaration files changed since they were read (None: a change
        that may reach every location)."""
        recorded: dict[str, dict] = data.get("declarations", {})
        changed, unchanged_refs = {}, {}
        for file in recorded.keys() | self.owners.keys():
            stored = recorded.get(file)
            if stored is None:  # a new declaration file: unless it declares nothing, reload all
                refs = declared_refs(self.root / file, self.owners[file])
                if refs != []:
                    return None
                continue
            if file_digest(self.root / file) == stored["digest"]:
                unchanged_refs[file] = stored["refs"]
            else:
                changed[file] = stored
        if not changed:
            return set()
        affected: set[str] = set()
        before = [ref for stored in recorded.values() for ref in stored["refs"]]
        now: list[str] = [ref for refs in unchanged_refs.values() for ref in refs]
        for file, stored in changed.items():
            refs = declared_refs(self.root / file, stored["owner"])
            if refs is None or not set(refs) <= set(stored["refs"]):
                return None  # unreadable, or a product it did not declare before
            now += refs
            affected |= set(stored["refs"])
        if not _duplicates(now) <= _duplicates(before):
            return None  # a key declared twice: the catalog may fail for every location
        return affected

    def _preloaded(self) -> list[str]:
        """Repo modules imported before any location loads (platform_core through the gate's
        own imports): every location may use them, no LoadWatch sees them."""
        prefix, venv = str(self.root) + "/", str(self.root / ".venv") + "/"
        found = []
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if (
                isinstance(file, str)
                and file.startswith(prefix)
                and not file.startswith((venv, *self.folders))
            ):
                found.append(file[len(prefix) :])
        return found

    @classmethod
    def open(cls, root: Path, entries: list[WorkspaceEntry]) -> GraphCache:
        path = root / CACHE_FILE
        try:
            data = pickle.loads(path.read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError):
            data = {}  # unreadable or from an older gate: start cold
        folders = [e.folder for e in entries if e.folder]
        return cls(root, data if isinstance(data, dict) else {}, folders)

    def _folders(self, entry: WorkspaceEntry) -> str:
        return folder_digest(Path(entry.folder)) if entry.folder else ""

    def get(self, entry: WorkspaceEntry):
        stored = self.data["locations"].get(entry.location)
        if not stored or entry.error or stored["identity"] != entry.identity():
            return None
        if stored["folder"] != self._folders(entry):
            return None
        if any(file_digest(self.root / f) != d for f, d in stored["files"].items()):
            return None
        try:
            record, assets = pickle.loads((self.path.parent / stored["graph"]).read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError):
            return None
        if self.affected and any(
            asset.key in self.affected or not self.affected.isdisjoint(asset.deps)
            for asset in assets
        ):
            return None  # it depends on a product whose declaration changed
        return LocationLoad(record, assets)

    def put(self, entry: WorkspaceEntry, load) -> None:
        locations = self.data["locations"]
        reads = self._record_declarations(load.reads)  # what they say is true either way
        if load.record.load_error or not entry.folder:
            locations.pop(entry.location, None)  # never trust a failed or unplaced load
            return
        own: dict[str, str] = {}
        for file in sorted(load.modules):
            relative = str(Path(file).relative_to(self.root))
            if file.startswith(self.folders):
                own[relative] = file_digest(Path(file))
            else:
                self.data["shared"][relative] = file_digest(Path(file))
        for file in reads:
            self.data["shared"][str(Path(file).relative_to(self.root))] = file_digest(Path(file))
            project = _dbt_project_of(Path(file))
            if project is not None and project.is_relative_to(self.root):
                relative = str(project.relative_to(self.root))
                self.data["dbt"][relative] = dbt_sources_digest(project)
        graph = f"location-{digest(entry.location.encode())}.pickle"
        _write(self.path.parent / graph, (load.record, load.assets))
        locations[entry.location] = {
            "identity": entry.identity(),
            "folder": self._folders(entry),
            "files": own,
            "graph": graph,
        }

    def _record_declarations(self, reads: set[str]) -> list[str]:
        """Record the declaration files among `reads` (digest, owner, declared keys); the
        other reads are returned, to be shared."""
        others = []
        for file in sorted(reads):
            relative = str(Path(file).relative_to(self.root))
            owner = self.owners.get(relative)
            refs = declared_refs(Path(file), owner) if owner else None
            if owner is None or refs is None:
                others.append(file)
                continue
            self.data["declarations"][relative] = {
                "digest": file_digest(Path(file)), "owner": owner, "refs": refs,
            }  # fmt: skip
        return others

    def save(self) -> None:
        _write(self.path, self.data)


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    temporary.replace(path)  # atomic: a killed run leaves the previous file
