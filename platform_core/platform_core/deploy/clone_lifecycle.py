"""What the platform location registers around the per-pull-request clone, per environment.

Production gets the clean-up job and its schedule (platform_core.deploy.clone_jobs); a branch
deployment and local development get nothing, so they do not import the jobs, their resources
or the GitHub client at every load of the platform location.
"""

from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from platform_core.environment import Environment


@dataclass(frozen=True)
class CloneLifecycle:
    jobs: list[Any] = field(default_factory=list)
    schedules: list[Any] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)


def clone_lifecycle(env: Environment) -> CloneLifecycle:
    """What the platform location registers in this environment."""
    if env.is_branch or env.is_local:
        return CloneLifecycle()
    from platform_core.deploy.clone_jobs import (
        GitHubPullRequestsResource,
        cleanup_stale_clones,
        cleanup_stale_clones_schedule,
    )

    return CloneLifecycle(
        jobs=[cleanup_stale_clones],
        schedules=[cleanup_stale_clones_schedule],
        resources={
            "pull_requests": GitHubPullRequestsResource(
                repository=dg.EnvVar("GITHUB_REPOSITORY"), token=dg.EnvVar("GITHUB_TOKEN")
            )
        },
    )
