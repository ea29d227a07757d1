"""The incremental gate: each location's part of the graph, kept between runs and reused only
while everything it was built from is unchanged.

A location's entry is valid while
- the run-wide key holds: uv.lock (every third-party package), the loader's own code, the
  Python version and the MESH_*/DAGSTER_* environment;
- every *shared* file is unchanged: repo modules some location imported outside any
  location's folder (platform_core, ...), and every non-module file any location read (a
  a DataProducts defs.yaml, the dbt manifest). Reads are shared because platform_core caches
  them per process (the product catalog reads every domain's declarations once, during
  whichever location loads first), so which location depends on a declaration cannot be
  told: a declaration edit reloads every location, a code edit only its own;
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

from governance.workspace_entries import WorkspaceEntry

# Pickle, not JSON: 10,000 assets load in ~0.1 s instead of ~1 s. The file is the gate's own
# output under the repo's untracked .mesh/, read back only by the gate (like .pyc files).
# One index (keys and digests) plus one file per location's graph, so a re-check rewrites
# only what it reloaded.
CACHE_FILE = Path(".mesh") / "governance" / "graph-cache.pickle"
FORMAT = 4
_SKIPPED_DIRS = {"__pycache__", ".venv", ".git", "target", "logs", "dbt_packages"}


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_digest(path: Path) -> str:
    try:
        return _digest(path.read_bytes())
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


def run_key(root: Path) -> str:
    here = Path(__file__).parent
    parts = [f"format={FORMAT}", sys.version, file_digest(root / "uv.lock")]
    parts += [file_digest(here / n) for n in ("loader.py", "watch.py", "model.py",
                                               "workspace_entries.py", "cache.py")]  # fmt: skip
    parts += sorted(
        f"{k}={v}" for k, v in os.environ.items() if k.startswith(("MESH_", "DAGSTER_"))
    )
    return _digest("\n".join(parts).encode())


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
        empty = {"key": key, "shared": {}, "dbt": {}, "locations": {}}
        self.data = data if self.valid else empty
        self.data["key"] = key
        for file in self._preloaded():
            self.data["shared"][file] = file_digest(root / file)

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
        from governance.loader import LocationLoad

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
        return LocationLoad(record, assets)

    def put(self, entry: WorkspaceEntry, load) -> None:
        locations = self.data["locations"]
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
        for file in sorted(load.reads):
            self.data["shared"][str(Path(file).relative_to(self.root))] = file_digest(Path(file))
            project = _dbt_project_of(Path(file))
            if project is not None and project.is_relative_to(self.root):
                relative = str(project.relative_to(self.root))
                self.data["dbt"][relative] = dbt_sources_digest(project)
        graph = f"location-{_digest(entry.location.encode())}.pickle"
        _write(self.path.parent / graph, (load.record, load.assets))
        locations[entry.location] = {
            "identity": entry.identity(),
            "folder": self._folders(entry),
            "files": own,
            "graph": graph,
        }

    def save(self) -> None:
        _write(self.path, self.data)


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    temporary.replace(path)  # atomic: a killed run leaves the previous file
