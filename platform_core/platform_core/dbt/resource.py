"""The dbt CLI resource every location uses: dagster-dbt's, for the mesh's project and target.

dagster-dbt's costs per invocation are kept down by public means only: `dbt_executable` is
`mesh-dbt` (dbt, answering `--version` offline; see executable.py). dagster-dbt also opens a
dbt adapter in this process for row counts and column metadata; the mesh counts rows through
its own warehouse resource after dbt exits (DuckDB takes one writer process at a time) and
never asks the adapter for anything.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster_dbt import DbtCliResource

from platform_core.dbt.project import MeshDbtProject, dbt_environment, dbt_executable
from platform_core.environment import current_environment


class MeshDbtCliResource(DbtCliResource):
    """`DbtCliResource` whose dbt sees the environment's warehouse (see `for_project`)."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # profiles.yml reads these (warehouse file or database) through env_var(); they are
        # derived from the environment helper, never configured by hand.
        os.environ.update(dbt_environment(current_environment()))
        super().setup_for_execution(context)


def mesh_dbt_resource(project: MeshDbtProject) -> MeshDbtCliResource:
    """The resource for `project`'s target, run where the prepared manifest was parsed."""
    return MeshDbtCliResource(
        project_dir=project.runnable_dbt_project(),
        dbt_executable=dbt_executable(),
        # A run's events reach Dagster through dbt's JSON log lines; nothing reads the
        # manifest.json and run_results.json dbt would write per run (0.8 MB and more, written
        # twice per run; about 1 CPU s of the ~9 s of a location's `dbt build`, bench_mesh).
        # dbt still writes partial_parse.msgpack, which the next run reuses.
        global_config_flags=["--no-write-json"],
    )
