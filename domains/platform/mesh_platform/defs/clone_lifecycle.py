"""The per-pull-request Snowflake clone's jobs (branch deployments) and its clean-up
(production); none locally (platform_core.deploy.clone_lifecycle)."""

import dagster as dg
from platform_core.deploy.clone_lifecycle import clone_lifecycle

from platform_core import current_environment

lifecycle = clone_lifecycle(current_environment())

defs = dg.Definitions(
    jobs=lifecycle.jobs, schedules=lifecycle.schedules, resources=lifecycle.resources
)
