"""`meshctl preview --in-clone`: the preview of a pull request inside its Snowflake clone.

Run with the branch deployment's variables (CI does, after `meshctl clone create` and
`meshctl dbt-prepare`): the clone's views are checked to read the clone only, the baselines
the clone step kept are required (so an earlier branch build is never the baseline), the
impact model names the changed and downstream assets, they are rebuilt in the clone and
diffed against their baselines. Production is never named: every session is the
branch's, bound to the clone (see mesh_tooling.preview.clone_diff).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from platform_core.deploy.clone_baselines import require_clone_time_baselines
from platform_core.deploy.clone_views import repoint_views
from platform_core.environment import current_environment
from platform_core.errors import ConfigurationError
from platform_core.identifiers import safe_identifier

from mesh_tooling.preview.branch import PreviewReport
from mesh_tooling.preview.clone_diff import diff_in_clone
from mesh_tooling.preview.diff_targets import diff_targets, row_keys


def _relations(session) -> dict[tuple[str, str], str]:
    """`(schema, name)` -> "table" or "view", for the clone's tables and views."""
    found = {}
    for kind, sql in (
        ("table", "select table_schema, table_name from information_schema.tables "
         "where table_type = 'BASE TABLE'"),
        ("view", "select table_schema, table_name from information_schema.views"),
    ):  # fmt: skip
        for schema, name in session.fetch(sql):
            if str(schema).lower() != "information_schema":
                found[(str(schema).lower(), str(name).lower())] = kind
    return found


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """The run's output (dbt's included, a child process) goes to stderr: stdout is the report."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_clone_preview(root: Path, base: str, use_cache: bool = True) -> PreviewReport:
    from governance.impact import assess
    from governance.impact import render_markdown as impact_markdown
    from platform_core.warehouse.resources import warehouse_resources

    from mesh_tooling.runner import load_mesh_graph, materialize_mesh

    env = current_environment()
    if not env.is_branch:
        raise ConfigurationError(
            f"meshctl preview --in-clone runs in a branch deployment; this is {env.name}. Fix: "
            "set DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT=1, DAGSTER_CLOUD_PULL_REQUEST_ID and "
            "SNOWFLAKE_DATABASE (the workflow does), or run `meshctl preview` locally."
        )
    started = time.perf_counter()
    warehouse = warehouse_resources(env, "platform")["warehouse"].process_config_and_initialize()
    with warehouse.session() as session:
        # Nothing is read before the clone's views are known to read the clone only, and the
        # baselines known to be production's data as cloned (not an earlier branch build).
        repointed = repoint_views(session, env.warehouse_database, env.production_database or "")
        if repointed:
            print(
                f"meshctl preview: re-pointed {len(repointed)} view(s) of the clone that read "
                f"production into the clone: {', '.join(repointed)}",
                file=sys.stderr,
            )
        require_clone_time_baselines(session, env.warehouse_database)
    impact = assess(root, base, use_cache=use_cache)
    graph = load_mesh_graph(root, impact.rebuild_locations)
    changed = {dg.AssetKey.from_user_string(k) for k in impact.changed} & set(graph.producer)
    downstream = {dg.AssetKey.from_user_string(k) for k in impact.downstream}
    downstream &= set(graph.producer)
    targets = [k for k in diff_targets(graph, changed, downstream) if len(k.path) == 2]
    tables = [(safe_identifier(k.path[0]), safe_identifier(k.path[1])) for k in targets]
    assessed = time.perf_counter() - started
    started = time.perf_counter()
    summary, success = "", True
    if changed or downstream:
        with dg.DagsterInstance.ephemeral() as instance, _stdout_to_stderr():
            run = materialize_mesh(root, instance, select=changed | downstream, graph=graph)
        summary, success = run.render(), run.success
    rebuild = time.perf_counter() - started
    started = time.perf_counter()
    with warehouse.session() as session:
        after = _relations(session)
        diffs = diff_in_clone(session, [t for t in tables if t in after], row_keys(root))
    return PreviewReport(
        branch=f"pull request {env.pull_request_id}",
        base=impact.base,
        warehouse=Path(env.warehouse_database),
        main_warehouse=Path(f"{env.warehouse_database} (baselines kept in the clone)"),
        changed=sorted(k.to_user_string() for k in changed),
        downstream=sorted(k.to_user_string() for k in downstream),
        summary=summary,
        success=success,
        diffs=diffs,
        impact_markdown=impact_markdown(impact),
        seconds={
            "impact": round(assessed, 2),
            "rebuild": round(rebuild, 2),
            "diff": round(time.perf_counter() - started, 2),
        },
    )
