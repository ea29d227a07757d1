"""Where the mesh's dbt project lives, how dbt is invoked, and its prepared manifest.

The project is dagster-dbt's `DbtProject` (one target path per dbt target), prepared by
platform_core.dbt.preparer. This module stays free of dagster_dbt's import (~1.7 s): the
catalog of every location reads the prepared manifest through it. A model the preparation had
to disable (see preparer) is in `quarantine()`: only its domain's location fails.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml

from platform_core.environment import Environment, current_environment
from platform_core.errors import DbtProjectError
from platform_core.workspace import platform_mesh_root

PROJECT_FOLDER = "dbt_project"
# Files whose change alters the manifest (models, macros, tests, project and profile config).
_PROJECT_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md"}
QUARANTINE_FILE = "quarantine.json"
QUARANTINED_PROJECT = "quarantined_project"


def dbt_environment(env: Environment) -> dict[str, str]:
    """The non-secret values profiles.yml reads, derived from the one environment helper."""
    if env.is_local:
        return {"MESH_DBT_DUCKDB_PATH": str(env.duckdb_path)}
    env.assert_may_write(env.warehouse_database)  # a branch can only ever name its clone
    return {"MESH_DBT_DATABASE": env.warehouse_database}


def dbt_executable() -> str:
    """`mesh-dbt` of this interpreter's environment: dbt, answering `--version` offline.

    dagster-dbt runs `<dbt_executable> --version` once per resource, and dbt's own `--version`
    looks up the latest release online (seconds per run); platform_core.dbt.executable answers
    it from the installed dbt-core and hands everything else to the `dbt` beside it.
    """
    for name in ("mesh-dbt", "dbt"):
        beside = Path(sys.executable).with_name(name)
        if beside.is_file():
            return str(beside)
    found = shutil.which("dbt")
    if not found:
        raise DbtProjectError(
            "dbt is not installed in this environment. Fix: `uv sync` (platform-core depends on "
            "dbt-core and the adapters)."
        )
    return found


@dataclass(frozen=True)
class QuarantinedModel:
    """A model dbt refused, disabled so the rest of the project parses."""

    domain: str
    node: str
    message: str
    owners: tuple[str, ...]


@dataclass(frozen=True)
class MeshDbtProject:
    """The mesh's dbt project for one dbt target: a `DbtProject` and how it is prepared."""

    project_dir: Path
    target: str

    @cached_property
    def dbt_project(self) -> Any:  # dagster_dbt.DbtProject (imported lazily: ~1.7 s)
        from dagster_dbt import DbtProject

        return DbtProject(
            project_dir=self.project_dir,
            target_path=Path("target") / self.target,
            profiles_dir=self.project_dir,
            target=self.target,
        )

    @property
    def prepared_dir(self) -> Path:
        return self.project_dir / "target" / self.target

    @property
    def manifest_path(self) -> Path:
        return self.prepared_dir / "manifest.json"

    def source_files(self) -> list[Path]:
        files = [self.project_dir / "dbt_project.yml", self.project_dir / "profiles.yml"]
        for folder in ("models", "macros", "tests", "seeds", "snapshots"):
            root = self.project_dir / folder
            if root.is_dir():
                files.extend(p for p in root.rglob("*") if p.suffix in _PROJECT_SUFFIXES)
        return [p for p in files if p.is_file()]

    def is_stale(self) -> bool:
        if not self.manifest_path.is_file():
            return True
        prepared = self.manifest_path.stat().st_mtime
        return any(p.stat().st_mtime > prepared for p in self.source_files())

    def read_manifest(self, env: Environment) -> dict[str, Any]:
        """The prepared manifest as it is (platform_core.dbt.preparer prepares it)."""
        path = self.manifest_path
        if not path.is_file():
            if env.is_local:
                raise DbtProjectError(
                    f"No prepared dbt manifest at {path}. Fix: `meshctl dbt-prepare`."
                )
            raise DbtProjectError(
                f"No prepared dbt manifest at {path} for target '{self.target}' ({env.name} "
                "environment); code locations never parse dbt outside local development. "
                "Fix: run `meshctl dbt-prepare` when building the deployment (CI does it "
                "before packaging), with the deployment's environment variables set."
            )
        return _read_manifest(path, path.stat().st_mtime_ns)

    def needs_preparation(self, env: Environment) -> bool:
        """Locally a stale manifest is re-parsed; elsewhere it was prepared at build time."""
        return env.is_local and self.is_stale()

    def quarantine(self) -> dict[str, QuarantinedModel]:
        """domain -> the first of its models the last preparation had to disable."""
        path = self.prepared_dir / QUARANTINE_FILE
        if not path.is_file():
            return {}
        found: dict[str, QuarantinedModel] = {}
        for entry in json.loads(path.read_text()):
            model = QuarantinedModel(
                entry["domain"], entry["node"], entry["message"], tuple(entry["owners"])
            )
            found.setdefault(model.domain, model)
        return found

    def runnable_project_dir(self) -> Path:
        """The folder dbt runs in: the project, or its copy with the quarantined models off."""
        copy = self.prepared_dir / QUARANTINED_PROJECT
        return copy if (self.prepared_dir / QUARANTINE_FILE).is_file() else self.project_dir

    def runnable_dbt_project(self) -> Any:  # dagster_dbt.DbtProject
        """The `DbtProject` runs use: this one, or its copy while a model is quarantined."""
        folder = self.runnable_project_dir()
        if folder == self.project_dir:
            return self.dbt_project
        from dagster_dbt import DbtProject

        return DbtProject(project_dir=folder, profiles_dir=folder, target=self.target)


