"""The clone lifecycle as Dagster jobs of the platform location.

They run where the warehouse is Snowflake, on an account-level session (CREATE/DROP DATABASE
address no current database); the branch guard of that session still applies.

Branch deployments get `create_branch_clone` and `drop_branch_clone` (the workflow runs the same
functions before deploying and when the pull request closes; the jobs let a reviewer re-create
or drop the clone from the UI). Production gets `cleanup_stale_clones` and its daily schedule.
Local development gets none of them.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from pydantic import Field

from platform_core.deploy import clones
from platform_core.deploy.pull_requests import GITHUB_API, GitHubPullRequests, PullRequestStates
from platform_core.environment import Environment, current_environment
from platform_core.warehouse.snowflake import SnowflakeWarehouse

CLEANUP_CRON = "0 5 * * *"


class PullRequestsResource(dg.ConfigurableResource, ABC):
    """Answers whether pull requests are open (the GitHub API in production)."""

    @abstractmethod
    def states(self) -> PullRequestStates: ...


class GitHubPullRequestsResource(PullRequestsResource):
    repository: str = Field(description="owner/name of the repository.")
    token: str = Field(description="A token that may read pull requests (from an env var).")
    api_url: str = GITHUB_API

    def states(self) -> PullRequestStates:
        return GitHubPullRequests(self.repository, self.token, self.api_url)


class CleanupConfig(dg.Config):
    closed_for_days: int = 7


@dg.op(description="Create this pull request's clone of production (idempotent).")
def create_pull_request_clone(context: dg.OpExecutionContext, warehouse: SnowflakeWarehouse) -> str:
    with warehouse.account_session() as session:
        result = clones.create_clone(session, current_environment())
    context.log.info(str(result))
    return str(result)


@dg.op(description="Drop this pull request's clone (idempotent).")
def drop_pull_request_clone(context: dg.OpExecutionContext, warehouse: SnowflakeWarehouse) -> str:
    with warehouse.account_session() as session:
        result = clones.drop_clone(session, current_environment())
    context.log.info(str(result))
    return str(result)


@dg.op(description="Drop the clones of pull requests closed more than N days ago.")
def drop_stale_clones(
    context: dg.OpExecutionContext,
    config: CleanupConfig,
    warehouse: SnowflakeWarehouse,
    pull_requests: PullRequestsResource,
) -> list[str]:
    with warehouse.account_session() as session:
        plan = clones.cleanup_stale_clones(
            session, current_environment(), pull_requests.states(), config.closed_for_days
        )
    context.log.info(str(plan))
    return plan.drop


@dg.job(description="Create the branch deployment's Snowflake clone of production.")
def create_branch_clone():
    create_pull_request_clone()


@dg.job(description="Drop the branch deployment's Snowflake clone.")
def drop_branch_clone():
    drop_pull_request_clone()


@dg.job(description="Drop Snowflake clones whose pull request closed more than N days ago.")
def cleanup_stale_clones():
    drop_stale_clones()


cleanup_stale_clones_schedule = dg.ScheduleDefinition(
    name="cleanup_stale_clones_daily",
    job=cleanup_stale_clones,
    cron_schedule=CLEANUP_CRON,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dataclass(frozen=True)
class CloneLifecycle:
    jobs: list[Any] = field(default_factory=list)
    schedules: list[Any] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)


def clone_lifecycle(env: Environment) -> CloneLifecycle:
    """What the platform location registers in this environment."""
    if env.is_branch:
        return CloneLifecycle(jobs=[create_branch_clone, drop_branch_clone])
    if env.is_local:
        return CloneLifecycle()
    return CloneLifecycle(
        jobs=[cleanup_stale_clones],
        schedules=[cleanup_stale_clones_schedule],
        resources={
            "pull_requests": GitHubPullRequestsResource(
                repository=dg.EnvVar("GITHUB_REPOSITORY"), token=dg.EnvVar("GITHUB_TOKEN")
            )
        },
    )
