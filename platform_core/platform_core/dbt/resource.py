"""The dbt CLI resource every location uses: dagster-dbt's, minus two costs we do not need."""

from __future__ import annotations

import importlib.metadata
import os
from functools import cached_property
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from platform_core.dbt.project import dbt_environment
from platform_core.environment import current_environment


class MeshDbtCliResource(DbtCliResource):
    """`DbtCliResource` for the mesh's project and the environment's target.

    - dagster-dbt learns the dbt version by running `dbt --version`, which also looks up the
      latest release online (~2.4 s per run). The `dbt` we run is the one installed beside this
      interpreter, so its version is the installed dbt-core's.
    - dagster-dbt opens a dbt adapter in this process for row counts and column metadata; the
      mesh counts rows through its own warehouse resource after dbt exits (DuckDB takes one
      writer process at a time), so no adapter is opened here.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Any) -> None:  # type: ignore[override]
        return None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # profiles.yml reads these (warehouse file or database) through env_var(); they are
        # derived from the environment helper, never configured by hand.
        os.environ.update(dbt_environment(current_environment()))
        super().setup_for_execution(context)
