"""What a branch changes against a base git ref: locations to deploy, assets to re-run.

A minimal asset-level diff (the governance impact analysis can replace it):
- platform_core/, the lock file, the root pyproject or dg.toml changed: everything changed;
- a location's code changed (any file but its declaration files, defs/**/defs.yaml): every asset of that location;
- a location's declaration file changed: the products whose declaration differs (or is new);
- a dbt model file under dbt_project/models/<domain>/ changed: every asset of that domain's
  location (like its Python code); any other dbt_project file (dbt_project.yml, macros,
  profiles): everything, since every location loads the one shared manifest.
Declarations are the public interface, so a declaration change also redeploys the locations
that consume the changed products: through their declared inputs, or from dbt models
that read them with source() or ref().
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from platform_core.declaration_yaml import declaration_documents
from platform_core.errors import ConfigurationError
from platform_core.workspace import Location, read_locations

# Files every location's image and behaviour depend on.
GLOBAL_FILES = ("pyproject.toml", "uv.lock", "dg.toml", "deployment/Dockerfile")
GLOBAL_FOLDERS = ("platform_core/",)
DBT_PROJECT = "dbt_project/"
DBT_MODELS = "dbt_project/models/"
_DBT_SOURCE = re.compile(r"""source\(\s*['"](\w+)['"]\s*,\s*['"](\w+)['"]\s*\)""")
_DBT_REF = re.compile(r"""ref\(\s*['"](\w+)['"]""")


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise ConfigurationError(
            f"git {' '.join(args)} failed in {root}: {result.stderr.strip()}. "
            "Fix: run inside the mesh's git checkout and pass an existing --base ref "
            "(in CI fetch it first, e.g. actions/checkout with fetch-depth: 0)."
        )
    return result.stdout


def merge_base(root: Path, base: str) -> str:
    return _git(root, "merge-base", base, "HEAD").strip()


def changed_files(root: Path, base_commit: str) -> list[str]:
    """Files that differ from `base_commit`: commits, staged and unstaged edits, new files."""
    tracked = _git(root, "diff", "--name-only", base_commit).splitlines()
    untracked = _git(root, "ls-files", "--others", "--exclude-standard").splitlines()
    return sorted({*tracked, *untracked})


def _declarations(text: str | None, domain: str = "") -> dict[str, Any]:
    """Product declarations of a DataProducts defs.yaml text, keyed "domain/name"."""
    try:
        documents = declaration_documents(text)
    except yaml.YAMLError:
        return {}
    found: dict[str, Any] = {}
    for data in documents:
        owner = str(data.get("domain") or domain)
        for p in data.get("products") or []:
            if isinstance(p, dict) and "name" in p:
                found[f"{owner}/{p['name']}"] = p
    return found


def _was_declaration(root: Path, commit: str, path: str) -> bool:
    """A deleted (or moved) declaration file: its products changed, not the location's code."""
    return bool(_declarations(_file_at(root, commit, path))) and not (root / path).exists()


def _file_at(root: Path, commit: str, path: str) -> str | None:
    result = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True, text=True
    )
    return result.stdout if result.returncode == 0 else None


@dataclass
class ChangeSet:
    base: str
    files: list[str]
    everything: bool = False
    code_changed: set[str] = field(default_factory=set)  # locations whose code changed
    products_changed: set[str] = field(default_factory=set)  # "domain/name" declarations
    locations: set[str] = field(default_factory=set)  # what to build and deploy

    def as_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "files": self.files,
            "everything": self.everything,
            "code_changed": sorted(self.code_changed),
            "products_changed": sorted(self.products_changed),
            "locations": sorted(self.locations),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChangeSet:
        return cls(
            base=data["base"],
            files=list(data["files"]),
            everything=bool(data["everything"]),
            code_changed=set(data["code_changed"]),
            products_changed=set(data["products_changed"]),
            locations=set(data["locations"]),
        )

    def changed_assets(self, producer: Mapping[Any, str]) -> set[Any]:
        """The AssetKeys (keys of `producer`, asset -> location) this change touches."""
        return {
            key
            for key, location in producer.items()
            if self.everything
            or location in self.code_changed
            or key.to_user_string() in self.products_changed
        }


def _owner(path: str, locations: Iterable[Location], root: Path) -> Location | None:
    for location in locations:
        if path.startswith(f"{location.path.relative_to(root).as_posix()}/"):
            return location
    return None


def _consumers(root: Path, locations: Iterable[Location], refs: set[str]) -> set[str]:
    """Locations whose declared inputs name one of `refs`."""
    consumers = set()
    for location in locations:
        for path in location.declaration_files:
            for product in _declarations(path.read_text()).values():
                if refs & set(product.get("inputs") or []):
                    consumers.add(location.name)
    return consumers


def _dbt_consumers(root: Path, refs: set[str]) -> set[str]:
    """Domains whose dbt models read one of `refs` ("domain/name") via source() or ref()."""
    models = root / DBT_MODELS
    if not refs or not models.is_dir():
        return set()
    files = list(models.rglob("*.sql"))
    domain_of_model = {f.stem: f.relative_to(models).parts[0] for f in files}
    consumers = set()
    for sql in files:
        text = sql.read_text()
        used = {f"{source}/{table}" for source, table in _DBT_SOURCE.findall(text)}
        used |= {
            f"{domain_of_model[m]}/{m}" for m in _DBT_REF.findall(text) if m in domain_of_model
        }
        if used & refs:
            consumers.add(sql.relative_to(models).parts[0])
    return consumers


def _dbt_location(path: str, locations: Iterable[Location]) -> Location | None:
    """The location of a file under dbt_project/models/<domain>/ (groups are domains)."""
    domain = path.removeprefix(DBT_MODELS).split("/", 1)[0]
    return next((loc for loc in locations if loc.name == domain), None)


def detect_changes(root: Path, base: str) -> ChangeSet:
    base_commit = merge_base(root, base)
    files = changed_files(root, base_commit)
    locations = read_locations(root)
    changes = ChangeSet(base=base_commit, files=files)
    for path in files:
        if path in GLOBAL_FILES or path.startswith(GLOBAL_FOLDERS):
            changes.everything = True
            continue
        if path.startswith(DBT_PROJECT):
            dbt_location = _dbt_location(path, locations) if path.startswith(DBT_MODELS) else None
            if dbt_location is None:
                changes.everything = True
            else:
                changes.code_changed.add(dbt_location.name)
            continue
        location = _owner(path, locations, root)
        if location is None:
            continue  # docs, workflows, deployment manifests: no location's behaviour
        declared = {f.relative_to(root).as_posix() for f in location.declaration_files}
        if path not in declared and not _was_declaration(root, base_commit, path):
            changes.code_changed.add(location.name)
            continue
        before = _declarations(_file_at(root, base_commit, path), location.name)
        now_file = root / path
        after = _declarations(now_file.read_text() if now_file.is_file() else None, location.name)
        for ref in before.keys() | after.keys():
            if before.get(ref) != after.get(ref):
                changes.products_changed.add(ref)
        changes.locations.add(location.name)
    if changes.everything:
        changes.locations = {loc.name for loc in locations}
    else:
        changes.locations |= changes.code_changed
        changes.locations |= _consumers(root, locations, changes.products_changed)
        known = {loc.name for loc in locations}
        changes.locations |= _dbt_consumers(root, changes.products_changed) & known
    return changes


@dataclass(frozen=True)
class Impact:
    """Asset keys (as "domain/name") a change touches and everything downstream of them."""

    changed: list[str]
    downstream: list[str]  # not changed themselves, but re-run because an upstream changed

    @classmethod
    def of(cls, changes: ChangeSet, graph: Any) -> Impact:
        """`graph` is a mesh_tooling.runner.LoadedMesh of the branch's code."""
        changed = changes.changed_assets(graph.producer)
        closure = graph.downstream_closure(changed)
        return cls(
            sorted(k.to_user_string() for k in changed),
            sorted(k.to_user_string() for k in closure - changed),
        )


def render_markdown(changes: ChangeSet, impact: Impact, owners: Mapping[str, list[str]]) -> str:
    """The pull request comment: what changed, who downstream is affected, what deploys."""

    def rows(keys: list[str]) -> list[str]:
        return [
            f"| `{key}` | {', '.join(owners.get(key.split('/', 1)[0], [])) or '-'} |"
            for key in keys
        ]

    lines = [
        "### Mesh impact of this pull request",
        f"Compared with `{changes.base[:12]}`; {len(changes.files)} files changed.",
        "",
        f"**Locations to deploy:** {', '.join(sorted(changes.locations)) or 'none'}",
        "",
    ]
    if impact.changed:
        lines += ["| changed asset | owners |", "|---|---|", *rows(impact.changed), ""]
    if impact.downstream:
        lines += ["| affected downstream | owners |", "|---|---|", *rows(impact.downstream), ""]
    if not impact.changed:
        lines.append("No asset changes.")
    return "\n".join(lines)
