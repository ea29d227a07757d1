"""The base side of the impact model (the base ref's graph, its dbt manifest and its products'
ODCS contracts), kept per base commit so that repeated previews and impact reports against the
same base skip loading it, and skip extracting the base tree from git at all.

An entry is found by a key of everything the two depend on: the base commit (its whole tree),
the lock file and Python version of the interpreter that loads it, the gate's own code (the
snapshot is the working tree's governance package run over the base tree), the dbt target and
the MESH_*/DAGSTER_* environment plus PYTHONPATH. A new commit on the base is a new key. Each
entry holds the digests of its files: an entry that is unreadable or does not match them is
reported on stderr, deleted and rebuilt, never trusted. A base with a location that failed to
load is not kept (the failure may be of the moment). Entries live under
`<MESH_HOME>/cache/impact-base/`; delete the folder to empty it. An entry whose folder ends in
`-manifest` holds a base's dbt manifest alone (governance.base_derive: a change that edits only
dbt models' SQL needs no more of the base).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from governance.cache import digest, file_digest
from governance.contracts import ProductContract
from governance.model import MeshGraph

FORMAT = 2  # 2: the contracts are kept too
FOLDER = Path("cache") / "impact-base"
_GRAPH, _MANIFEST, _CONTRACTS, _META = "graph.json", "manifest.json", "contracts.json", "meta.json"


def _gate_code_digest() -> str:
    package = Path(__file__).parent
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def base_key(root: Path, base_commit: str, dbt_target: str) -> str:
    parts = [
        f"format={FORMAT}", f"commit={base_commit}", sys.version, f"dbt_target={dbt_target}",
        f"lock={file_digest(root / 'uv.lock')}", f"gate={_gate_code_digest()}",
        f"PYTHONPATH={os.environ.get('PYTHONPATH', '')}",
    ]  # fmt: skip
    # MESH_DBT_*: what dbt's profiles read, derived from the environment (MESH_HOME, ...) and
    # set in os.environ by whichever dbt parse ran first in this process.
    parts += sorted(
        f"{k}={v}"
        for k, v in os.environ.items()
        if k.startswith(("MESH_", "DAGSTER_")) and not k.startswith("MESH_DBT_")
    )
    return digest("\n".join(parts).encode())


@dataclass
class BaseSide:
    graph: MeshGraph
    manifest: dict[str, Any] | None  # the base tree's prepared dbt manifest (None: no dbt)
    contracts: dict[str, ProductContract] = field(default_factory=dict)  # public products'

    def to_json(self) -> str:
        """One document (the base side's hand-over from the process that loaded it)."""
        contracts = {ref: c.as_json() for ref, c in self.contracts.items()}
        return json.dumps(
            {"graph": self.graph.to_json(), "manifest": self.manifest, "contracts": contracts}
        )

    @classmethod
    def from_json(cls, text: str) -> BaseSide:
        data = json.loads(text)
        contracts = {ref: ProductContract.from_json(c) for ref, c in data["contracts"].items()}
        return cls(MeshGraph.from_json(data["graph"]), data["manifest"], contracts)


class BaseCache:
    def __init__(self, mesh_home: Path, key: str) -> None:
        self.folder = mesh_home / FOLDER / key

    def get(self) -> BaseSide | None:
        """The stored base side; None if there is none, or it is broken (then said on stderr
        and deleted, so the caller rebuilds it)."""
        if not self.folder.exists():
            return None
        try:
            meta = json.loads((self.folder / _META).read_text())
            texts = {}
            for name in (_GRAPH, _MANIFEST, _CONTRACTS):
                expected = meta["files"].get(name)
                if expected is None:
                    continue
                data = (self.folder / name).read_bytes()
                if digest(data) != expected:
                    raise ValueError(f"{name} does not match its recorded digest")
                texts[name] = data.decode()
            graph = MeshGraph.from_json(texts[_GRAPH])
            manifest = json.loads(texts[_MANIFEST]) if _MANIFEST in texts else None
            contracts = {
                ref: ProductContract.from_json(data)
                for ref, data in json.loads(texts[_CONTRACTS]).items()
            }
        except Exception as exc:  # any damage at all: rebuild, never trust
            print(
                f"meshctl: the cached base graph in {self.folder} is unreadable "
                f"({type(exc).__name__}: {str(exc)[:200]}); rebuilding it",
                file=sys.stderr,
            )
            shutil.rmtree(self.folder, ignore_errors=True)
            return None
        return BaseSide(graph, manifest, contracts)

    def put(self, side: BaseSide) -> None:
        if any(location.load_error for location in side.graph.locations.values()):
            return  # a failed load may be of the moment: load it again next time
        contracts = {ref: c.as_json() for ref, c in side.contracts.items()}
        files = {_GRAPH: side.graph.to_json().encode(), _CONTRACTS: json.dumps(contracts).encode()}
        if side.manifest is not None:
            files[_MANIFEST] = json.dumps(side.manifest).encode()
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.folder.parent))
        for name, data in files.items():
            (staging / name).write_bytes(data)
        meta = {"format": FORMAT, "files": {name: digest(data) for name, data in files.items()}}
        (staging / _META).write_text(json.dumps(meta))
        shutil.rmtree(self.folder, ignore_errors=True)
        try:
            staging.rename(self.folder)  # whole entries only: a killed run leaves no half entry
        except OSError:  # another preview stored the same entry meanwhile
            shutil.rmtree(staging, ignore_errors=True)
