"""The per-pull-request Snowflake clone: `<DB>_CLONE_<PR id>`, a zero-copy clone of production.

Created before a branch deployment runs anything, dropped when the pull request closes, and
swept by a scheduled clean-up for pull requests closed more than N days ago. Every statement is
idempotent (`if not exists` / `if exists`), and every database name reaching SQL is checked to be
a clone of the production database, never production itself. The same functions serve the
GitHub workflow (`meshctl clone ...`) and the Dagster jobs of the platform location.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from platform_core.environment import Environment, clone_database_name
from platform_core.errors import ConfigurationError, MeshError
from platform_core.identifiers import safe_identifier
from platform_core.warehouse.base import WarehouseSession

from .pull_requests import PullRequestLookupError, PullRequestStates


class CloneRefused(MeshError):
    """A clone operation named a database that is not a pull-request clone of production."""


def clone_pattern(production: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(production.upper())}_CLONE_([0-9]+)$")


def guard_clone(database: str, production: str) -> str:
    """Return `database` upper-cased if it is `<PRODUCTION>_CLONE_<n>`; refuse anything else."""
    name = database.upper()
    if name == production.upper():
        raise CloneRefused(
            f"Refusing to touch the production database '{name}': clone operations only ever "
            f"address '{production.upper()}_CLONE_<pull request id>'. Fix: pass the pull "
            "request's clone, or run in the branch deployment that owns it."
        )
    if not clone_pattern(production).match(name):
        raise CloneRefused(
            f"'{database}' is not a pull-request clone of '{production.upper()}' "
            f"(expected '{production.upper()}_CLONE_<number>'). Fix: derive the name with "
            "platform_core.environment.clone_database_name."
        )
    return name


def create_clone_sql(production: str, pull_request_id: str) -> str:
    target = guard_clone(clone_database_name(production, pull_request_id), production)
    return f"create database if not exists {target} clone {production.upper()}"


def branch_role_grants(clone: str, production: str, branch_role: str) -> list[str]:
    """What the clone-creating step grants the branch deployment's role: everything on the
    clone it needs, nothing anywhere else (every statement names the clone only)."""
    database = guard_clone(clone, production)
    role = safe_identifier(branch_role.lower(), "branch role").upper()
    return [
        f"grant usage on database {database} to role {role}",
        f"grant create schema on database {database} to role {role}",
        f"grant ownership on all schemas in database {database} to role {role} copy current grants",
        f"grant ownership on all tables in database {database} to role {role} copy current grants",
        f"grant ownership on all views in database {database} to role {role} copy current grants",
    ]


def drop_clone_sql(database: str, production: str) -> str:
    return f"drop database if exists {guard_clone(database, production)}"


def list_clones(session: WarehouseSession, production: str) -> dict[int, str]:
    """Pull request id -> clone database, for every clone of `production` in the account."""
    pattern = clone_pattern(production)
    rows = session.fetch(f"show databases starts with '{production.upper()}_CLONE_'")
    clones = {}
    for row in rows:
        name = str(row[1]).upper()  # SHOW DATABASES: created_on, name, ...
        match = pattern.match(name)
        if match:  # `starts with` is a prefix test; the pattern is the rule
            clones[int(match.group(1))] = name
    return clones


@dataclass(frozen=True)
class CloneResult:
    database: str
    action: str  # created | already existed | dropped | was absent
    repointed: tuple[str, ...] = ()  # views that read production, re-created in the clone

    def __str__(self) -> str:
        text = f"{self.database}: {self.action}"
        if self.repointed:
            text += f"; views re-pointed from production into it: {', '.join(self.repointed)}"
        return text


def _branch_clone(env: Environment) -> tuple[str, str]:
    if not env.is_branch or env.production_database is None or env.pull_request_id is None:
        raise ConfigurationError(
            f"The pull request clone is managed from a branch deployment; this is {env.name}. "
            "Fix: set DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT=1, DAGSTER_CLOUD_PULL_REQUEST_ID and "
            "SNOWFLAKE_DATABASE (Dagster+ and the branch-deployment workflow do)."
        )
    clone = env.warehouse_database
    env.assert_may_write(clone)  # the branch guard: only this pull request's own clone
    return clone, env.production_database


def create_clone(
    session: WarehouseSession, env: Environment, branch_role: str | None = None
) -> CloneResult:
    """Create the pull request's clone of production unless it exists (idempotent), re-point
    its views that read production into it (platform_core.deploy.clone_views), keep the
    preview's baselines of a new clone (platform_core.deploy.clone_baselines), then grant
    `branch_role` (the branch deployment's role) its privileges on the clone only. Runs with
    the platform's privileged identity in the pull-request workflow, never in the branch."""
    from platform_core.deploy.clone_baselines import keep_clone_time_baselines
    from platform_core.deploy.clone_views import repoint_views

    clone, production = _branch_clone(env)
    existed = clone in list_clones(session, production).values()
    session.execute(create_clone_sql(production, env.pull_request_id or ""))
    # Before the grants, so that the branch role owns the re-created views too.
    repointed = repoint_views(session, clone, production)
    if not existed:  # still production's data: the preview's baselines (views re-pointed first)
        keep_clone_time_baselines(session, clone)
    for grant in branch_role_grants(clone, production, branch_role) if branch_role else []:
        session.execute(grant)
    return CloneResult(clone, "already existed" if existed else "created", tuple(repointed))


def drop_clone(session: WarehouseSession, env: Environment) -> CloneResult:
    """Drop this branch deployment's clone if it exists (idempotent)."""
    clone, production = _branch_clone(env)
    existed = clone in list_clones(session, production).values()
    session.execute(drop_clone_sql(clone, production))
    return CloneResult(clone, "dropped" if existed else "was absent")


@dataclass
class CleanupPlan:
    drop: list[str] = field(default_factory=list)
    keep: dict[str, str] = field(default_factory=dict)  # clone -> why it stays

    def __str__(self) -> str:
        lines = [f"drop {name}" for name in self.drop]
        lines += [f"keep {name}: {why}" for name, why in sorted(self.keep.items())]
        return "\n".join(lines) or "no clones"


def plan_cleanup(
    session: WarehouseSession,
    production: str,
    pull_requests: PullRequestStates,
    closed_for_days: int,
    now: datetime | None = None,
) -> CleanupPlan:
    """Which clones belong to pull requests closed more than `closed_for_days` days ago."""
    if closed_for_days < 0:
        raise ConfigurationError(f"closed_for_days={closed_for_days} must be 0 or more.")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=closed_for_days)
    plan = CleanupPlan()
    for number, clone in sorted(list_clones(session, production).items()):
        try:
            closed = pull_requests.closed_at(number)
        except PullRequestLookupError as error:
            plan.keep[clone] = f"state unknown ({error})"
            continue
        if closed is None:
            plan.keep[clone] = "pull request open"
        elif closed > cutoff:
            plan.keep[clone] = f"closed {closed:%Y-%m-%d}, within {closed_for_days} days"
        else:
            plan.drop.append(clone)
    return plan


def cleanup_stale_clones(
    session: WarehouseSession,
    env: Environment,
    pull_requests: PullRequestStates,
    closed_for_days: int,
    now: datetime | None = None,
) -> CleanupPlan:
    """Drop the clones of pull requests closed more than N days ago (run from production)."""
    if env.is_branch or env.production_database is None:
        raise ConfigurationError(
            f"The clone clean-up runs in the production deployment; this is {env.name}. "
            "Fix: run it where MESH_ENV=prod (its schedule is registered there); a branch "
            "deployment may only touch its own clone."
        )
    plan = plan_cleanup(session, env.production_database, pull_requests, closed_for_days, now)
    for clone in plan.drop:
        session.execute(drop_clone_sql(clone, env.production_database))
    return plan
