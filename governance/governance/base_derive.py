"""The base side of a change that only edits dbt models' SQL: derived from the head's graph and
the base's dbt manifest, without loading the base's Dagster definitions.

Why that is exact. When every file that differs from the base commit is the SQL file of a dbt
model that both sides have (modified: not added, removed or renamed; no untracked file), every
location of the base reads the same bytes as the head's (code, declarations, platform_core,
the lock) except the prepared dbt manifest. If the base's manifest then equals the head's except
for those models' `raw_code` and `checksum` (and dbt's bookkeeping: `created_at`, the run's
metadata, the order of `group_map`'s lists), that difference reaches an asset record only
through dagster-dbt's description (its "Raw SQL" section, which the impact model strips) and
code_version (which the impact model replaces by dbt's state:modified reasons). So the base's
graph compares with the head's as the head's own graph does: only the base manifest is needed.

It comes from one `dbt parse` of the base tree (extracted from git) in this process, after the
head's load has warmed dbt, seeded with the head's partial-parse file so that dbt re-parses only
the files whose checksums differ; it is kept per base commit like a loaded base side.
Anything else (another kind of change, a manifest that differs elsewhere, a base that does not
parse, a model the head's preparation had to quarantine) returns None: the caller then loads
the base in full (governance.impact.PendingBase), which reports a base that does not load.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platform_core.dbt.project import PROJECT_FOLDER

from governance.basecache import BaseCache, BaseSide, base_key
from governance.model import MeshGraph

if TYPE_CHECKING:
    from governance.contracts import ProductContract

MODELS = f"{PROJECT_FOLDER}/models/"
PARTIAL_PARSE = "partial_parse.msgpack"
_VOLATILE_METADATA = ("generated_at", "invocation_id", "invocation_started_at", "run_started_at")


def _git(root: Path, *args: str) -> list[str] | None:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    return done.stdout.splitlines() if done.returncode == 0 else None


def edited_model_sql(root: Path, base_commit: str) -> list[str] | None:
    """The dbt model SQL files the working tree modifies against `base_commit`, when they are
    all it changes (None: anything else changed, or nothing did)."""
    tracked = _git(root, "diff", "--name-status", "--no-renames", base_commit)
    untracked = _git(root, "ls-files", "--others", "--exclude-standard")
    if tracked is None or untracked is None or any(untracked) or not any(tracked):
        return None
    files = []
    for line in filter(None, tracked):
        status, _, path = line.partition("\t")
        if status != "M" or not path.startswith(MODELS) or not path.endswith(".sql"):
            return None
        files.append(path)
    return sorted(files)


def _without_bookkeeping(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_bookkeeping(v) for k, v in value.items() if k != "created_at"}
    if isinstance(value, list):
        return [_without_bookkeeping(v) for v in value]
    return value


def _comparable(manifest: dict[str, Any], models: set[str]) -> dict[str, Any]:
    """The manifest without bookkeeping, and without the bodies of the edited models."""
    data = _without_bookkeeping(manifest)
    data["metadata"] = {
        k: v for k, v in data.get("metadata", {}).items() if k not in _VOLATILE_METADATA
    }
    data["group_map"] = {g: sorted(ids) for g, ids in (data.get("group_map") or {}).items()}
    for node in (data.get("nodes") or {}).values():
        if f"{PROJECT_FOLDER}/{node.get('original_file_path', '')}" in models:
            node.pop("raw_code", None)
            node.pop("checksum", None)
    return data


def same_but_bodies(base: dict[str, Any], head: dict[str, Any], files: list[str]) -> bool:
    """True when the two manifests differ at most in the bodies of the models in `files`."""
    models = set(files)
    return _comparable(base, models) == _comparable(head, models)


def derived_side(
    head: MeshGraph,
    base_manifest: dict[str, Any] | None,
    head_manifest: dict[str, Any] | None,
    files: list[str],
    head_contracts: dict[str, ProductContract],
) -> BaseSide | None:
    """The base side with the head's graph, when the module docstring's conditions hold. The
    contracts are the head's too: they are generated from declarations and the dbt project's
    YAML, which such a change leaves byte-identical."""
    if base_manifest is None or head_manifest is None:
        return None
    if not same_but_bodies(base_manifest, head_manifest, files):
        return None
    return BaseSide(head, base_manifest, head_contracts)


class PendingBaseManifest:
    """The base commit's dbt manifest: from the per-commit cache, else parsed from its tree
    (extracted from git now, parsed by `result()`). `result()` is None when the base does not
    parse (the caller then loads the base in full, which reports why)."""

    def __init__(self, root: Path, base_commit: str, use_cache: bool) -> None:
        from platform_core.environment import current_environment

        env = current_environment()
        self._env = env
        self._cache = BaseCache(
            env.mesh_home, base_key(root, base_commit, env.dbt_target) + "-manifest"
        )
        self._use_cache = use_cache
        self._side = self._cache.get() if use_cache else None
        self._stack = contextlib.ExitStack()
        self._project: Path | None = None
        if self._side is not None:
            return
        from governance.basetree import materialized_ref

        tree = self._stack.enter_context(materialized_ref(root, base_commit))
        if (tree / PROJECT_FOLDER / "dbt_project.yml").is_file():  # else nothing to derive
            self._project = tree / PROJECT_FOLDER
            self._prepared = self._project / "target" / env.dbt_target
            self._prepared.mkdir(parents=True)
            _seed_partial_parse(root / PROJECT_FOLDER / "target" / env.dbt_target, self._prepared)

    def result(self) -> BaseSide | None:
        if self._side is not None:
            return self._side
        with self._stack:
            if self._project is None or not self._parse():
                return None
            # The manifest alone: this entry never stands for the base's graph or contracts
            # (see derived_side).
            manifest = json.loads((self._prepared / "manifest.json").read_text())
            self._side = BaseSide(MeshGraph(root=""), manifest)
        if self._use_cache:
            self._cache.put(self._side)
        return self._side

    def _parse(self) -> bool:
        """`dbt parse` of the base tree, in this process: the head's load has imported and
        warmed dbt (dagster-dbt's preparer), so a parse here costs about a second of CPU where
        a fresh dbt process costs several. Quiet: this process's stdout may be a report."""
        from dbt.cli.main import dbtRunner  # dbt's programmatic invocation
        from platform_core.dbt.project import dbt_environment

        assert self._project is not None
        os.environ.update(dbt_environment(self._env))  # what profiles.yml reads (as the preparer)
        project = str(self._project)
        done = dbtRunner().invoke([
            "parse", "--quiet", "--log-level", "none", "--project-dir", project,
            "--profiles-dir", project, "--target", self._env.dbt_target,
            "--target-path", str(self._prepared), "--log-path", str(self._project / "logs"),
        ])  # fmt: skip
        return bool(done.success) and (self._prepared / "manifest.json").is_file()

    def cancel(self) -> None:
        self._stack.close()


def _seed_partial_parse(head_prepared: Path, base_prepared: Path) -> None:
    """Copy the head's partial-parse state, under the preparer's lock so that a parse running
    elsewhere never leaves a half-written copy (dbt checks every file's checksum against it and
    parses in full when it does not apply)."""
    source = head_prepared / PARTIAL_PARSE
    if not source.is_file():
        return
    with (head_prepared / ".prepare.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        shutil.copyfile(source, base_prepared / PARTIAL_PARSE)
