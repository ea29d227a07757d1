"""The executor every location's runs use (applied once, by platform_core.definitions).

Locally one DuckDB file takes one writer at a time and steps are small: steps run in the run's
process. Elsewhere compute runs in Snowflake and a step is a thin client of it: a process per
step (Dagster's default executor, so steps stay isolated and run in parallel), started by
forking a server that imported the location once per run, not by spawning a fresh interpreter
that imports it again for every step (seconds of CPU per step, more than most steps cost).
A run may still ask for in-process steps in its run config
(`execution: {config: {in_process: {}}}`) or for another start method.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from platform_core.environment import Environment

# What every location imports: Dagster and the platform (most of a location's import time).
SHARED_MODULES = ("platform_core.definitions",)


def _forkserver_unless_chosen(preload: Sequence[str]):
    def config_fn(config: dict[str, Any]) -> dict[str, Any]:
        if "in_process" in config:
            return config
        multiprocess = dict(config.get("multiprocess") or {})
        # Named explicitly: with `forkserver: {}` Dagster preloads only its executor module, and
        # every step would import the location again.
        forkserver = {"preload_modules": list(preload)}
        multiprocess.setdefault("start_method", {"forkserver": forkserver})
        return {"multiprocess": multiprocess}

    return config_fn


def production_executor(preload: Sequence[str] = ()) -> dg.ExecutorDefinition:
    """`preload`: the location's definitions module, imported once per run by the server."""
    return dg.multi_or_in_process_executor.configured(
        _forkserver_unless_chosen([*SHARED_MODULES, *preload]),
        config_schema=dg.multi_or_in_process_executor.config_schema.as_field(),
        name=dg.multi_or_in_process_executor.name,
    )


def executor_for(env: Environment, preload: Sequence[str] = ()) -> dg.ExecutorDefinition:
    return dg.in_process_executor if env.is_local else production_executor(preload)


def module_named_by_file(file: Path) -> list[str]:
    """The imported module whose source is `file` (a location's definitions.py being imported),
    as a one-element list; empty when none is."""
    wanted = os.path.realpath(file)
    name_of_file = os.path.basename(wanted)
    for name, module in list(sys.modules.items()):
        source = getattr(module, "__file__", None)
        # Only same-named files are resolved: resolving every module's path cost ~150 ms.
        same_name = source and os.path.basename(source) == name_of_file
        if same_name and (source == wanted or os.path.realpath(source) == wanted):
            return [name]
    return []
