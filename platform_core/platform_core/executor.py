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

from typing import Any

import dagster as dg

from platform_core.environment import Environment


def _forkserver_unless_chosen(config: dict[str, Any]) -> dict[str, Any]:
    if "in_process" in config:
        return config
    multiprocess = dict(config.get("multiprocess") or {})
    # Dagster's forkserver preloads the module the run's job was loaded from: the location.
    multiprocess.setdefault("start_method", {"forkserver": {}})
    return {"multiprocess": multiprocess}


PRODUCTION_EXECUTOR = dg.multi_or_in_process_executor.configured(
    _forkserver_unless_chosen,
    config_schema=dg.multi_or_in_process_executor.config_schema.as_field(),
    name=dg.multi_or_in_process_executor.name,
)


def executor_for(env: Environment) -> dg.ExecutorDefinition:
    return dg.in_process_executor if env.is_local else PRODUCTION_EXECUTOR