@cache
def _read_manifest(path: Path, mtime_ns: int) -> dict[str, Any]:
    # Keyed on mtime: all locations loaded in one process share one parsed copy.
    return json.loads(path.read_bytes())


def mesh_dbt_project(env: Environment | None = None, root: Path | None = None) -> MeshDbtProject:
    env = env or current_environment()
    folder = (root or platform_mesh_root()) / PROJECT_FOLDER
    if not (folder / "dbt_project.yml").is_file():
        raise DbtProjectError(
            f"No dbt project at {folder}. Fix: the mesh's dbt project lives in {PROJECT_FOLDER}/ "
            "at the repository root (dbt_project.yml, profiles.yml, models/<domain>/)."
        )
    return MeshDbtProject(folder.resolve(), env.dbt_target)


# --- turning dbt's errors into the mesh's (the node, the rule, the fix) -----------------------


def offending_model(project_dir: Path, failure: str) -> tuple[Path, QuarantinedModel] | None:
    """The model a dbt parse failure is about, when dbt names one the mesh can disable."""
    match = _node_at_fault(_dbt_error_text(failure))
    if match is None:
        return None
    node = match["node"].split(".")[-1]
    domain, path = _model_domain(project_dir, node)
    if path is None or domain == "unknown":
        return None
    error = explain_parse_failure(project_dir, failure)
    return path, QuarantinedModel(domain, node, str(error), error.owners)


_PRIVATE_REF = re.compile(
    r"Node (?P<node>[\w.]+) attempted to reference node (?P<ref>[\w.]+), which is not allowed "
    r"because the referenced node is private to the '(?P<group>\w+)' group"
)
_DISABLED_DEPENDENCY = re.compile(
    r"Model '(?P<node>[\w.]+)' \([^)]*\) depends on a node named '(?P<ref>[\w.]+)'"
    r"(?: with version '[\w.]+')? which is disabled"
)
# Any other error dbt pins on one model (its Jinja, its config, a ref to nothing).
_MODEL_ERROR = re.compile(
    r"(?:Compilation|Parsing) Error in model (?P<node>\w+) \(|"
    r"Model '(?P<node2>[\w.]+)' \([^)]*\) depends on a node named '[\w.]+'"
)


def _node_at_fault(dbt_says: str) -> dict[str, str] | None:
    """The model dbt's error is about, if it names one: {"node": ..., maybe "ref", "group"}."""
    text = " ".join(dbt_says.split())
    for pattern in (_PRIVATE_REF, _DISABLED_DEPENDENCY, _MODEL_ERROR):
        found = pattern.search(text)
        if found is not None:
            groups = {k: v for k, v in found.groupdict().items() if v is not None}
            return {"node": groups.pop("node2", None) or groups.pop("node"), **groups}
    return None


def _dbt_error_text(output: str) -> str:
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "Encountered an error" in line), None)
    relevant = lines[start:] if start is not None else lines[-15:]
    return "\n".join(re.sub(r"\x1b\[[0-9;]*m", "", line) for line in relevant).strip()


