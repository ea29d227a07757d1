"""Where the mesh's dbt project lives, how dbt is invoked, and its prepared manifest.

The manifest is prepared once per environment target (`meshctl dbt-prepare`, the equivalent of
`dagster-dbt project prepare-and-package`, run when a deployment image is built) and every code
location reads the same file. Locally the manifest is re-parsed only when a project file is
newer than it, under a file lock, so model edits show up on the next load and the four
locations that `dagster dev` starts together parse at most once.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from platform_core.environment import Environment, current_environment
from platform_core.errors import DbtProjectError
from platform_core.workspace import platform_mesh_root

PROJECT_FOLDER = "dbt_project"
# Files whose change alters the manifest (models, macros, tests, project and profile config).
_PROJECT_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md"}


def dbt_environment(env: Environment) -> dict[str, str]:
    """The non-secret values profiles.yml reads, derived from the one environment helper."""
    if env.is_local:
        return {"MESH_DBT_DUCKDB_PATH": str(env.duckdb_path)}
    env.assert_may_write(env.warehouse_database)  # a branch can only ever name its clone
    return {"MESH_DBT_DATABASE": env.warehouse_database}


def dbt_executable() -> str:
    """The `dbt` of this interpreter's environment (the one dagster-dbt was installed with)."""
    beside = Path(sys.executable).with_name("dbt")
    found = str(beside) if beside.is_file() else shutil.which("dbt")
    if not found:
        raise DbtProjectError(
            "dbt is not installed in this environment. Fix: `uv sync` (platform-core depends on "
            "dbt-core and the adapters)."
        )
    return found


@dataclass(frozen=True)
class MeshDbtProject:
    """The dbt project folder and the prepared-manifest folder of one dbt target."""

    project_dir: Path
    target: str

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

    def parse(self, env: Environment) -> Path:
        """Run `dbt parse` for this target; raise DbtProjectError with dbt's own message."""
        self.prepared_dir.mkdir(parents=True, exist_ok=True)
        command = [
            dbt_executable(), "parse", "--project-dir", str(self.project_dir),
            "--profiles-dir", str(self.project_dir), "--target", self.target,
            "--target-path", str(self.prepared_dir), "--log-path", str(self.prepared_dir),
        ]  # fmt: skip
        result = subprocess.run(
            command,
            env={**os.environ, **dbt_environment(env), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise explain_parse_failure(self.project_dir, result.stdout + result.stderr)
        return self.manifest_path

    def prepare(self, env: Environment, *, force: bool = False) -> Path:
        """The manifest for this target, parsed first if forced or stale (one process at a time)."""
        self.prepared_dir.mkdir(parents=True, exist_ok=True)
        with (self.prepared_dir / ".prepare.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent locations wait, then find it fresh
            if force or self.is_stale():
                self.parse(env)
        return self.manifest_path

    def manifest(self, env: Environment) -> dict[str, Any]:
        """Locally: prepared when stale. Elsewhere: must have been prepared at build time."""
        if env.is_local:
            path = self.prepare(env)
        else:
            path = self.manifest_path
            if not path.is_file():
                raise DbtProjectError(
                    f"No prepared dbt manifest at {path} for target '{self.target}' ({env.name} "
                    "environment); code locations never parse dbt outside local development. "
                    "Fix: run `meshctl dbt-prepare` when building the deployment (CI does it "
                    "before packaging), with the deployment's environment variables set."
                )
        return _read_manifest(path, path.stat().st_mtime_ns)


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

_PRIVATE_REF = re.compile(
    r"Node (?P<node>[\w.]+) attempted to reference node (?P<ref>[\w.]+), which is not allowed "
    r"because the referenced node is private to the '(?P<group>\w+)' group"
)


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
    if match is None:
        return DbtProjectError(
            f"dbt parse of {project_dir} failed:\n{dbt_says}\n"
            "  Fix: correct the node dbt names above; run `meshctl dbt-prepare` to re-check."
        )
    node = match["node"].split(".")[-1]
    referenced = match["ref"].split(".")[-1]
    group = match["group"]
    domain, path = _model_domain(project_dir, node)
    public, owner = _group_facts(project_dir, group)
    where = path.relative_to(project_dir.parent) if path else node
    domain_owner = _group_facts(project_dir, domain)[1] if domain != "unknown" else ""
    return DbtProjectError(
        f"dbt parse of {project_dir} failed:\n{dbt_says}\n"
        f"Domain '{domain}': model '{node}' ({where}) refs '{referenced}', which is private to "
        f"domain '{group}'; another domain may only ref its public models.\n"
        f"  Fix: ref a public model of '{group}' ({', '.join(public) or 'none yet'}), or ask "
        f"its owners ({owner}) to make '{referenced}' public with an enforced contract.",
        domain=None if domain == "unknown" else domain,
        owners=(domain_owner,) if domain_owner else (),
    )
