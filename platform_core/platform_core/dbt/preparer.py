"""Preparing the mesh's dbt project: dagster-dbt's `DagsterDbtProjectPreparer`, the mesh's way.

It differs from dagster-dbt's in three ways:
- "development" is the mesh's local environment (platform_core.environment), not
  `DAGSTER_IS_DEV_CLI`, which every `dg` command sets, in CI too;
- locally the manifest is re-parsed only when a project file is newer than it, under a file
  lock, so model edits show up on the next load and the locations that `dagster dev` starts
  together parse at most once;
- a model that breaks a rule dbt enforces for the mesh (a ref to another group's private
  model, a ref to a disabled model) is quarantined: dbt parses a copy of the project with it
  disabled (`+enabled: false`), the model is recorded with dbt's error and the fix, and only
  its domain's location fails to load; the others load and run on the copy.
Deployments prepare at image build (`python -m platform_core.dbt`, as
`dagster-dbt project prepare-and-package` would) and never parse at load time.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml
from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject

from platform_core.dbt.project import (
    QUARANTINE_FILE,
    QUARANTINED_PROJECT,
    MeshDbtProject,
    QuarantinedModel,
    dbt_environment,
    dbt_executable,
    explain_parse_failure,
    offending_model,
)
from platform_core.environment import Environment

_MAX_QUARANTINED = 20  # a bound on re-parses; beyond it the failure is not one model's
PARSE = ["parse", "--quiet"]


class MeshDbtProjectPreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer, the mesh's way (see the module docstring)."""

    def __init__(self, mesh_project: MeshDbtProject, env: Environment) -> None:
        super().__init__(prepare_project_cli_args=PARSE)
        self._mesh_project = mesh_project
        self._env = env

    def using_dagster_dev(self) -> bool:
        return self._env.is_local

    def prepare_if_dev(self, project: DbtProject) -> None:
        if self.using_dagster_dev() and self._mesh_project.is_stale():
            super().prepare_if_dev(project)  # prepares, then insists the manifest exists

    def prepare(self, project: DbtProject) -> None:
        mesh = self._mesh_project
        if Path(project.project_dir).resolve() != mesh.project_dir.resolve():
            raise ValueError(
                f"this preparer prepares {mesh.project_dir}, not {project.project_dir}"
            )
        mesh.prepared_dir.mkdir(parents=True, exist_ok=True)
        with (mesh.prepared_dir / ".prepare.lock").open("w") as lock:
            started = mesh.manifest_path.stat().st_mtime_ns if mesh.manifest_path.is_file() else 0
            fcntl.flock(lock, fcntl.LOCK_EX)
            finished = mesh.manifest_path.stat().st_mtime_ns if mesh.manifest_path.is_file() else 0
            if finished > started and not mesh.is_stale():
                return  # another process prepared it while this one waited
            self._parse_quarantining()

    def _parse(self, project_dir: Path) -> str | None:
        """dbt parse of `project_dir` into the prepared folder; dbt's error text, if it failed."""
        os.environ.update(dbt_environment(self._env))  # what profiles.yml reads
        dbt = DbtCliResource(
            project_dir=str(project_dir),
            profiles_dir=str(project_dir),
            target=self._mesh_project.target,
            dbt_executable=dbt_executable(),
        )
        invocation = dbt.cli(
            PARSE,
            target_path=self._mesh_project.prepared_dir,
            raise_on_error=False,
        ).wait()
        error = invocation.get_error()
        return None if error is None else str(error)

    def _parse_quarantining(self) -> None:
        mesh = self._mesh_project
        quarantined: dict[str, tuple[Path, QuarantinedModel]] = {}
        dropped: set[Path] = set()  # models whose file dbt cannot even render
        (mesh.prepared_dir / QUARANTINE_FILE).unlink(missing_ok=True)
        failure = self._parse(mesh.project_dir)
        while failure is not None:
            found = offending_model(mesh.project_dir, failure)
            if found is None or len(quarantined) >= _MAX_QUARANTINED or found[0] in dropped:
                raise explain_parse_failure(mesh.project_dir, failure)
            path, model = found
            if model.node in quarantined:  # disabled, still failing: dbt renders it anyway
                dropped.add(path)
            quarantined.setdefault(model.node, found)
            disabled = [p for p, _ in quarantined.values()]
            failure = self._parse(_copy_disabling(mesh, disabled, dropped))
        if quarantined:
            entries = [m.__dict__ | {"owners": list(m.owners)} for _, m in quarantined.values()]
            (mesh.prepared_dir / QUARANTINE_FILE).write_text(json.dumps(entries, indent=2))
        else:
            shutil.rmtree(mesh.prepared_dir / QUARANTINED_PROJECT, ignore_errors=True)


def _copy_disabling(mesh: MeshDbtProject, models: list[Path], dropped: set[Path]) -> Path:
    """A copy of the project whose dbt_project.yml sets `+enabled: false` on `models`, without
    the files of `dropped` (models whose Jinja does not render: dbt reads disabled files too)."""
    copy = mesh.prepared_dir / QUARANTINED_PROJECT
    shutil.rmtree(copy, ignore_errors=True)
    ignore = shutil.ignore_patterns("target", "logs", "dbt_packages")
    shutil.copytree(mesh.project_dir, copy, ignore=ignore)
    config = yaml.safe_load((copy / "dbt_project.yml").read_text())
    for path in models:
        level = config.setdefault("models", {}).setdefault(config["name"], {})
        for part in path.relative_to(mesh.project_dir / "models").with_suffix("").parts:
            level = level.setdefault(part, {})
        level["+enabled"] = False
    (copy / "dbt_project.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for path in dropped:
        (copy / path.relative_to(mesh.project_dir)).unlink()
    return copy


def prepare(project: MeshDbtProject, env: Environment, *, force: bool = False) -> Path:
    """The manifest for this target, parsed first if forced or stale (one process at a time)."""
    preparer = MeshDbtProjectPreparer(project, env)
    if force:
        preparer.prepare(project.dbt_project)
    else:
        preparer.prepare_if_dev(project.dbt_project)
    return project.manifest_path


def prepared_manifest(project: MeshDbtProject, env: Environment) -> dict[str, Any]:
    """Locally: prepared when stale. Elsewhere: must have been prepared at build time."""
    if project.needs_preparation(env):
        prepare(project, env)
    return project.read_manifest(env)