def _model_domain(project_dir: Path, model_name: str) -> tuple[str, Path | None]:
    for path in (project_dir / "models").rglob(f"{model_name}.sql"):
        return path.relative_to(project_dir / "models").parts[0], path
    return "unknown", None


def _group_facts(project_dir: Path, group: str) -> tuple[list[str], str]:
    """Public model names and owner of `group`, read from the YAML (no manifest exists yet)."""
    public, owner = [], f"team:{group}"
    for path in (project_dir / "models").rglob("*.yml"):
        data = yaml.safe_load(path.read_text()) or {}
        for entry in data.get("groups") or []:
            if entry.get("name") == group and entry.get("owner"):
                details = entry["owner"]
                owner = ", ".join(str(v) for v in (details.get("name"), details.get("email")) if v)
        if path.relative_to(project_dir / "models").parts[0] != group:
            continue
        for model in data.get("models") or []:
            access = (model.get("config") or {}).get("access") or model.get("access")
            if access == "public":
                public.append(model["name"])
    return sorted(public), owner


def explain_parse_failure(project_dir: Path, output: str) -> DbtProjectError:
    dbt_says = _dbt_error_text(output)
    match = _PRIVATE_REF.search(" ".join(dbt_says.split()))
    disabled = _DISABLED_DEPENDENCY.search(" ".join(dbt_says.split()))
    if match is None and disabled is not None:
        return _explain_disabled_dependency(project_dir, dbt_says, disabled)
    if match is None:
        return _explain_model_error(project_dir, dbt_says)
    node = match["node"].split(".")[-1]
    referenced = match["ref"].split(".")[-1]
    group = match["group"]
    domain, path = _model_domain(project_dir, node)
    public, owner = _group_facts(project_dir, group)
    where = path.relative_to(project_dir.parent) if path else node
    return _domain_error(
        project_dir,
        dbt_says,
        domain,
        f"Domain '{domain}': model '{node}' ({where}) refs '{referenced}', which is private to "
        f"domain '{group}'; another domain may only ref its public models.\n"
        f"  Fix: ref a public model of '{group}' ({', '.join(public) or 'none yet'}), or ask "
        f"its owners ({owner}) to make '{referenced}' public with an enforced contract.",
    )


def _domain_error(project_dir: Path, dbt_says: str, domain: str, text: str) -> DbtProjectError:
    """dbt's own words, then `text`, owned by `domain` (and its owners) unless it is unknown."""
    known = domain != "unknown"
    owner = _group_facts(project_dir, domain)[1] if known else ""
    return DbtProjectError(
        f"dbt parse of {project_dir} failed:\n{dbt_says}\n{text}",
        domain=domain if known else None,
        owners=(owner,) if owner else (),
    )


def _explain_disabled_dependency(
    project_dir: Path, dbt_says: str, match: re.Match[str]
) -> DbtProjectError:
    node, referenced = match["node"].split(".")[-1], match["ref"]
    domain, path = _model_domain(project_dir, node)
    ref_domain = _model_domain(project_dir, referenced)[0]
    where = path.relative_to(project_dir.parent) if path else node
    return _domain_error(
        project_dir,
        dbt_says,
        domain,
        f"Domain '{domain}': model '{node}' ({where}) refs '{referenced}' of domain "
        f"'{ref_domain}', which is disabled until that domain fixes it (see its location's "
        "error).\n  Fix: wait for that fix, or ref a public model that loads.",
    )


def _explain_model_error(project_dir: Path, dbt_says: str) -> DbtProjectError:
    fix = "  Fix: correct the node dbt names above; run `meshctl dbt-prepare` to re-check."
    at_fault = _node_at_fault(dbt_says)
    domain, path = (
        _model_domain(project_dir, at_fault["node"].split(".")[-1])
        if at_fault
        else ("unknown", None)
    )
    if path is None or domain == "unknown":
        return DbtProjectError(f"dbt parse of {project_dir} failed:\n{dbt_says}\n{fix}")
    return _domain_error(
        project_dir,
        dbt_says,
        domain,
        f"Domain '{domain}': model '{path.stem}' ({path.relative_to(project_dir.parent)}) does "
        f"not parse.\n{fix}",
    )
