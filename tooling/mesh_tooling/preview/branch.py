"""`meshctl preview`: a branch deployment for people without Dagster+.

The current git branch gets its own copy of the local warehouse (and of the landed source
extracts) under `<MESH_HOME>/branches/<branch>/`; the assets the mesh's one impact model
(governance.impact) finds changed, plus everything downstream of them, are materialized
there; then every changed product and downstream public product is diffed against main's
table (mesh_tooling.preview.data_diff, in SQL, main attached read-only). The main warehouse is
only ever read: copied as bytes, attached read-only for the diff.

The run happens in a child process whose MESH_HOME is the branch folder: definitions bind their
warehouse resources when they are imported, so a fresh process is the only way to be sure that
nothing still points at the main warehouse (the child checks it again before running).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platform_core.environment import Environment, current_environment
from platform_core.errors import ConfigurationError
from platform_core.warehouse.duckdb import tenant_store_dir
from platform_core.workspace import find_mesh_root

from mesh_tooling.preview.data_diff import TableDiff, table_diff_from_json

BRANCHES = "branches"
_RESULT = "MESH_PREVIEW_RESULT "
MAIN_WAREHOUSE = "MESH_PREVIEW_MAIN_WAREHOUSE"  # read-only baseline of the diff (child only)


def branch_slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    if not slug:
        raise ConfigurationError(f"Branch name {name!r} gives no folder name. Fix: pass --branch.")
    return slug


def current_branch(root: Path) -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=root, capture_output=True, text=True
    )
    name = result.stdout.strip()
    if result.returncode != 0 or not name:
        raise ConfigurationError(
            f"Cannot tell the current git branch in {root}. Fix: pass --branch NAME."
        )
    if name == "HEAD":  # detached: name the preview after the commit
        name = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    return name


def prepare_branch_home(env: Environment, slug: str) -> Path:
    """A fresh copy of the main warehouse and landing folder for the branch."""
    if not env.duckdb_path.is_file():
        raise ConfigurationError(
            f"No local warehouse at {env.duckdb_path} to preview against. "
            "Fix: run `./mesh materialize` on the base branch first."
        )
    home = env.mesh_home / BRANCHES / slug
    home.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".wal"):
        source = env.duckdb_path.with_name(env.duckdb_path.name + suffix)
        target = home / source.name
        target.unlink(missing_ok=True)
        if source.is_file():
            shutil.copyfile(source, target)
    landing = home / env.landing_dir.name
    shutil.rmtree(landing, ignore_errors=True)
    if env.landing_dir.is_dir():
        shutil.copytree(env.landing_dir, landing)
    # The tenant stores (one DuckDB file per tenant) sit next to the warehouse.
    stores = tenant_store_dir(env.duckdb_path)
    shutil.rmtree(tenant_store_dir(home / env.duckdb_path.name), ignore_errors=True)
    if stores.is_dir():
        shutil.copytree(stores, tenant_store_dir(home / env.duckdb_path.name))
    return home


@dataclass
class PreviewReport:
    branch: str
    base: str
    warehouse: Path
    main_warehouse: Path
    changed: list[str]
    downstream: list[str]
    summary: str
    success: bool
    diffs: list[TableDiff] = field(default_factory=list)
    impact_markdown: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # impact, rebuild, diff

    def render(self) -> str:
        from mesh_tooling.preview.diff_report import render_text

        lines = [
            f"Preview of branch '{self.branch}' (compared with {self.base[:12]})",
            f"  changed assets ({len(self.changed)}): {', '.join(self.changed) or 'none'}",
            f"  downstream ({len(self.downstream)}): {', '.join(self.downstream) or 'none'}",
            f"  warehouse: {self.warehouse}",
            "",
            self.summary or "Nothing to run: the branch changes no asset.",
            "",
        ]
        if self.diffs:
            lines += [render_text(self.diffs), ""]
        lines.append(f"The main warehouse ({self.main_warehouse}) was not touched.")
        return "\n".join(lines)

    def render_markdown(self) -> str:
        from mesh_tooling.preview.diff_report import render_markdown

        return "\n".join([self.impact_markdown, render_markdown(self.diffs)]).strip() + "\n"

    def as_json(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "base": self.base,
            "changed": self.changed,
            "downstream": self.downstream,
            "success": self.success,
            "seconds": self.seconds,
            "diffs": [d.as_json() for d in self.diffs],
        }


def run_preview(
    root: Path,
    base: str,
    branch: str | None = None,
    select: list[str] | None = None,
    use_cache: bool = True,
) -> PreviewReport:
    env = current_environment()
    if not env.is_local:
        raise ConfigurationError(
            f"meshctl preview works on the local warehouse; this environment is {env.name}. "
            "Fix: in a branch deployment run `meshctl preview-clone` (diffs inside the clone)."
        )
    started = time.perf_counter()
    name = branch or current_branch(root)
    home = prepare_branch_home(env, branch_slug(name))
    (home / "dagster_home").mkdir(exist_ok=True)
    child_env = {
        **os.environ,
        "MESH_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),
        MAIN_WAREHOUSE: str(env.duckdb_path),
    }
    # Started now: its imports (Dagster, dagster-dbt) overlap the impact model; it reads what
    # to run from stdin once the impact is known.
    child = subprocess.Popen(
        [sys.executable, "-m", "mesh_tooling.preview.branch"],
        cwd=root,
        env=child_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    impact_markdown = ""
    try:
        if select:
            payload: dict[str, Any] = {
                "changed": sorted(select), "downstream": None, "locations": None,
            }  # fmt: skip
            base_commit = "(selected)"
        else:
            from governance.impact import assess
            from governance.impact import render_markdown as impact_markdown_of

            impact = assess(root, base, use_cache=use_cache)
            payload = {
                "changed": impact.changed,
                "downstream": impact.downstream,
                "locations": impact.rebuild_locations,  # the child loads only these
            }
            base_commit, impact_markdown = impact.base, impact_markdown_of(impact)
    except BaseException:
        child.kill()
        child.communicate()
        raise
    assessed = time.perf_counter() - started
    stdout, stderr = child.communicate(json.dumps(payload) + "\n")
    result = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    lines = [line for line in result.stdout.splitlines() if line.startswith(_RESULT)]
    if result.returncode != 0 or not lines:
        raise ConfigurationError(
            f"The preview run failed:\n{result.stderr.strip()[-3000:]}\n"
            "Fix: see the error above; the main warehouse was not touched."
        )
    outcome = json.loads(lines[-1][len(_RESULT) :])
    return PreviewReport(
        branch=name,
        base=base_commit,
        warehouse=home / env.duckdb_path.name,
        main_warehouse=env.duckdb_path,
        changed=outcome["changed"],
        downstream=outcome["downstream"],
        summary=outcome["summary"],
        success=outcome["success"],
        diffs=[table_diff_from_json(d) for d in outcome["diffs"]],
        impact_markdown=impact_markdown,
        seconds={"impact": round(assessed, 2), **outcome["seconds"]},
    )


def _run_in_branch_home() -> int:
    """Child process: load the mesh on the branch copy, run changed + downstream, diff them.
    What to run comes on stdin (the parent sends it when its impact model is done)."""
    import dagster as dg
    import platform_core.dbt.assets
    import platform_core.definitions  # noqa: F401

    from mesh_tooling.preview.diff_targets import diff_against_main, keep_view_baselines
    from mesh_tooling.runner import load_mesh_graph, materialize_mesh

    payload = sys.stdin.readline()

    env = current_environment()
    if env.mesh_home.parent.name != BRANCHES:
        raise ConfigurationError(
            f"Preview worker started outside a branch folder ({env.mesh_home})."
        )
    root = find_mesh_root()
    request = json.loads(payload)
    graph = load_mesh_graph(root, request["locations"])
    for location, defs in graph.definitions.items():
        path = getattr(defs.resources.get("warehouse"), "path", None)
        if path is not None and Path(path) != env.duckdb_path:
            raise ConfigurationError(
                f"Location '{location}' writes to {path}, not the branch copy {env.duckdb_path}. "
                "Fix: resources must come from current_environment()."
            )
    changed = {dg.AssetKey.from_user_string(k) for k in request["changed"]} & set(graph.producer)
    if request["downstream"] is None:
        downstream = graph.downstream_closure(changed) - changed
    else:
        downstream = {dg.AssetKey.from_user_string(k) for k in request["downstream"]}
        downstream &= set(graph.producer)
    keys = changed | downstream
    keep_view_baselines(graph, env.duckdb_path, changed, downstream)
    summary, success, rebuild = "", True, 0.0
    if keys:
        started = time.perf_counter()
        with dg.DagsterInstance.ephemeral() as instance:
            run = materialize_mesh(root, instance, select=keys, graph=graph)
        summary, success = run.render(), run.success
        rebuild = time.perf_counter() - started
    started = time.perf_counter()
    main = Path(os.environ[MAIN_WAREHOUSE])
    diffs = diff_against_main(root, graph, main, env.duckdb_path, changed, downstream)
    outcome = {
        "changed": sorted(k.to_user_string() for k in changed),
        "downstream": sorted(k.to_user_string() for k in downstream),
        "summary": summary,
        "success": success,
        "diffs": [d.as_json() for d in diffs],
        "seconds": {"rebuild": round(rebuild, 2), "diff": round(time.perf_counter() - started, 2)},
    }
    print(_RESULT + json.dumps(outcome, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_run_in_branch_home())
