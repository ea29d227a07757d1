"""The clone lifecycle as Dagster jobs of the platform location.

They run on an account-level session (CREATE/DROP DATABASE address no current database) with
the platform's privileged identity, which only production holds. Production gets
`cleanup_stale_clones` and its daily schedule. Branch deployments get none: their identity
(SNOWFLAKE_BRANCH_*) has privileges on clones only, so a pull request's clone is created and
dropped by the pull-request workflow (`meshctl clone create|drop`), outside the branch
deployment. Local development gets none either: only production imports this module
(platform_core.deploy.clone_lifecycle).
"""

from abc import ABC, abstractmethod

import dagster as dg
from pydantic import Field

from platform_core.deploy import clones
from platform_core.deploy.pull_requests import GITHUB_API, GitHubPullRequests, PullRequestStates
from platform_core.environment import current_environment
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


@dg.job(description="Drop Snowflake clones whose pull request closed more than N days ago.")
def cleanup_stale_clones():
    drop_stale_clones()


cleanup_stale_clones_schedule = dg.ScheduleDefinition(
    name="cleanup_stale_clones_daily",
    job=cleanup_stale_clones,
    cron_schedule=CLEANUP_CRON,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
